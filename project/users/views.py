"""HTTP views over the same service functions the CLI uses."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from project.users import service

users_blueprint = Blueprint("users", __name__, url_prefix="/users")


@users_blueprint.get("/")
def list_users() -> ResponseReturnValue:
    """All users as JSON, in id order."""
    return jsonify(list(service.list_users()))
