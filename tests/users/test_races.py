"""Races: 20 processes add the same user (or its case variants) at once; exactly one wins, nineteen get exit 4.

Each racer is a process forked from the test (so it starts without paying for imports) that
waits at a barrier and then runs appctl's console-script entry point, ``cli.main()``, with its
stdout and stderr going to files: 20 real processes hitting the database at the same instant.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import cli
import cli.commands.user
import project.users.accounts  # imported once here, not in each forked racer
import project.users.service  # noqa: F401  # imported once here, not in each forked racer
from tests.conftest import run_appctl

RACERS = 20


def run_appctl_at_barrier(args: list[str], barrier: Any, output: Path) -> None:
    """A racer: wait for the others, then run ``appctl ARGS`` with its output in OUTPUT.out/.err."""
    sys.stdout = open(f"{output}.out", "w")  # noqa: SIM115  # flushed by multiprocessing at exit
    sys.stderr = open(f"{output}.err", "w")  # noqa: SIM115
    os.dup2(sys.stderr.fileno(), 2)  # anything written below Python's streams too
    sys.argv = ["appctl", *args]
    barrier.wait(timeout=60)
    cli.main()


def race(commands: list[list[str]], directory: Path) -> list[tuple[int, str, str]]:
    """Run each ``appctl ARGS`` of ``commands`` in a process, all released together: ``(exit, stdout, stderr)``."""
    directory.mkdir()
    fork = multiprocessing.get_context("fork")
    barrier = fork.Barrier(len(commands))
    racers = [
        fork.Process(target=run_appctl_at_barrier, args=(args, barrier, directory / str(n)))
        for n, args in enumerate(commands)
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=120)
    return [
        (racer.exitcode or 0, (directory / f"{n}.out").read_text(), (directory / f"{n}.err").read_text())
        for n, racer in enumerate(racers)
    ]


def assert_one_winner(env: dict[str, str], tmp_path: Path) -> None:
    name = f"racer-{uuid.uuid4().hex[:8]}"  # the PostgreSQL schema is shared by the session's tests
    outcomes = race([["user", "add", name, f"{name}@example.com", "-o", "json"]] * RACERS, tmp_path / "race")
    assert sorted(code for code, _, _ in outcomes) == [0] + [4] * (RACERS - 1), outcomes
    for code, out, err in outcomes:
        assert "Traceback" not in err
        if code == 4:
            assert (out, err) == ("", f"Error: username '{name}' is already taken\n")
        else:
            assert json.loads(out)["username"] == name
    listed = json.loads(run_appctl("user", "list", "--search", name, "-o", "json", env=env).stdout)
    assert [(u["username"], u["email"]) for u in listed] == [(name, f"{name}@example.com")]


@pytest.mark.slow
def test_twenty_processes_add_the_same_user_on_sqlite(env: dict[str, str], tmp_path: Path) -> None:
    assert run_appctl("db", "upgrade", env=env).returncode == 0
    assert_one_winner(env, tmp_path)


@pytest.mark.slow
@pytest.mark.services
def test_twenty_processes_add_the_same_user_on_postgresql(
    env: dict[str, str], tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_url)
    env["DATABASE_URL"] = pg_url
    assert run_appctl("db", "upgrade", env=env).returncode == 0
    assert_one_winner(env, tmp_path)


def test_a_database_locked_too_long_is_one_clear_line(env: dict[str, str], tmp_path: Path) -> None:
    import sqlite3

    assert run_appctl("db", "upgrade", env=env).returncode == 0
    env["APPCTL_SQLITE_BUSY_TIMEOUT"] = "0.5"
    holder = sqlite3.connect(Path(env["APPCTL_DATA_DIR"]) / "app.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = run_appctl("user", "add", "alice", "alice@example.com", env=env)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (result.returncode, result.stdout) == (69, "")
    assert result.stderr == (
        f"Error: the database at sqlite:///{env['APPCTL_DATA_DIR']}/app.sqlite stayed locked by another process"
        " (hint: try again; APPCTL_SQLITE_BUSY_TIMEOUT sets how long to wait)\n"
    )
    assert json.loads(run_appctl("user", "list", "-o", "json", env=env).stdout) == []


def test_a_send_while_the_database_is_locked_warns_in_plain_words(env: dict[str, str]) -> None:
    """The job is sent (the broker has it); the history's failure is one warning, not SQLite's own words."""
    import sqlite3

    assert run_appctl("db", "upgrade", env=env).returncode == 0
    env["APPCTL_SQLITE_BUSY_TIMEOUT"] = "0.5"
    holder = sqlite3.connect(Path(env["APPCTL_DATA_DIR"]) / "app.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = run_appctl("task", "send", "divide", "1", "2", env=env)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 0, result.stderr
    sent = result.stdout.strip()
    assert result.stderr == (
        f"Warning: the job history did not record the sending of {sent} (the job goes on):"
        " the database stayed locked by another process (APPCTL_SQLITE_BUSY_TIMEOUT sets how long to wait)\n"
    )


def assert_one_case_variant_wins(env: dict[str, str], tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    names = [f"{variant}{tag}" for variant in ("Bob", "bob", "BOB")]
    commands = [["user", "add", names[n % 3], f"racer{n}-{tag}@example.com", "-o", "json"] for n in range(RACERS)]
    outcomes = race(commands, tmp_path / "race")
    assert sorted(code for code, _, _ in outcomes) == [0] + [4] * (RACERS - 1), outcomes
    winner = next(json.loads(out) for code, out, _ in outcomes if code == 0)
    for code, out, err in outcomes:
        assert "Traceback" not in err
        if code == 4:
            assert out == "" and err.startswith("Error: username '") and "is already taken" in err, err
    listed = json.loads(run_appctl("user", "list", "--search", tag, "-o", "json", env=env).stdout)
    assert listed == [winner]


@pytest.mark.slow
def test_twenty_processes_add_case_variants_of_one_user_on_sqlite(env: dict[str, str], tmp_path: Path) -> None:
    assert run_appctl("db", "upgrade", env=env).returncode == 0
    assert_one_case_variant_wins(env, tmp_path)


@pytest.mark.slow
@pytest.mark.services
def test_twenty_processes_add_case_variants_of_one_user_on_postgresql(
    env: dict[str, str], tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_url)
    env["DATABASE_URL"] = pg_url
    assert run_appctl("db", "upgrade", env=env).returncode == 0
    assert_one_case_variant_wins(env, tmp_path)


def assert_one_rename_wins(env: dict[str, str], tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    sources = [f"src{n}-{tag}" for n in range(RACERS // 2)]
    for name in sources:
        assert run_appctl("user", "add", name, f"{name}@example.com", env=env).returncode == 0
    target = f"taken-{tag}"
    outcomes = race(
        [["user", "update", name, "--username", target, "-o", "json"] for name in sources], tmp_path / "race"
    )
    assert sorted(code for code, _, _ in outcomes) == [0] + [4] * (len(sources) - 1), outcomes
    winner = next(json.loads(out) for code, out, _ in outcomes if code == 0)
    for code, out, err in outcomes:
        assert "Traceback" not in err
        if code == 4:
            assert (out, err) == ("", f"Error: username '{target}' is already taken\n")
    listed = json.loads(run_appctl("user", "list", "--search", tag, "-o", "json", env=env).stdout)
    renamed = winner["email"].split("@")[0]  # the winner kept its email, which names the user it was
    assert sorted(u["username"] for u in listed) == sorted([target] + [n for n in sources if n != renamed])


@pytest.mark.slow
def test_processes_renaming_users_to_the_same_name_on_sqlite(env: dict[str, str], tmp_path: Path) -> None:
    assert run_appctl("db", "upgrade", env=env).returncode == 0
    assert_one_rename_wins(env, tmp_path)


@pytest.mark.slow
@pytest.mark.services
def test_processes_renaming_users_to_the_same_name_on_postgresql(
    env: dict[str, str], tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_url)
    env["DATABASE_URL"] = pg_url
    assert run_appctl("db", "upgrade", env=env).returncode == 0
    assert_one_rename_wins(env, tmp_path)
