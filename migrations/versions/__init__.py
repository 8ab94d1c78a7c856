"""Alembic revisions, applied by ``appctl db upgrade``."""
