"""users get a password hash and an active flag

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 04:00:00.000000

Adds ``password_hash`` (nullable: existing users have no password until one is set) and ``active``
(not null, true for every existing user and, by the server's default, for every new one). Batch
mode, so SQLite rebuilds the table instead of failing on ALTER. Downgrading drops both columns and
keeps every user; the passwords are lost with their column.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch.add_column(sa.Column('password_hash', sa.String(length=256), nullable=True))


def downgrade():
    with op.batch_alter_table('users') as batch:
        batch.drop_column('password_hash')
        batch.drop_column('active')
