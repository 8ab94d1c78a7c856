"""Shared fixtures: an isolated environment, the app, a CLI runner, a real worker, service URLs."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from click.testing import CliRunner

APPCTL = str(Path(sys.executable).with_name("appctl"))
SERVICE_ENV = ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "FLASK_CONFIG", "APPCTL_DEBUG", "NO_COLOR")


def service_url(variable: str) -> str:
    """The URL in ``variable``; skip when unset, fail instead under ``REQUIRE_SERVICES=1``."""
    url = os.environ.get(variable)
    if not url:
        message = f"{variable} is not set: this test needs a real service"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(message + " and REQUIRE_SERVICES=1")
        pytest.skip(message)
    return url


def isolate_environment(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> dict[str, str]:
    """Point appctl at the embedded default in ``data_dir`` with a queue of its own; return the environment."""
    for name in SERVICE_ENV:
        monkeypatch.delenv(name, raising=False)
    settings = {
        "APPCTL_DATA_DIR": str(data_dir),
        "FLASK_CONFIG": "testing",
        "APPCTL_DIVIDE_DELAY": "0",
        "APPCTL_QUEUE": f"test-{uuid.uuid4().hex[:12]}",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return {**os.environ, **settings}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An embedded-default environment of its own (data dir, queue), also for subprocesses."""
    return isolate_environment(monkeypatch, tmp_path / "data")


def migrated_app(monkeypatch: pytest.MonkeyPatch, env: dict[str, str] | None = None, **settings: str) -> Any:
    """The factory-built app with ``settings`` set in the environment (and in ``env``, for subprocesses), migrated."""
    from project import create_app
    from project.migrations import upgrade_database

    for name, value in settings.items():
        monkeypatch.setenv(name, value)
        if env is not None:
            env[name] = value
    flask_app = create_app("testing")
    with flask_app.app_context():
        upgrade_database()
    return flask_app


@pytest.fixture
def app(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The factory-built app on a migrated database, inside its app context."""
    flask_app = migrated_app(monkeypatch)
    with flask_app.app_context():
        yield flask_app


@pytest.fixture
def runner() -> CliRunner:
    """Click's runner, with stdout and stderr kept apart."""
    return CliRunner()


THREAD_WORKER_STOP = 60  # seconds a thread worker may take to stop on a loaded machine (Celery's default: 10)


@contextmanager
def thread_worker(celery: Any) -> Iterator[Any]:
    """A real Celery worker consuming ``celery``'s default queue in a thread."""
    from celery.contrib.testing.worker import TestWorkController, start_worker

    class BoundedStart(TestWorkController):  # type: ignore[misc]
        """Celery's waits for the worker's start without end: a worker thread that died hung the suite."""

        def ensure_started(self) -> None:
            if not self._on_started.wait(HANG):
                raise RuntimeError(f"the worker thread did not start within {HANG}s")

    with start_worker(
        celery,
        pool="threads",
        concurrency=2,
        perform_ping_check=False,
        loglevel="WARNING",
        WorkController=BoundedStart,
        shutdown_timeout=THREAD_WORKER_STOP,
    ):
        yield celery


@pytest.fixture
def worker(app: Any) -> Iterator[Any]:
    """A real Celery worker consuming the app's queue in a thread."""
    with thread_worker(app.extensions["celery"]) as celery:
        yield celery


@pytest.fixture(scope="module")
def shared_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Like ``env``, but one per test module, for ``shared_worker``: tests must not assume an empty database."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield isolate_environment(monkeypatch, tmp_path_factory.mktemp("shared") / "data")


@pytest.fixture(scope="module")
def shared_worker(shared_env: dict[str, str]) -> Iterator[Any]:
    """One real worker thread for a whole test module (stopping one costs seconds), on a migrated database."""
    from project import create_app
    from project.migrations import upgrade_database

    flask_app = create_app("testing")
    with flask_app.app_context():
        upgrade_database()
        with thread_worker(flask_app.extensions["celery"]) as celery:
            yield celery


HANG = 180  # seconds: a subprocess still running after this hangs; a hang detector, never a measured bound


def run_appctl(
    *args: str, env: dict[str, str], input: str | None = None, timeout: float = HANG
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``appctl`` as a user would; stdout and stderr captured apart; ``timeout`` detects hangs."""
    return subprocess.run([APPCTL, *args], env=env, input=input, capture_output=True, text=True, timeout=timeout)


def invoke_appctl(*args: str, env: dict[str, str], input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run appctl in this process through Click's runner, with ``env`` as its whole environment.

    The result reads like ``run_appctl``'s; an exception the CLI let escape is appended to stderr.
    The root logger has no handlers meanwhile, as in a process of its own (pytest's would take the
    warnings appctl prints to stderr).
    """
    import logging
    import traceback

    from cli import cli

    unset: dict[str, str | None] = {name: None for name in os.environ if name not in env}
    root_handlers, logging.root.handlers = logging.root.handlers, []
    try:
        result = CliRunner().invoke(cli, list(args), env={**env, **unset}, input=input, prog_name="appctl")
    finally:
        logging.root.handlers = root_handlers
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["appctl", *args], result.exit_code, result.stdout, stderr)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis URL on a random database number; tests keep apart by their own queue names."""
    import redis

    base = urlsplit(service_url("TEST_REDIS_URL"))
    url = urlunsplit(base._replace(path=f"/{random.randint(1, 15)}"))
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    client.ping()
    return url


@contextmanager
def fresh_pg_schema(prefix: str = "appctl_test") -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema (so the database starts empty), dropped afterwards."""
    import psycopg

    base = service_url("TEST_DATABASE_URL")
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        separator = "&" if "?" in base else "?"
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(base, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    with fresh_pg_schema() as url:
        yield url


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """A RabbitMQ URL; tests isolate themselves with a queue of their own."""
    return service_url("TEST_AMQP_URL")


DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)]
# The two setups an end-to-end test runs on: everything embedded, or PostgreSQL with Redis.
SYSTEMS = ["embedded", pytest.param("redis+postgresql", marks=pytest.mark.services)]


@contextmanager
def migrated_system(request: pytest.FixtureRequest, data_dir: Path, schema_prefix: str) -> Iterator[dict[str, str]]:
    """The environment of a migrated app for ``request.param`` (one of SYSTEMS), set in this process too."""
    with pytest.MonkeyPatch.context() as monkeypatch, ExitStack() as stack:
        env = isolate_environment(monkeypatch, data_dir)
        if request.param != "embedded":
            redis_url = request.getfixturevalue("redis_url")
            services = {
                "DATABASE_URL": stack.enter_context(fresh_pg_schema(schema_prefix)),
                "CELERY_BROKER_URL": redis_url,
                "CELERY_RESULT_BACKEND": redis_url,
            }
            for name, value in services.items():
                monkeypatch.setenv(name, value)  # for the tests that build the app in this process
            env.update(services)
        upgraded = run_appctl("db", "upgrade", env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        yield env


@pytest.fixture(params=DATABASES)
def database_env(request: pytest.FixtureRequest, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The test environment on the embedded SQLite database, or on the session's PostgreSQL schema."""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        monkeypatch.setenv("DATABASE_URL", url)
        env["DATABASE_URL"] = url
    return env
