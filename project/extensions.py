"""Unbound extension objects, bound to an app by ``create_app``."""

from collections.abc import Iterator
from contextlib import contextmanager

from flask_sqlalchemy import SQLAlchemy

from project.lazy_migrate import LazyMigrate

db = SQLAlchemy()
migrate = LazyMigrate()  # Flask-Migrate (and Alembic) load only when a migration runs


@contextmanager
def connections_released() -> Iterator[None]:
    """Close the current app's pooled database connections when the block ends (one CLI run)."""
    try:
        yield
    finally:
        for engine in db.engines.values():
            engine.dispose()
