"""Per-invocation state: global options and the factory-built app, loaded once on demand."""

from __future__ import annotations

import functools
from collections.abc import Callable
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

    def load_app(self) -> Flask:
        """Build the app with ``create_app()`` the first time a command needs it."""
        if self._app is None:
            from project import create_app

            self._app = create_app()
        return self._app


pass_state = click.make_pass_decorator(AppState, ensure=True)


def with_app(command: F) -> F:
    """Run ``command`` inside the app context; database failures become ServiceUnavailable."""

    @functools.wraps(command)
    def run_in_app_context(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        app = ctx.ensure_object(AppState).load_app()
        ctx.with_resource(app.app_context())
        from project.extensions import connections_released
        from project.failures import database_errors

        ctx.with_resource(connections_released())  # exits first, inside the app context

        with database_errors(app.config["DATABASE_URL"]):
            return command(*args, **kwargs)

    return run_in_app_context  # type: ignore[return-value]
