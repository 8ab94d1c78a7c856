"""Each command imports only what it uses; the chapter's `flask db` still works with a lazy Migrate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_appctl

ROOT = Path(__file__).resolve().parents[2]
MIGRATION_MODULES = ("alembic", "flask_migrate")
BROKER_MODULES = ("kombu.transport.sqlalchemy", "kombu.transport.redis", "celery.backends.redis")
WORKER_MODULES = ("celery.worker", "project.jobs.heartbeat")


def modules_after(args: list[str], env: dict[str, str]) -> set[str]:
    """The modules a fresh interpreter has imported after running ``appctl ARGS``."""
    script = (
        "import sys\n"
        "from cli import cli\n"
        f"try:\n    cli({args!r}, prog_name='appctl')\nexcept SystemExit as exit:\n    assert not exit.code, exit\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(done.stderr.strip().splitlines()[-1].split())


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


@pytest.fixture
def migrated(env: dict[str, str]) -> dict[str, str]:
    assert run_appctl("db", "upgrade", env=env).returncode == 0
    return env


DATA_COMMANDS = [["user", "list"], ["user", "add", "ann", "ann@example.com"], ["task", "list"]]


@pytest.mark.parametrize("args", DATA_COMMANDS, ids=" ".join)
def test_data_commands_load_no_migration_broker_or_worker_code(migrated: dict[str, str], args: list[str]) -> None:
    modules = modules_after(args, migrated)
    assert loaded(modules, MIGRATION_MODULES + BROKER_MODULES + WORKER_MODULES) == []


@pytest.mark.parametrize("args", DATA_COMMANDS, ids=" ".join)
def test_with_redis_results_data_commands_load_no_result_backend(migrated: dict[str, str], args: list[str]) -> None:
    redis = "redis://127.0.0.1:1/0"  # never connected to: these commands do not use it
    modules = modules_after(args, {**migrated, "CELERY_BROKER_URL": redis, "CELERY_RESULT_BACKEND": redis})
    assert loaded(modules, ("celery.backends.database", *BROKER_MODULES)) == []


# A user command uses the users' table alone: no Celery, kombu or job history, and an address of the
# common shape needs no email_validator (project/users/service.py, SPECIAL_USE_DOMAINS).
NOT_FOR_USERS = ("celery", "kombu", "project.jobs.history", "project.celery_utils", "email_validator")
USER_COMMANDS = [
    ["user", "list"],
    ["user", "show", "ann"],
    ["user", "add", "bob", "bob@example.com"],
    ["user", "update", "ann", "--email", "ann@example.org"],
    ["user", "export"],
    ["user", "import", "users.csv"],
    ["user", "delete", "ann", "--yes"],
]


@pytest.mark.parametrize("args", USER_COMMANDS, ids=" ".join)
def test_user_commands_import_and_configure_no_celery(
    migrated: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    assert run_appctl("user", "add", "ann", "ann@example.com", env=migrated).returncode == 0
    (tmp_path / "users.csv").write_text("username,email\ncy,cy@example.com\n")
    args = [str(tmp_path / arg) if arg == "users.csv" else arg for arg in args]
    modules = modules_after(args, {**migrated, "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"})
    assert loaded(modules, NOT_FOR_USERS + MIGRATION_MODULES) == []


def test_task_send_loads_no_migration_or_result_backend_code(migrated: dict[str, str]) -> None:
    modules = modules_after(["task", "send", "divide", "1", "2"], migrated)
    assert loaded(modules, (*MIGRATION_MODULES, "celery.backends.redis", *WORKER_MODULES)) == []
    assert "kombu.transport.sqlalchemy" in modules  # the embedded broker it published to


def test_task_send_to_redis_loads_no_sqlalchemy(migrated: dict[str, str], redis_url: str) -> None:
    env = {**migrated, "CELERY_BROKER_URL": redis_url, "CELERY_RESULT_BACKEND": redis_url}
    modules = modules_after(["task", "send", "divide", "1", "2"], env)
    assert loaded(modules, ("sqlalchemy", "flask_sqlalchemy", *MIGRATION_MODULES, *WORKER_MODULES)) == []
    assert "kombu.transport.redis" in modules


@pytest.mark.parametrize("by", ["filter", "id"])
def test_task_retry_to_redis_loads_no_sqlalchemy(migrated: dict[str, str], redis_url: str, by: str) -> None:
    """A retry reads and writes the history through the database driver, as a send does."""
    import sqlite3

    import redis

    env = {**migrated, "CELERY_BROKER_URL": redis_url, "CELERY_RESULT_BACKEND": redis_url}
    failed = "0f1e2d3c-0000-4000-8000-000000000001"
    with sqlite3.connect(Path(env["APPCTL_DATA_DIR"]) / "app.sqlite") as database:
        database.execute(
            "INSERT INTO jobs (id, state, name, args, kwargs, queue, sent_at, retries) "
            "VALUES (?, 'FAILURE', 'project.users.tasks.divide', '[1, 0]', '{}', ?, '2026-01-01 00:00:00.000000', 0)",
            (failed, env["APPCTL_QUEUE"]),
        )
    args = ["task", "retry", "--state", "FAILURE", "--yes"] if by == "filter" else ["task", "retry", failed]
    try:
        modules = modules_after(args, env)
        assert redis.Redis.from_url(redis_url).llen(env["APPCTL_QUEUE"]) == 1  # the copy was sent
    finally:
        redis.Redis.from_url(redis_url).delete(env["APPCTL_QUEUE"])
    assert loaded(modules, ("sqlalchemy", "flask_sqlalchemy", *MIGRATION_MODULES, *WORKER_MODULES)) == []
    with sqlite3.connect(Path(env["APPCTL_DATA_DIR"]) / "app.sqlite") as database:
        [(copy,)] = database.execute("SELECT retried_by FROM jobs WHERE id = ?", (failed,)).fetchall()
        [(linked,)] = database.execute("SELECT retry_of FROM jobs WHERE id = ?", (copy,)).fetchall()
    assert linked == failed


def test_db_commands_load_flask_migrate(migrated: dict[str, str]) -> None:
    assert "flask_migrate" in modules_after(["db", "status"], migrated)


def flask(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The chapter's ``FLASK_APP=app.py flask …``, run from the project directory."""
    command = [sys.executable, "-m", "flask", *args]
    chapter_env = {**env, "FLASK_APP": "app.py"}
    return subprocess.run(command, env=chapter_env, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_chapter_flask_db_commands_work(env: dict[str, str]) -> None:
    assert "  db " in flask("--help", env=env).stdout
    upgraded = flask("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert flask("db", "current", env=env).stdout.strip().endswith("(head)")
    assert run_appctl("db", "status", "-o", "json", env=env).stdout.count('"at_head": true') == 1


def test_public_migrate_object_configures_alembic(app: object) -> None:
    from project import migrate

    calls = []

    @migrate.configure
    def remember(config: object) -> object:
        calls.append(config)
        return config

    from project.migrations import alembic_config

    try:
        assert alembic_config() is calls[-1]
    finally:
        migrate.real.configure_callbacks.remove(remember)
        migrate._callbacks.remove(remember)
