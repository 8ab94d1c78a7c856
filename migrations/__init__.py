"""The Alembic environment and versions; installed as the ``appctl_migrations`` package (pyproject.toml)."""
