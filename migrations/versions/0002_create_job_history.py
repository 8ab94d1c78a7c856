"""create the job history and worker heartbeat tables

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 06:00:00.000000

Only CREATE TABLE and CREATE INDEX: the same statements work on SQLite (batch mode is
needed for ALTER only) and on PostgreSQL.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'jobs',
        sa.Column('id', sa.String(length=255), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('args', sa.JSON(), nullable=True),
        sa.Column('kwargs', sa.JSON(), nullable=True),
        sa.Column('queue', sa.String(length=255), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('result', sa.JSON(), nullable=True),
        sa.Column('error_type', sa.String(length=255), nullable=True),
        sa.Column('error_message', sa.Text(), nullable=True),
        sa.Column('worker', sa.String(length=255), nullable=True),
        sa.Column('retries', sa.Integer(), server_default='0', nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('terminate', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_jobs_name', 'jobs', ['name'])
    op.create_index('ix_jobs_state', 'jobs', ['state'])
    op.create_index('ix_jobs_sent_at', 'jobs', ['sent_at'])
    op.create_table(
        'worker_heartbeats',
        sa.Column('hostname', sa.String(length=255), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=True),
        sa.Column('queues', sa.JSON(), nullable=True),
        sa.Column('active', sa.JSON(), nullable=True),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('hostname'),
    )
    op.create_index('ix_worker_heartbeats_expires_at', 'worker_heartbeats', ['expires_at'])


def downgrade():
    op.drop_index('ix_worker_heartbeats_expires_at', table_name='worker_heartbeats')
    op.drop_table('worker_heartbeats')
    op.drop_index('ix_jobs_sent_at', table_name='jobs')
    op.drop_index('ix_jobs_state', table_name='jobs')
    op.drop_index('ix_jobs_name', table_name='jobs')
    op.drop_table('jobs')
