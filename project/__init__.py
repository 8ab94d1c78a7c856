"""The application factory: builds the Flask app with its database, migrations and Celery.

``create_app`` builds all of it (the chapter's factory: ``app.py``, ``flask``, ``celery -A``, workers).
A command builds only what it uses, from the same pieces: ``task send`` the publisher app (config and
Celery, no ORM), the user commands the database app (config and the ORM, no Celery). ``db``,
``migrate`` (project/extensions.py) and Celery are imported the first time a factory needs them:
SQLAlchemy costs about as much as the rest of a send, and Celery a third of a user command.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from project.extensions import db, migrate

__all__ = ["create_app", "create_database_app", "create_publisher_app", "db", "migrate"]


def _migrations_dir() -> Path:
    """The Alembic folder: the repository's ``migrations/``, installed as ``appctl_migrations`` (pyproject.toml).

    The package is found without being imported, from an editable checkout and from a wheel alike;
    a checkout put on ``sys.path`` without installing falls back to the folder next to ``project/``.
    """
    spec = find_spec("appctl_migrations")
    if spec is None or not spec.submodule_search_locations:
        return Path(__file__).resolve().parent.parent / "migrations"
    return Path(next(iter(spec.submodule_search_locations)))


MIGRATIONS_DIR = _migrations_dir()  # the one place that says where the migrations are


def __getattr__(name: str) -> Any:
    """``db`` and ``migrate``, imported on first use."""
    if name in ("db", "migrate"):
        from project import extensions

        return getattr(extensions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def create_app(config_name: str | None = None) -> Flask:
    """Build the app for ``config_name`` (default: ``FLASK_CONFIG``, else development)."""
    app = _create_core_app(config_name)
    _add_celery(app)
    _add_orm(app)
    return app


def create_publisher_app(config_name: str | None = None) -> Flask:
    """The app without the ORM, for commands that only publish jobs: config and Celery.

    It records sent jobs through the database driver; when the URL needs SQLAlchemy, it is complete.
    """
    from project.jobs.history.write import HISTORY
    from project.jobs.history.write_driver import DriverHistory

    app = _create_core_app(config_name)
    _add_celery(app)
    driver_history = DriverHistory.for_config(app.config)
    if driver_history is None:
        _add_orm(app)
    else:
        app.extensions[HISTORY] = driver_history
        app.teardown_appcontext(driver_history.close)
    return app


def create_database_app(config_name: str | None = None) -> Flask:
    """The app without Celery, for commands that use only the users' tables: config and the ORM.

    No Celery, no job history, no migrations, no blueprint: a user command imports and configures
    none of them (``create_app`` still builds them all for the chapter's commands and the workers).
    """
    from project.extensions import init_database

    app = _create_core_app(config_name)
    init_database(app)
    return app


def _add_celery(app: Flask) -> None:
    """Celery, configured from ``app.config`` (project/celery_utils.py), for the apps that send or run jobs."""
    from project.celery_utils import celery_init_app

    celery_init_app(app)


def _add_orm(app: Flask) -> None:
    """What the publisher app leaves out: Flask-SQLAlchemy, Flask-Migrate, the users blueprint, the shell.

    Its Celery app also becomes Celery's default, which ``shared_task`` proxies and workers whose
    pool threads run tasks (``-P threads``) resolve to. The publisher app publishes through its own
    Celery app only, and leaves the default to the whole app.
    """
    from project.extensions import db, init_database, migrate
    from project.jobs.history.write import HISTORY
    from project.jobs.history.write_orm import OrmHistory
    from project.users import users_blueprint

    _import_models()

    init_database(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    app.extensions[HISTORY] = OrmHistory()
    app.register_blueprint(users_blueprint)
    app.shell_context_processor(lambda: {"app": app, "db": db})
    app.extensions["celery"].set_default()


def _import_models() -> None:
    """Every model module, so that ``db.metadata`` holds every table the migrations create.

    Flask-Migrate's autogenerate (``flask db migrate``, ``flask db check``) compares the database
    with that metadata: a table whose model is not imported here looks like one to drop.
    """
    import project.jobs.history.models
    import project.schedules.models
    import project.users.models  # noqa: F401


def _create_core_app(config_name: str | None) -> Flask:
    """The Flask app with its configuration and data directory."""
    from project.config import config, config_name_from_environ  # here: importing project stays light
    from project.datadir import prepare_data_directory
    from project.errors import ConfigError

    config_name = config_name or config_name_from_environ()
    if config_name not in config:
        names = ", ".join(sorted(config))
        raise ConfigError(f"unknown config {config_name!r}", hint=f"FLASK_CONFIG must be one of: {names}")
    from flask import Flask

    app = Flask(__name__)
    app.config.from_mapping(config[config_name].from_environ(os.environ))
    prepare_data_directory(app.config)
    return app
