"""Users: the blueprint, the model, the service and the demo task.

The blueprint (and with it the model and SQLAlchemy) is imported on first use, so importing
``project.users.tasks`` to publish a job stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from project.users.views import users_blueprint

__all__ = ["users_blueprint"]


def __getattr__(name: str) -> Any:
    """``users_blueprint``, imported on first use."""
    if name == "users_blueprint":
        from project.users.views import users_blueprint

        return users_blueprint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
