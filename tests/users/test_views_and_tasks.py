"""project/users/views.py and tasks.py: the blueprint serves the same service; divide's own logic."""

from __future__ import annotations

from typing import Any

import pytest

from project.users.service import create_user
from project.users.tasks import divide


def test_users_blueprint_lists_users_as_json(app: Any) -> None:
    create_user("alice", "alice@example.com")
    response = app.test_client().get("/users/")
    assert response.status_code == 200
    assert response.get_json() == [{"id": 1, "username": "alice", "email": "alice@example.com", "active": True}]


def test_divide_sleeps_for_the_configured_delay(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("project.users.tasks.time.sleep", slept.append)
    app.config["DIVIDE_DELAY"] = 0.25
    assert divide.apply(args=(1, 2)).get() == 0.5  # eager: the task's own logic only (the worker tests run it for real)
    assert slept == [0.25]


def test_divide_by_zero_raises(app: Any) -> None:
    with pytest.raises(ZeroDivisionError):
        divide.apply(args=(1, 0)).get()


def test_divide_is_registered_under_the_chapters_name(app: Any) -> None:
    assert divide.name == "project.users.tasks.divide"
    assert "project.users.tasks.divide" in app.extensions["celery"].tasks
