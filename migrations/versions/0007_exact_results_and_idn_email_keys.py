"""job results kept as written on SQLite, email keys that read a domain's A-labels in Unicode, and
the broker of each worker heartbeat

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 22:00:00.000000

On SQLite, ``jobs.result`` becomes a TEXT column: declared JSON, it had numeric affinity, which
stored the result ``2.0`` as ``2`` and a 20-digit integer as a float (the table is rebuilt; results
already stored keep the value they were stored as). PostgreSQL's JSON column is unchanged.

``users.email_key`` is computed again for every email whose domain has an A-label (``xn--…``),
read as the Unicode it encodes (the rule of project/users/names.py, copied here so that this
migration keeps its meaning when that module changes): ``ü@xn--exmple-cua.com`` and
``ü@exämple.com`` are one mailbox. Users that already exist with two such spellings make the
upgrade fail before it changes anything, with a message that lists them by id; change or delete
all but one of each, then upgrade again.

``worker_heartbeats.broker`` says which broker a worker consumes (transport, host, port, virtual
host; no credentials), so ``appctl status`` does not count a worker on another broker as serving.

Downgrading drops ``broker``, keeps the email keys (they still tell users apart) and makes the SQLite
result column JSON again.
"""
from alembic import op
import sqlalchemy as sa
import unicodedata

from project.errors import UserExists


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

VARIATION_SELECTORS = frozenset([*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])
users = sa.table('users', sa.column('id', sa.Integer), sa.column('email', sa.String), sa.column('email_key', sa.String))


def comparison_key(text):
    kept = ''.join(c for c in unicodedata.normalize('NFC', text) if ord(c) not in VARIATION_SELECTORS)
    return unicodedata.normalize('NFC', kept.casefold())


def u_label(label):
    if label[:4].lower() != 'xn--' or not label.isascii():
        return label
    try:
        decoded = label[4:].encode('ascii').decode('punycode')
    except UnicodeError:
        return label
    return label if decoded.isascii() else decoded


def email_key(email):
    local, at, domain = email.rpartition('@')
    if 'xn--' in domain.lower():
        domain = '.'.join(u_label(label) for label in domain.split('.'))
    return comparison_key(f'{local}{at}{domain}')


def upgrade():
    connection = op.get_bind()
    rows = connection.execute(sa.select(users.c.id, users.c.email, users.c.email_key)).mappings().all()
    changed = {row['id']: email_key(row['email']) for row in rows if email_key(row['email']) != row['email_key']}
    groups = {}
    for row in rows:
        groups.setdefault(changed.get(row['id'], row['email_key']), []).append(row)
    found = [
        'email ' + ' = '.join(f"{row['email']!r} (id {row['id']})" for row in group)
        for group in groups.values() if len(group) > 1
    ]
    if found:  # checked before any change: SQLite would keep a change made before a failure
        raise UserExists(
            f"{len(found)} group(s) of existing users have one mailbox, nothing was migrated: " + '; '.join(found),
            hint='change the email of, or delete, all but one user of each group (appctl user delete ID), '
            'then run db upgrade again',
        )
    if changed:
        connection.execute(
            users.update().where(users.c.id == sa.bindparam('user_id')).values(email_key=sa.bindparam('new_key')),
            [{'user_id': user_id, 'new_key': key} for user_id, key in changed.items()],
        )
    if connection.dialect.name == 'sqlite':
        with op.batch_alter_table('jobs', recreate='always') as batch:
            batch.alter_column('result', existing_type=sa.JSON(), type_=sa.Text(), existing_nullable=True)
    op.add_column('worker_heartbeats', sa.Column('broker', sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table('worker_heartbeats') as batch:
        batch.drop_column('broker')
    if op.get_bind().dialect.name == 'sqlite':
        with op.batch_alter_table('jobs', recreate='always') as batch:
            batch.alter_column('result', existing_type=sa.Text(), type_=sa.JSON(), existing_nullable=True)
