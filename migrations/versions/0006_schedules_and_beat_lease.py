"""schedules kept in the database, the beat lease, and the schedule a job ran for

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 06:00:00.000000

Adds ``schedules`` (one row per periodic job: task, arguments, a cron spec or an interval, its zone,
queue, whether it is enabled, when it runs next and its last run), ``beat_leases`` (the one row that
says which ``appctl beat`` may send runs, and until when), and ``jobs.schedule``, the schedule a job
is a run of. Downgrading drops them all.
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'schedules',
        sa.Column('name', sa.String(length=255), primary_key=True),
        sa.Column('task', sa.String(length=255), nullable=False),
        sa.Column('args', sa.JSON(), nullable=True),
        sa.Column('kwargs', sa.JSON(), nullable=True),
        sa.Column('cron', sa.String(length=255), nullable=True),
        sa.Column('every', sa.Float(), nullable=True),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column('queue', sa.String(length=255), nullable=True),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('anchor', sa.DateTime(timezone=True), nullable=False),
        sa.Column('next_run_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_job_id', sa.String(length=255), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_schedules_next_run_at', 'schedules', ['next_run_at'])
    op.create_table(
        'beat_leases',
        sa.Column('name', sa.String(length=64), primary_key=True),
        sa.Column('holder', sa.String(length=255), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('schedule', sa.String(length=255), nullable=True))
    op.create_index('ix_jobs_schedule', 'jobs', ['schedule'])


def downgrade():
    op.drop_index('ix_jobs_schedule', table_name='jobs')
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('schedule')
    op.drop_table('beat_leases')
    op.drop_index('ix_schedules_next_run_at', table_name='schedules')
    op.drop_table('schedules')
