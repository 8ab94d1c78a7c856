"""Users: the blueprint, the model, the service and the demo task."""

from project.users.views import users_blueprint

__all__ = ["users_blueprint"]
