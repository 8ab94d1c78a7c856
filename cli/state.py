"""Per-invocation state: global options and the factory-built app, loaded once on demand."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from flask import Flask

F = TypeVar("F", bound=Callable[..., Any])


class AppState:
    """Global options and the lazily built Flask app."""

    def __init__(self) -> None:
        self.debug = False
        self._app: Flask | None = None

    def load_app(self, orm: bool = True, celery: bool = True) -> Flask:
        """Build the app the first time a command needs it: ``create_app()``, or only the part it uses
        (without ``orm`` the publisher app, without ``celery`` the database app)."""
        if self._app is None:
            from project import create_app, create_database_app, create_publisher_app

            if not celery:
                self._app = create_database_app()
            else:
                self._app = create_app() if orm else create_publisher_app()
        return self._app


pass_state = click.make_pass_decorator(AppState, ensure=True)


def with_app(
    command: F | None = None, *, orm: Callable[[Mapping[str, Any]], bool] | None = None, celery: bool = True
) -> Any:
    """Run ``command`` inside the app context; database failures become ServiceUnavailable.

    ``orm(params)`` false: the command only publishes jobs, and the publisher app (no ORM) will do.
    ``celery`` false: the command uses the database alone, and the database app (no Celery) will do.
    """
    if command is None:
        return functools.partial(with_app, orm=orm, celery=celery)

    @functools.wraps(command)
    def run_in_app_context(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        app = ctx.ensure_object(AppState).load_app(orm is None or orm(kwargs), celery)
        ctx.with_resource(app.app_context())
        from project.failures import database_errors

        if "sqlalchemy" in app.extensions:
            from project.extensions import connections_released

            ctx.with_resource(connections_released())  # exits first, inside the app context

        with database_errors(app.config["DATABASE_URL"]):
            return command(*args, **kwargs)

    return run_in_app_context
