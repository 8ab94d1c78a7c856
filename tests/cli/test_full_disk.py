"""A full disk under the embedded default's data directory: one line that says so, exit 69, nothing written."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_appctl

pytestmark = pytest.mark.slow  # a full file system per test: make test-all

FULL = "Error: no space left on the device holding the "


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (needs root and mount); skipped with the reason when it cannot be mounted."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte; returns the filler file (delete it to free the space)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:  # nothing left in a buffer to fail at close
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    return filler


@pytest.fixture
def full_env(env: dict[str, str], small_disk: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A data directory on a full disk: migrated to 0001 then 0002, with one user and one job sent."""
    env = {**env, "APPCTL_DATA_DIR": str(small_disk / "data")}
    for command in (("db", "upgrade"), ("user", "add", "ann", "ann@example.com"), ("task", "send", "divide", "1", "2")):
        assert run_appctl(*command, env=env).returncode == 0
    filler = fill(small_disk)
    yield env
    filler.unlink()
    assert run_appctl("user", "list", env=env).stdout == "1\tann\tann@example.com\ttrue\n", "the users changed"
    history = run_appctl("task", "history", "-o", "plain", env=env).stdout
    assert len(history.splitlines()) == 1, "the job history changed"


@pytest.mark.parametrize(
    ("command", "service"),
    [
        (("user", "add", "bob", "bob@example.com"), "database"),
        (("task", "send", "divide", "3", "4"), "broker"),
        (("db", "upgrade"), "database"),
    ],
)
def test_a_full_disk_says_so(full_env: dict[str, str], command: tuple[str, ...], service: str) -> None:
    result = run_appctl(*command, env=full_env)
    assert (result.returncode, result.stdout) == (69, "")
    assert result.stderr.startswith(f"{FULL}{service} at "), result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_user_import_on_a_full_disk(full_env: dict[str, str], tmp_path: Path) -> None:
    users = tmp_path / "users.csv"
    users.write_text("username,email\n" + "".join(f"u{i},u{i}@example.com\n" for i in range(1000)))
    result = run_appctl("user", "import", str(users), env=full_env)
    assert (result.returncode, result.stdout) == (69, "")
    assert result.stderr.startswith(f"{FULL}database at "), result.stderr


def test_task_send_from_file_on_a_full_disk(full_env: dict[str, str], tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("[1, 2]\n" * 100)
    result = run_appctl("task", "send", "divide", "--from-file", str(jobs), env=full_env)
    assert (result.returncode, result.stdout) == (69, "")
    assert result.stderr.startswith(f"{FULL}broker at "), result.stderr


@pytest.mark.services
def test_a_send_whose_history_is_on_a_full_disk_goes_on_and_says_why(full_env: dict[str, str], redis_url: str) -> None:
    """The broker (Redis) takes the job; the warning says the disk is full, not SQLite's "disk I/O error"."""
    import redis

    env = {**full_env, "CELERY_BROKER_URL": redis_url, "CELERY_RESULT_BACKEND": redis_url}
    try:
        result = run_appctl("task", "send", "divide", "3", "4", env=env)
    finally:
        redis.Redis.from_url(redis_url).delete(env["APPCTL_QUEUE"])
    assert result.returncode == 0, result.stderr
    job = result.stdout.strip()
    assert result.stderr == (
        f"Warning: the job history did not record the sending of {job} (the job goes on):"
        f" no space left on the device holding the database at sqlite:///{env['APPCTL_DATA_DIR']}/app.sqlite\n"
    )
