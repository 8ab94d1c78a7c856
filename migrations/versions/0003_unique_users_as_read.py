"""users are unique as people read them: username_key and email_key

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 02:30:00.000000

Adds ``username_key`` and ``email_key`` (NFC, case-folded, without variation selectors: the rule
of project/users/names.py, copied here so that this migration keeps its meaning when that module
changes), fills them for the users already there, stores their username and email in NFC (the
same text to a reader), and makes both keys unique.

Users that already exist and read as the same (``Bob`` and ``bob``, ``Alice@Example.com`` and
``alice@example.com``, ``é`` as one character and as ``e`` plus an accent) make the upgrade fail
before it changes anything, with a message that lists them by id; rename or delete all but one
of each, then upgrade again. Downgrading drops the two columns; the NFC forms stay, as they read
the same.
"""
from alembic import op
import sqlalchemy as sa
import unicodedata

from project.errors import UserExists


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

KEY_LENGTH = 384
VARIATION_SELECTORS = frozenset([*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])
users = sa.table(
    'users',
    sa.column('id', sa.Integer),
    sa.column('username', sa.String),
    sa.column('email', sa.String),
    sa.column('username_key', sa.String),
    sa.column('email_key', sa.String),
)


def comparison_key(text):
    kept = ''.join(c for c in unicodedata.normalize('NFC', text) if ord(c) not in VARIATION_SELECTORS)
    return unicodedata.normalize('NFC', kept.casefold())


def duplicates(rows, field):
    """``field 'a' (id 1) = 'A' (id 7)`` for every group of users with the same key."""
    groups = {}
    for row in rows:
        groups.setdefault(comparison_key(row[field]), []).append(row)
    return [
        f"{field} " + ' = '.join(f"{row[field]!r} (id {row['id']})" for row in group)
        for group in groups.values() if len(group) > 1
    ]


def upgrade():
    connection = op.get_bind()
    rows = [dict(row) for row in connection.execute(sa.select(users.c.id, users.c.username, users.c.email)).mappings()]
    found = duplicates(rows, 'username') + duplicates(rows, 'email')
    if found:  # checked before any change: SQLite would keep an ALTER made before a failure
        raise UserExists(
            f"{len(found)} groups of existing users read as the same user, nothing was migrated: " + '; '.join(found),
            hint='rename or delete all but one user of each group (appctl user delete ID), then run db upgrade again',
        )
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('username_key', sa.String(length=KEY_LENGTH), nullable=True))
        batch.add_column(sa.Column('email_key', sa.String(length=KEY_LENGTH), nullable=True))
    if rows:
        connection.execute(
            users.update().where(users.c.id == sa.bindparam('user_id')).values(
                username=sa.bindparam('nfc_username'), email=sa.bindparam('nfc_email'),
                username_key=sa.bindparam('new_username_key'), email_key=sa.bindparam('new_email_key'),
            ),
            [
                {
                    'user_id': row['id'],
                    'nfc_username': unicodedata.normalize('NFC', row['username']),
                    'nfc_email': unicodedata.normalize('NFC', row['email']),
                    'new_username_key': comparison_key(row['username']),
                    'new_email_key': comparison_key(row['email']),
                }
                for row in rows
            ],
        )
    with op.batch_alter_table('users') as batch:
        batch.alter_column('username_key', existing_type=sa.String(length=KEY_LENGTH), nullable=False)
        batch.alter_column('email_key', existing_type=sa.String(length=KEY_LENGTH), nullable=False)
        batch.create_unique_constraint('uq_users_username_key', ['username_key'])
        batch.create_unique_constraint('uq_users_email_key', ['email_key'])


def downgrade():
    with op.batch_alter_table('users') as batch:
        batch.drop_constraint('uq_users_email_key', type_='unique')
        batch.drop_constraint('uq_users_username_key', type_='unique')
        batch.drop_column('email_key')
        batch.drop_column('username_key')
