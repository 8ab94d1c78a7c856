"""Flask-Migrate, imported only when a migration runs.

``import flask_migrate`` pulls in Alembic and costs more than a whole ``appctl user list``, so
``LazyMigrate.init_app`` only records its arguments. The real ``Migrate.init_app`` runs the
first time anything reads ``app.extensions["migrate"]`` (``appctl db …``, ``flask db …``,
Alembic's env.py), and ``flask db`` is listed at once but loaded when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from flask import Flask


class LazyMigrate:
    """Stands in for ``flask_migrate.Migrate`` with the same ``init_app`` and ``configure``."""

    def __init__(self) -> None:
        self._migrate: Any = None
        self._callbacks: list[Callable[[Any], Any]] = []

    @property
    def real(self) -> Any:
        """The ``flask_migrate.Migrate`` behind this object, created on first use."""
        if self._migrate is None:
            from flask_migrate import Migrate

            self._migrate = Migrate()
            self._migrate.configure_callbacks.extend(self._callbacks)
        return self._migrate

    def init_app(self, app: Flask, db: Any = None, directory: str | None = None, **kwargs: Any) -> None:
        """Record the arguments of ``Migrate.init_app``; it runs when the app first needs migrations."""
        command = kwargs.get("command") or "db"
        app.extensions["migrate"] = _PendingMigrateConfig(self, app, (db, directory), kwargs)
        app.cli.add_command(_LazyCommand(command, help="Perform database migrations."))

    def configure(self, callback: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """Register an Alembic config callback, like ``Migrate.configure``."""
        self._callbacks.append(callback)
        if self._migrate is not None:
            self._migrate.configure_callbacks.append(callback)
        return callback

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class _PendingMigrateConfig:
    """``app.extensions["migrate"]`` until first read: then the real one replaces it."""

    def __init__(self, lazy: LazyMigrate, app: Flask, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._bind = lambda: lazy.real.init_app(app, *args, **kwargs)
        self._app = app

    def __getattr__(self, name: str) -> Any:
        if self._app.extensions.get("migrate") is self:
            self._bind()
        return getattr(self._app.extensions["migrate"], name)


class _LazyCommand(click.Command):
    """``flask db``: listed in ``flask --help``; Flask-Migrate's group is loaded when it runs."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        from flask_migrate.cli import db

        return db.make_context(info_name, args, parent=parent, **extra)
