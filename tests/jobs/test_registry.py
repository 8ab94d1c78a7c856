"""project/jobs/registry.py: listing tasks, resolving names, checking arguments before sending."""

from __future__ import annotations

from typing import Any

import pytest

from project.errors import InvalidInput, NotFound
from project.jobs.registry import check_arguments, describe_tasks, registered_tasks, resolve_task


def test_only_the_apps_own_tasks_are_listed(app: Any) -> None:
    assert list(registered_tasks()) == ["project.users.tasks.divide"]


def test_describe(app: Any) -> None:
    [divide] = describe_tasks()
    assert divide["short_name"] == "divide"
    assert divide["signature"] == "(x: float, y: float) -> float"
    assert divide["doc"].startswith("Sleep DIVIDE_DELAY seconds")


@pytest.mark.parametrize("name", ["divide", "project.users.tasks.divide"])
def test_resolve_full_and_short_names(app: Any, name: str) -> None:
    assert resolve_task(name).name == "project.users.tasks.divide"


@pytest.mark.parametrize("name", ["nope", "tasks.divide", "celery.ping", "celery.backend_cleanup", ""])
def test_unknown_and_builtin_names_are_not_found(app: Any, name: str) -> None:
    with pytest.raises(NotFound):
        resolve_task(name)


def test_an_ambiguous_short_name_is_invalid(app: Any) -> None:
    celery = app.extensions["celery"]

    @celery.task(name="project.other.divide", shared=False)  # only on this test's app
    def other_divide(a: int) -> int:
        return a

    with pytest.raises(InvalidInput, match=r"ambiguous: project\.other\.divide, project\.users\.tasks\.divide"):
        resolve_task("divide")
    assert resolve_task("project.other.divide").name == "project.other.divide"


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [([1, 2], {}), ([1], {"y": 2}), ([], {"x": 1, "y": 2}), (["a", None], {})],
)
def test_arguments_that_fit(app: Any, args: list[Any], kwargs: dict[str, Any]) -> None:
    check_arguments(resolve_task("divide"), args, kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [([], {}), ([1], {}), ([1, 2, 3], {}), ([1, 2], {"z": 3}), ([1], {"x": 2})],
)
def test_arguments_that_do_not_fit(app: Any, args: list[Any], kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput, match=r"^arguments do not fit divide\(x: float, y: float\) -> float: "):
        check_arguments(resolve_task("divide"), args, kwargs)
