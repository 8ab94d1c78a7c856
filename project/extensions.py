"""Unbound extension objects, bound to an app by ``create_app``."""

from flask_sqlalchemy import SQLAlchemy

from project.lazy_migrate import LazyMigrate

db = SQLAlchemy()
migrate = LazyMigrate()  # Flask-Migrate (and Alembic) load only when a migration runs
