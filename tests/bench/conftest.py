"""Fixtures for the benchmarks: the report, environments of their own, Redis."""

from __future__ import annotations

import compileall
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bench.report import RESULTS, Report, write_performance
from tests.conftest import APPCTL, SERVICE_ENV

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session", autouse=True)
def installed_bytecode() -> None:
    """appctl's own modules compiled to bytecode, as installing a wheel does (pip compiles every module).

    The libraries in the virtualenv were compiled when pip installed them; appctl's modules, in an
    editable checkout, are compiled on first import unless ``PYTHONDONTWRITEBYTECODE`` is set, as it is
    on some machines: then every appctl process would compile its ~60 modules again, which no
    installed copy of appctl does, and the references do not.
    """
    for folder in ("cli", "project"):
        compileall.compile_dir(ROOT / folder, quiet=1)
    compileall.compile_file(ROOT / "app.py", quiet=1)


@pytest.fixture(scope="session")
def report() -> Iterator[Report]:
    """Collects the rows; prints the table and writes results.json and docs/performance.md when the run ends."""
    collected = Report()
    yield collected
    if collected.rows:
        collected.save()
        write_performance()  # docs/performance.md, even when a target was missed
        print(f"\n\nappctl benchmarks (figures in {RESULTS.relative_to(ROOT)}):\n\n{collected.table()}\n")


def environment(data_dir: Path, **settings: str) -> dict[str, str]:
    """A clean environment for appctl and its references: its own data directory and queue, nothing inherited."""
    env = {name: value for name, value in os.environ.items() if name not in SERVICE_ENV and name != "APPCTL_QUEUE"}
    env.update(
        APPCTL_DATA_DIR=str(data_dir),
        APPCTL_QUEUE=f"bench-{uuid.uuid4().hex[:10]}",
        FLASK_APP="app.py",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        **settings,
    )
    return env


def migrate(env: dict[str, str]) -> None:
    """Bring the environment's database to head (not timed)."""
    subprocess.run([APPCTL, "db", "upgrade"], env=env, check=True, capture_output=True)


@pytest.fixture(scope="session")
def bench_redis() -> Iterator[str]:
    """Redis for the benchmarks: TEST_REDIS_URL, else the chapter's redis://127.0.0.1:6379/0."""
    import redis

    url = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {url} ({exc}): set TEST_REDIS_URL")
    yield url


@pytest.fixture
def redis_env(tmp_path: Path, bench_redis: str) -> Iterator[dict[str, str]]:
    """appctl on Redis (broker and results) with a migrated database; its queue is deleted afterwards."""
    import redis

    env = environment(tmp_path / "data", CELERY_BROKER_URL=bench_redis, CELERY_RESULT_BACKEND=bench_redis)
    migrate(env)
    yield env
    redis.Redis.from_url(bench_redis).delete(env["APPCTL_QUEUE"])


@pytest.fixture
def embedded_env(tmp_path: Path) -> dict[str, str]:
    """appctl on the embedded default, migrated."""
    env = environment(tmp_path / "data")
    migrate(env)
    return env


def fresh_copy(source: Path, target: Path) -> Path:
    """``target``, replaced by a copy of ``source`` (a migrated, empty database for each timed import)."""
    shutil.copyfile(source, target)
    return target
