"""The application factory: builds the Flask app with its database, migrations and Celery."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from sqlalchemy import event

from project.celery_utils import celery_init_app
from project.config import config, config_name_from_environ
from project.datadir import prepare_data_directory
from project.errors import ConfigError
from project.extensions import db, migrate
from project.sqlite import use_write_ahead_log
from project.urls import mask_password
from project.users import users_blueprint

__all__ = ["create_app", "db", "migrate"]

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def create_app(config_name: str | None = None) -> Flask:
    """Build the app for ``config_name`` (default: ``FLASK_CONFIG``, else development)."""
    config_name = config_name or config_name_from_environ()
    if config_name not in config:
        names = ", ".join(sorted(config))
        raise ConfigError(f"unknown config {config_name!r}", hint=f"FLASK_CONFIG must be one of: {names}")
    app = Flask(__name__)
    app.config.from_mapping(config[config_name].from_environ(os.environ))
    prepare_data_directory(app.config)
    init_database(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    celery_init_app(app)
    app.register_blueprint(users_blueprint)
    app.shell_context_processor(lambda: {"app": app, "db": db})
    return app


def init_database(app: Flask) -> None:
    """Bind ``db`` to the app; a URL whose driver is not installed is a configuration error."""
    try:
        db.init_app(app)
    except ModuleNotFoundError as exc:
        hint = "pip install 'appctl[postgres]'" if "psycopg" in str(exc) else "install the database driver"
        url = mask_password(app.config["DATABASE_URL"])
        raise ConfigError(f"DATABASE_URL {url} needs the Python module {exc.name!r}", hint=hint) from None
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            event.listen(db.engine, "connect", use_write_ahead_log)
