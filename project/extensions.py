"""Unbound extension objects, bound to an app by ``create_app``."""

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event

from project.failures import missing_driver
from project.lazy_migrate import LazyMigrate
from project.sqlite import prepare_connection
from project.urls import parse_url

db = SQLAlchemy()
migrate = LazyMigrate()  # Flask-Migrate (and Alembic) load only when a migration runs
STREAM_BATCH = 1000  # rows fetched per round trip when a listing streams (``yield_per``)


def init_database(app: Flask) -> None:
    """Bind ``db`` to the app; a URL whose driver is not installed is a configuration error."""
    try:
        db.init_app(app)
    except ModuleNotFoundError as exc:
        raise missing_driver(app.config["DATABASE_URL"], exc) from None
    if parse_url(app.config["SQLALCHEMY_DATABASE_URI"]).is_sqlite:
        with app.app_context():
            event.listen(db.engine, "connect", prepare_connection)


@contextmanager
def connections_released() -> Iterator[None]:
    """Close the current app's pooled database connections when the block ends (one CLI run)."""
    try:
        yield
    finally:
        for engine in db.engines.values():
            engine.dispose()
