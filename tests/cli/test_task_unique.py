"""`task send --unique` / `--unique-key` as cron runs it: real `appctl` processes and a real worker process.

One environment per system (the embedded default; PostgreSQL with Redis as broker and result
backend), shared by the module: each test uses arguments or keys of its own.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import APPCTL, HANG, SYSTEMS, invoke_appctl, migrated_system, run_appctl
from tests.processes import ExecReplyLost, worker_process

RACERS = 4  # tests/jobs/test_unique.py races more, at a barrier


@pytest.fixture(scope="module", params=SYSTEMS)
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A migrated environment on the embedded default, or on PostgreSQL and Redis."""
    with migrated_system(request, tmp_path_factory.mktemp("unique") / "data", "appctl_unique") as env:
        yield env


def fresh_args() -> list[str]:
    return [str(uuid.uuid4().int % 10**9), "4"]


def jobs_with(env: dict[str, str], args: list[str]) -> list[dict[str, Any]]:
    """The history's jobs of divide with ``args``."""
    listed = invoke_appctl("task", "history", "--name", "divide", "--limit", "0", "-o", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    return [job for job in json.loads(listed.stdout) if job["args"] == [int(arg) for arg in args]]


def already_queued(task_id: str, state: str = "PENDING") -> str:
    return f"Already queued: job {task_id} ({state}) holds the same unique key; nothing was sent.\n"


def test_a_repeated_unique_send_prints_the_queued_job_and_sends_nothing(system: dict[str, str]) -> None:
    args = fresh_args()
    first = invoke_appctl("task", "send", "divide", *args, "--unique", env=system)
    assert (first.returncode, first.stderr, len(first.stdout)) == (0, "", 37)
    task_id = first.stdout.strip()
    again = invoke_appctl("task", "send", "project.users.tasks.divide", *args, "--unique", env=system)
    assert (again.returncode, again.stdout, again.stderr) == (0, first.stdout, already_queued(task_id))
    keyed = invoke_appctl("task", "send", "divide", *args, "--unique-key", f"k-{args[0]}", env=system)
    assert keyed.returncode == 0 and keyed.stdout != first.stdout  # another key: another job
    assert [job["id"] for job in jobs_with(system, args)] == [keyed.stdout.strip(), task_id]


@pytest.mark.slow  # a process race (or Ctrl-C in the middle): `make test-all`
def test_processes_racing_through_the_cli_send_one_job(system: dict[str, str]) -> None:
    args, key = fresh_args(), f"race-{uuid.uuid4().hex}"
    command = [APPCTL, "task", "send", "divide", *args, "--unique-key", key]
    racers = [
        subprocess.Popen(command, env=system, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(RACERS)
    ]
    outputs = [racer.communicate(timeout=HANG) for racer in racers]
    answers = [(racer.returncode, out, err) for racer, (out, err) in zip(racers, outputs, strict=True)]
    assert {code for code, _, _ in answers} == {0}, answers
    ids = {out for _, out, _ in answers}
    assert len(ids) == 1, answers
    task_id = ids.pop().strip()
    assert sorted(err for _, _, err in answers) == ["", *[already_queued(task_id)] * (RACERS - 1)]
    assert [job["id"] for job in jobs_with(system, args)] == [task_id]


@pytest.mark.slow
def test_with_a_worker_a_finished_job_frees_its_key(system: dict[str, str], tmp_path: Path) -> None:
    args, failing = fresh_args(), [str(uuid.uuid4().int % 10**9), "0"]
    queued = invoke_appctl("task", "send", "divide", *args, "--unique", env=system).stdout.strip()
    send_and_wait = [APPCTL, "task", "send", "divide", *args, "--unique", "--wait", "--timeout", "120"]
    waiting = subprocess.Popen(send_and_wait, env=system, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert waiting.stderr is not None
    assert waiting.stderr.readline() == already_queued(queued)  # before any worker: the job is still queued
    assert waiting.stderr.readline() == f"Waiting up to 120s for {queued}.\n"
    worker = [APPCTL, "worker", "--loglevel=info", "--concurrency=1"]
    with worker_process(worker, system, tmp_path / "worker.log"):
        out, err = waiting.communicate(timeout=HANG)  # the job already queued ran: its result
        assert (waiting.returncode, out, err) == (0, f"{int(args[0]) / 4}\n", "")
        again = invoke_appctl("task", "send", "divide", *args, "--unique", "--wait", "--timeout", "120", env=system)
        assert (again.returncode, again.stdout) == (0, f"{int(args[0]) / 4}\n")
        assert again.stderr.startswith("Sent ") and queued not in again.stderr  # the key was free: a new job
        failed = invoke_appctl("task", "send", "divide", *failing, "--unique", "--wait", "--timeout", "120", env=system)
        assert failed.returncode == 1 and "ZeroDivisionError" in failed.stderr
    retried = invoke_appctl("task", "send", "divide", *failing, "--unique", env=system)
    assert (retried.returncode, retried.stderr) == (0, "")  # a failed job frees its key too
    states = sorted(job["state"] for job in jobs_with(system, args))
    assert states == ["SUCCESS", "SUCCESS"]
    assert sorted(job["state"] for job in jobs_with(system, failing)) == ["FAILURE", "PENDING"]


def test_unique_with_from_file_is_a_usage_error(system: dict[str, str], tmp_path: Path) -> None:
    lines = tmp_path / "jobs.jsonl"
    lines.write_text("[1, 2]\n")
    for option in (["--unique"], ["--unique-key", "k"]):
        refused = invoke_appctl("task", "send", "divide", "--from-file", str(lines), *option, env=system)
        message = "Error: --unique and --unique-key send one job; they do not go with --from-file"
        assert (refused.returncode, refused.stdout) == (2, "")
        assert refused.stderr == f"{message} (see 'appctl task send --help')\n"


def test_a_bad_unique_key_is_exit_65_and_sends_nothing(system: dict[str, str]) -> None:
    args = fresh_args()
    for bad in ("", "x" * 256):
        refused = invoke_appctl("task", "send", "divide", *args, "--unique-key", bad, env=system)
        assert (refused.returncode, refused.stdout) == (65, "")
        assert refused.stderr.startswith("Error: unique key ") and refused.stderr.count("\n") == 1
    assert jobs_with(system, args) == []


def test_a_key_held_by_a_job_of_unknown_fate_is_exit_4_until_that_job_is_revoked(system: dict[str, str]) -> None:
    from project import create_app
    from project.extensions import db
    from project.jobs.history.values import UNKNOWN, sent_row, utcnow
    from project.jobs.history.write_orm import OrmHistory

    key, lost = f"lost-{uuid.uuid4().hex}", str(uuid.uuid4())
    app = create_app("testing")  # the module's environment is in os.environ
    with app.app_context():
        long_ago = utcnow() - timedelta(seconds=app.config["LONGEST_SEND"] + 60)  # no send takes that long
        row = sent_row(lost, "project.users.tasks.divide", [1, 2], {}, None, sent_at=long_ago, state=UNKNOWN)
        assert OrmHistory().claim({**row, "unique_key": key})
        db.engine.dispose()
    refused = invoke_appctl("task", "send", "divide", "1", "2", "--unique-key", key, env=system)
    assert (refused.returncode, refused.stdout) == (4, "")
    assert refused.stderr == (
        f"Error: job {lost} holds the unique key '{key}', and whether the broker has it is unknown (its send "
        f"failed with the broker's answer lost, or was cut short) (hint: if it is not queued, revoke {lost} to "
        "free the key; a worker that runs it frees the key too)\n"
    )
    assert invoke_appctl("task", "revoke", lost, env=system).returncode == 0
    sent = invoke_appctl("task", "send", "divide", "1", "2", "--unique-key", key, env=system)
    assert (sent.returncode, sent.stderr, len(sent.stdout)) == (0, "", 37)


@pytest.mark.slow
@pytest.mark.services
def test_a_send_whose_broker_answer_was_lost_keeps_the_key_until_its_job_ends(
    env: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    assert run_appctl("db", "upgrade", env=env).returncode == 0
    broker = urlsplit(redis_url)
    proxy = ExecReplyLost(broker.port or 6379)
    lossy = {**env, "CELERY_BROKER_URL": f"redis://127.0.0.1:{proxy.port}{broker.path}", "APPCTL_SOCKET_TIMEOUT": "1"}
    key = f"lost-{uuid.uuid4().hex}"
    try:
        lost = run_appctl("task", "send", "divide", "1", "2", "--unique-key", key, env=lossy)
    finally:
        proxy.die()
    assert (lost.returncode, lost.stdout) == (69, "")
    found = re.search(r"job (\S+) of unknown fate \(ids in the history as UNKNOWN\)", lost.stderr)
    assert found, lost.stderr
    listed = run_appctl("task", "history", "--state", "UNKNOWN", "-o", "json", env=env)
    assert [job["id"] for job in json.loads(listed.stdout)] == [found[1]]  # it holds the key
    direct = {**env, "CELERY_BROKER_URL": redis_url}
    with worker_process([APPCTL, "worker", "--loglevel=info", "--concurrency=1"], direct, tmp_path / "worker.log"):
        waited = run_appctl("result", "wait", found[1], "--timeout", "120", env=direct)
        assert (waited.returncode, waited.stdout) == (0, "0.5\n")  # Redis had applied the EXEC: the job was queued
    sent = run_appctl("task", "send", "divide", "1", "2", "--unique-key", key, env=direct)
    assert (sent.returncode, sent.stderr) == (0, "")  # its end freed the key
    assert sent.stdout.strip() != found[1]


def test_run_now_passes_the_unique_key_to_its_copy(system: dict[str, str]) -> None:
    key = f"run-now-{uuid.uuid4()}"
    sent = invoke_appctl("task", "send", "divide", "1", "3", "--unique-key", key, "--countdown", "600", env=system)
    assert sent.returncode == 0, sent.stderr
    scheduled = sent.stdout.strip()
    ran = invoke_appctl("task", "run-now", scheduled, env=system)
    assert (ran.returncode, ran.stderr) == (0, ""), ran.stderr
    copy = ran.stdout.strip()
    again = invoke_appctl("task", "send", "divide", "1", "3", "--unique-key", key, env=system)
    assert (again.returncode, again.stdout, again.stderr) == (0, f"{copy}\n", already_queued(copy))
    rows = {job["id"]: job for job in jobs_with(system, ["1", "3"]) if job["id"] in (scheduled, copy)}
    assert (rows[scheduled]["state"], rows[copy]["state"], rows[copy]["retry_of"]) == ("REVOKED", "PENDING", scheduled)


def test_a_retry_of_a_finished_unique_job_takes_its_key(system: dict[str, str]) -> None:
    key = f"retried-{uuid.uuid4()}"
    first = invoke_appctl("task", "send", "divide", "1", "3", "--unique-key", key, "--countdown", "600", env=system)
    original = first.stdout.strip()
    assert invoke_appctl("task", "revoke", original, env=system).returncode == 0  # finished: the key is free
    retried = invoke_appctl("task", "retry", original, env=system)
    assert (retried.returncode, retried.stderr) == (0, ""), retried.stderr
    copy = retried.stdout.strip()
    again = invoke_appctl("task", "send", "divide", "1", "3", "--unique-key", key, env=system)
    assert (again.returncode, again.stdout, again.stderr) == (0, f"{copy}\n", already_queued(copy))


def test_a_forced_retry_of_an_unfinished_unique_job_leaves_the_key_with_it(system: dict[str, str]) -> None:
    key = f"forced-{uuid.uuid4()}"
    first = invoke_appctl("task", "send", "divide", "1", "3", "--unique-key", key, "--countdown", "600", env=system)
    original = first.stdout.strip()
    retried = invoke_appctl("task", "retry", "--force", original, env=system)
    copy = retried.stdout.strip()
    assert retried.returncode == 0 and f"job {copy} was sent without the unique key" in retried.stderr
    again = invoke_appctl("task", "send", "divide", "1", "3", "--unique-key", key, env=system)
    assert (again.returncode, again.stdout, again.stderr) == (0, f"{original}\n", already_queued(original))


def test_unique_and_unique_key_together_are_a_usage_error(system: dict[str, str]) -> None:
    args = fresh_args()
    refused = invoke_appctl("task", "send", "divide", *args, "--unique", "--unique-key", "k", env=system)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr.startswith("Error: give --unique or --unique-key KEY, not both")
    assert jobs_with(system, args) == []


def test_a_key_of_spaces_only_is_refused_for_what_it_is(system: dict[str, str]) -> None:
    args = fresh_args()
    for bad, why in ((" ", "not only spaces"), ("a\tb", "printable characters")):
        refused = invoke_appctl("task", "send", "divide", *args, "--unique-key", bad, env=system)
        assert (refused.returncode, refused.stdout) == (65, "")
        assert why in refused.stderr and refused.stderr.count("\n") == 1
    assert invoke_appctl("task", "send", "divide", *args, "--unique-key", " a ", env=system).returncode == 0
