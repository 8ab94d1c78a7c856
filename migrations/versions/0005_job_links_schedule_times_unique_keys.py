"""jobs remember retries, due and expiry times, the revoke reason and a unique-send key

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 05:30:00.000000

Adds to ``jobs``: ``retry_of`` (the job this one sends again) and ``retried_by`` (the newest job
that sent this one again), ``eta`` and ``expires`` (when a scheduled job is due, when it expires),
``revoked_reason`` (for instance ``purged``), and ``unique_key`` with a partial unique index over
the jobs not finished, so that two processes racing cannot both send the same unique job. Batch
mode, so SQLite rebuilds the table instead of failing on ALTER. Downgrading drops them all.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

LIVE = sa.text("state IN ('PENDING', 'UNKNOWN', 'STARTED', 'RETRY')")


def upgrade():
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('retry_of', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('retried_by', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('eta', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('expires', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('revoked_reason', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('unique_key', sa.String(length=255), nullable=True))
    op.create_index('ix_jobs_retry_of', 'jobs', ['retry_of'])
    op.create_index('ix_jobs_eta', 'jobs', ['eta'])
    op.create_index(
        'ix_jobs_unique_key_live', 'jobs', ['unique_key'], unique=True, sqlite_where=LIVE, postgresql_where=LIVE
    )


def downgrade():
    op.drop_index('ix_jobs_unique_key_live', table_name='jobs')
    op.drop_index('ix_jobs_eta', table_name='jobs')
    op.drop_index('ix_jobs_retry_of', table_name='jobs')
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('unique_key')
        batch.drop_column('revoked_reason')
        batch.drop_column('expires')
        batch.drop_column('eta')
        batch.drop_column('retried_by')
        batch.drop_column('retry_of')
