"""The core flow on real services: PostgreSQL for the data, Redis as broker and result backend.

The CLI and the worker run as processes, as in production. The PostgreSQL schema is shared by the
session, so names here are unique and no test assumes an empty table.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.conftest import APPCTL, run_appctl
from tests.processes import worker_process

pytestmark = pytest.mark.services


@pytest.fixture
def services_env(env: dict[str, str], pg_url: str, redis_url: str) -> dict[str, str]:
    """The test's environment pointed at PostgreSQL and Redis, migrated."""
    settings = {**env, "DATABASE_URL": pg_url, "CELERY_BROKER_URL": redis_url, "CELERY_RESULT_BACKEND": redis_url}
    upgraded = run_appctl("db", "upgrade", env=settings)
    assert upgraded.returncode == 0, upgraded.stderr
    return settings


def test_users_on_postgresql(services_env: dict[str, str]) -> None:
    name = f"pg-{uuid.uuid4().hex[:8]}"
    added = run_appctl("user", "add", name, f"{name}@example.com", "-o", "json", env=services_env)
    assert added.returncode == 0, added.stderr
    user = json.loads(added.stdout)
    assert (user["username"], user["email"]) == (name, f"{name}@example.com")
    taken = run_appctl("user", "add", name, f"other-{name}@example.com", env=services_env)
    assert (taken.returncode, taken.stdout, taken.stderr) == (4, "", f"Error: username '{name}' is already taken\n")
    bad = run_appctl("user", "add", f"x{name}", "not-an-email", env=services_env)
    assert (bad.returncode, bad.stdout) == (65, "")
    listed = run_appctl("user", "list", "--search", name, "-o", "json", env=services_env)
    assert json.loads(listed.stdout) == [user]


@pytest.mark.slow
def test_send_and_wait_with_a_worker_process(services_env: dict[str, str], tmp_path: Path) -> None:
    command = [APPCTL, "worker", "--loglevel=info", "--concurrency=1"]
    with worker_process(command, services_env, tmp_path / "worker.log"):
        sent = run_appctl("task", "send", "divide", "1", "2", env=services_env)
        assert (sent.returncode, len(sent.stdout), sent.stderr) == (0, 37, "")
        waited = run_appctl("result", "wait", sent.stdout.strip(), "--timeout", "30", env=services_env)
        assert (waited.returncode, waited.stdout, waited.stderr) == (0, "0.5\n", "")
        failed = run_appctl("task", "send", "divide", "1", "0", "--wait", "--timeout", "30", env=services_env)
        assert (failed.returncode, failed.stdout) == (1, "")
        assert "ZeroDivisionError: division by zero" in failed.stderr
    made_up = run_appctl("result", "wait", "made-up-id", "--timeout", "30", env=services_env)
    assert (made_up.returncode, made_up.stdout) == (3, "")
