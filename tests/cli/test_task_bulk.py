"""Selections and bulk actions end to end: a real `appctl worker` process, on the embedded default and
on Redis + PostgreSQL; the commands through CliRunner, and as processes where stdin or a terminal
matters. Each test sends its own jobs (its own queues, its own start time), so the tests of a module
share one system and one worker without seeing each other's jobs.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli import cli
from tests.cli.terminal import run_on_terminal
from tests.conftest import fresh_pg_schema, invoke_appctl, isolate_environment
from tests.jobs.waiting import wait_for
from tests.processes import worker_command, worker_process


@dataclass
class System:
    """A migrated system with a worker on its default queue; ``logs`` for more workers' logs."""

    env: dict[str, str]
    logs: Path
    kind: str  # "embedded" or "redis+postgresql"


@pytest.fixture(scope="module", params=["embedded", pytest.param("redis+postgresql", marks=pytest.mark.services)])
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    logs = tmp_path_factory.mktemp("bulk")
    services = request.param != "embedded"
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        fresh_pg_schema("appctl_bulk") if services else nullcontext() as url,
    ):
        env = isolate_environment(monkeypatch, logs / "data")
        if url:
            redis_url = request.getfixturevalue("redis_url")
            urls = {"DATABASE_URL": url, "CELERY_BROKER_URL": redis_url, "CELERY_RESULT_BACKEND": redis_url}
            for name, value in urls.items():
                monkeypatch.setenv(name, value)  # for CliRunner, in this process
            env.update(urls)  # for appctl processes
        assert appctl(env, "db", "upgrade").returncode == 0
        with worker_process(worker_command("main"), env, logs / "worker.log"):
            yield System(env, logs, request.param)


def appctl(env: dict[str, str], *args: str, stdin: str = "") -> Any:
    """``appctl ARGS`` through Click's runner, stdin not a terminal and holding ``stdin``."""
    return invoke_appctl(*args, env=env, input=stdin)


def invoke(*args: str) -> Result:
    """``appctl ARGS`` in this process (the system's environment is this process's), stdin empty."""
    return CliRunner().invoke(cli, list(args))


def ok(env: dict[str, str], *args: str) -> str:
    done = invoke(*args)
    assert done.exit_code == 0, done.stderr
    return str(done.stdout)


def send(env: dict[str, str], *args: str) -> str:
    return ok(env, "task", "send", "divide", *args).strip()


def ids(env: dict[str, str], *selection: str) -> set[str]:
    return set(ok(env, "task", "history", "--limit", "0", "-q", *selection).split())


def states(env: dict[str, str], *selection: str) -> dict[str, str]:
    listed = json.loads(ok(env, "task", "history", "--limit", "0", "-o", "json", *selection))
    return {job["id"]: job["state"] for job in listed}


def started(env: dict[str, str], since: str) -> list[dict[str, Any]]:
    """The jobs sent since ``since``, as the history lists them."""
    return list(json.loads(ok(env, "task", "history", "--limit", "0", "-o", "json", "--since", since)))


def queue_name() -> str:
    return f"parked-{uuid.uuid4().hex[:8]}"  # no worker consumes it, until a test starts one


def test_each_selection_option_selects_what_it_says(system: System) -> None:
    env, since = system.env, datetime.now(UTC).isoformat()
    parked = queue_name()
    good, bad = send(env, "1", "2"), send(env, "1", "0")
    waiting = send(env, "3", "4", "--queue", parked)
    assert invoke("result", "wait", good, bad, "--timeout", "120").exit_code == 1  # bad failed
    ours = ("--since", since)
    assert ids(env, *ours) == {good, bad, waiting}
    assert ids(env, *ours, "--state", "failure") == {bad}
    assert ids(env, *ours, "--state", "SUCCESS", "--state", "PENDING") == {good, waiting}
    assert ids(env, *ours, "--name", "divide") == ids(env, *ours, "--name", "project.users.tasks.divide")
    assert ids(env, *ours, "--name", "vide") == set()
    assert ids(env, *ours, "--queue", parked) == {waiting}
    assert ids(env, *ours, "--error", "division BY zero") == {bad}
    assert ids(env, *ours, "--error", "ZeroDivisionError: division") == {bad}
    assert ids(env, *ours, "--args", "[1, 0]") == {bad}
    assert ids(env, *ours, "--args", "3, 4") == {waiting}
    assert ids(env, *ours, "--retry-of", bad) == set()  # none yet
    assert ids(env, "--until", since) & {good, bad, waiting} == set()
    history = invoke("task", "history", "--state", "FAILURE", "-q", "-o", "json")
    assert (history.exit_code, history.stdout) == (2, "")
    assert "-q/--ids prints only ids" in history.stderr


def test_revoke_by_filter_confirms_then_the_worker_skips_what_it_revoked(system: System) -> None:
    env, parked, control = system.env, queue_name(), queue_name()
    chosen = {send(env, "1", str(n), "--queue", parked) for n in range(1, 6)}
    kept = send(env, "1", "2", "--queue", control)

    refused = appctl(env, "task", "revoke", "--queue", parked)  # stdin is not a terminal
    assert (refused.returncode, refused.stdout) == (2, "")
    assert "refusing to go on without --yes" in refused.stderr
    dry = invoke("task", "revoke", "--queue", parked, "--dry-run", "-q")
    assert (dry.exit_code, set(dry.stdout.split()), dry.stderr) == (
        0,
        chosen,
        "5 job(s) selected.\nDry run: nothing was revoked.\n",
    )
    assert set(states(env, "--queue", parked).values()) == {"PENDING"}

    revoked = invoke("task", "revoke", "--queue", parked, "--yes", "-o", "jsonl")
    lines = [json.loads(line) for line in revoked.stdout.splitlines()]
    assert (revoked.exit_code, revoked.stderr) == (0, "5 job(s) selected.\nRevoked 5 job(s).\n")
    assert {(job["id"], job["state"], job["outcome"]) for job in lines} == {(i, "REVOKED", "revoked") for i in chosen}

    # A worker now reads the parked queue: it skips the five, and runs a job sent after them.
    with worker_process([*worker_command("parked"), "-Q", parked], env, system.logs / "parked.log"):
        last = send(env, "2", "4", "--queue", parked)
        assert ok(env, "result", "wait", last, "--timeout", "120") == "0.5\n"
        wait_for(lambda: states(env, "--queue", parked).get(last) == "SUCCESS", what="the history to say SUCCESS")
    jobs = {job["id"]: job for job in json.loads(ok(env, "task", "history", "--queue", parked, "-o", "json"))}
    assert {task_id: job["state"] for task_id, job in jobs.items()} == {
        **dict.fromkeys(chosen, "REVOKED"),
        last: "SUCCESS",
    }
    assert {jobs[task_id]["started_at"] for task_id in chosen} == {None}  # never run
    assert states(env, "--queue", control) == {kept: "PENDING"}  # outside the selection: untouched
    waited = invoke("result", "wait", *sorted(chosen), "--timeout", "60")
    assert waited.exit_code == 1 and "revoked" in waited.stderr


def test_ids_and_a_filter_together_are_a_usage_error(system: System) -> None:
    env = system.env
    task_id = send(env, "1", "2", "--queue", queue_name())
    for args in ([task_id, "--state", "PENDING"], [], [task_id, "--dry-run"]):
        refused = invoke("task", "revoke", *args, "--yes")
        assert (refused.exit_code, refused.stdout) == (2, ""), args
        assert refused.stderr.startswith("Error: ")
    assert set(states(env, "--queue", queue_name()).values()) == set()
    assert json.loads(ok(env, "task", "status", task_id, "-o", "json"))[0]["state"] == "PENDING"


def test_a_bulk_action_asks_on_a_terminal(system: System) -> None:
    env, parked = system.env, queue_name()
    chosen = {send(env, "1", str(n), "--queue", parked) for n in (3, 5)}
    declined = run_on_terminal("task", "revoke", "--queue", parked, "-q", env=env, typed="n\n")
    assert (declined.returncode, declined.screen) == (1, "n\n")  # the answer, echoed; no job printed
    assert (
        declined.stderr == "2 job(s) selected.\nRevoke 2 job(s)? [y/N]: \nError: not confirmed; nothing was changed\n"
    )
    assert set(states(env, "--queue", parked).values()) == {"PENDING"}
    accepted = run_on_terminal("task", "revoke", "--queue", parked, "-q", env=env, typed="y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert chosen <= set(accepted.screen.split())
    assert set(states(env, "--queue", parked).values()) == {"REVOKED"}


def test_prune_by_filter_deletes_only_what_it_selects(system: System) -> None:
    env, since = system.env, datetime.now(UTC).isoformat()
    failed = [send(env, "1", "0") for _ in range(3)]
    good = [send(env, "1", "2") for _ in range(2)]
    assert invoke("result", "wait", *failed, *good, "--timeout", "120").exit_code == 1
    # The worker writes its rows (with the start time a reader cannot know) up to a flush interval
    # later; a job pruned before then would come back with them (docs/operations.md).
    wait_for(lambda: all(job["started_at"] for job in started(env, since)), what="the worker's rows")
    dry = invoke("task", "prune", "--since", since, "--state", "FAILURE", "--dry-run", "-o", "csv")
    assert dry.stdout.splitlines()[0] == "id,name,state,queue,sent_at,error"
    assert {line.split(",")[0] for line in dry.stdout.splitlines()[1:]} == set(failed)
    assert ids(env, "--since", since) == {*failed, *good}
    pruned = invoke("task", "prune", "--since", since, "--state", "FAILURE", "--yes", "-q")
    assert (pruned.exit_code, sorted(pruned.stdout.split())) == (0, sorted(failed))
    assert pruned.stderr == "3 job(s) selected.\nDeleted 3 job(s).\n"
    assert states(env, "--since", since) == dict.fromkeys(good, "SUCCESS")


def test_a_prune_keeps_revoked_jobs_a_worker_may_still_take_until_one_discards_them(system: System) -> None:
    """Their row is what stops a restarted worker running them: deleted, the job would run."""
    env, parked = system.env, queue_name()
    job = ok(env, "task", "send", "divide", "7", "1", "--queue", parked).strip()
    assert invoke("task", "revoke", job).exit_code == 0
    kept = invoke("task", "prune", "--queue", parked, "--yes", "-q")
    assert (kept.exit_code, kept.stdout) == (0, "")
    assert kept.stderr.startswith("Kept 1 revoked job(s) still waiting in the broker: deleted, they would run")
    assert kept.stderr.endswith("0 job(s) selected.\nDeleted 0 job(s).\n")
    command = [*worker_command(f"discard-{parked}", 1), "-Q", parked]
    with worker_process(command, env, system.logs / f"{parked}.log"):  # a new worker: it never heard the revoke
        wait_for(lambda: bool(invoke("task", "prune", "--queue", parked, "--yes", "-q").stdout), what="a prune")
    assert states(env, "--queue", parked) == {}
    shown = invoke("task", "status", job, "-o", "json")
    assert json.loads(shown.stdout)[0]["state"] == "REVOKED", shown.stdout  # the result backend's word: never run


def test_a_pruned_job_a_worker_drops_later_does_not_come_back_as_a_row_without_a_name(system: System) -> None:
    """Revoked, expired, pruned (it may be: no worker can run it), then dropped by a worker: no ghost row."""
    import time

    env, parked = system.env, queue_name()
    job = ok(env, "task", "send", "divide", "9", "1", "--queue", parked, "--expires", "1").strip()
    assert invoke("task", "revoke", job).exit_code == 0
    time.sleep(1.5)  # past its expiry: the state the test needs, not a wait for work
    pruned = invoke("task", "prune", "--queue", parked, "--yes", "-q")
    assert (pruned.exit_code, pruned.stdout) == (0, f"{job}\n"), pruned.stderr
    command = [*worker_command(f"drop-{parked}", 1), "-Q", parked]
    with worker_process(command, env, system.logs / f"{parked}.log") as worker:
        wait_for(lambda: job in worker.log(), what="the worker to drop the job")
        time.sleep(2)  # a flush interval and more: a row it wrote would be there by now
    assert states(env, "--queue", parked) == {} and job not in ids(env)


def test_a_revoked_job_purged_from_its_queue_may_be_pruned(system: System) -> None:
    env, parked = system.env, queue_name()
    job = ok(env, "task", "send", "divide", "8", "1", "--queue", parked).strip()
    assert invoke("task", "revoke", job).exit_code == 0
    purged = invoke("queue", "purge", parked, "--yes")
    assert purged.exit_code == 0, purged.stderr
    pruned = invoke("task", "prune", "--queue", parked, "--yes", "-q")
    assert (pruned.exit_code, pruned.stdout, pruned.stderr) == (
        0,
        f"{job}\n",
        "1 job(s) selected.\nDeleted 1 job(s).\n",
    )


def test_a_selection_larger_than_a_chunk_is_revoked_whole(system: System, tmp_path: Path) -> None:
    env, parked, count = system.env, queue_name(), 1234  # chunks of 1000: two of them
    lines = tmp_path / "jobs.jsonl"
    lines.write_text("".join(f"[{n}, 2]\n" for n in range(count)))
    sent = ok(env, "task", "send", "divide", "--queue", parked, "--from-file", str(lines)).split()
    revoked = invoke("task", "revoke", "--queue", parked, "--yes", "-q")
    assert revoked.exit_code == 0, revoked.stderr
    assert (len(revoked.stdout.split()), set(revoked.stdout.split())) == (count, set(sent))
    assert revoked.stderr == f"{count} job(s) selected.\nRevoked {count} job(s).\n"
    assert ids(env, "--queue", parked, "--state", "REVOKED") == set(sent)


def test_retry_by_filter_sends_the_failures_again(system: System) -> None:
    env, since, parked = system.env, datetime.now(UTC).isoformat(), queue_name()
    failed = [send(env, "1", "0") for _ in range(3)]
    good = send(env, "1", "2")
    assert invoke("result", "wait", *failed, good, "--timeout", "120").exit_code == 1
    waiting = send(env, "1", "2", "--queue", parked)
    refused = invoke("task", "retry", "--since", since, "--yes")  # the parked job is not finished
    assert (refused.exit_code, refused.stdout) == (4, "")
    assert refused.stderr.startswith("Error: 1 of the selected jobs are not finished, so none is retried")
    dry = invoke("task", "retry", "--since", since, "--state", "FAILURE", "--dry-run", "-q")
    assert (dry.exit_code, sorted(dry.stdout.split())) == (0, sorted(failed))
    assert ids(env, "--since", since) == {*failed, good, waiting}  # nothing sent

    retried = invoke("task", "retry", "--since", since, "--state", "FAILURE", "--yes", "-o", "jsonl")
    assert (retried.exit_code, retried.stderr) == (0, "3 job(s) selected.\nRetried 3 job(s).\n")
    copies = [json.loads(line) for line in retried.stdout.splitlines()]
    assert sorted(copy["retry_of"] for copy in copies) == sorted(failed)
    new = [copy["id"] for copy in copies]
    assert invoke("result", "wait", *new, "--timeout", "120").exit_code == 1  # the same division by zero
    wait_for(lambda: ids(env, "--since", since, "--state", "FAILURE") >= set(new), what="the copies to fail too")
    jobs = {job["id"]: job for job in json.loads(ok(env, "task", "history", "--since", since, "-o", "json"))}
    assert {copy["retry_of"]: jobs[copy["retry_of"]]["retried_by"] for copy in copies} == {
        copy["retry_of"]: copy["id"] for copy in copies
    }
    for copy in copies:
        assert ids(env, "--retry-of", copy["retry_of"]) == {copy["id"]}

    # Run again (as from cron): the jobs already retried are left to their copies, which failed in turn.
    again = invoke("task", "retry", "--since", since, "--state", "FAILURE", "--dry-run", "-q")
    assert (again.exit_code, sorted(again.stdout.split())) == (0, sorted(new))
    retried = invoke("task", "retry", "--since", since, "--state", "FAILURE", "--yes", "-o", "jsonl")
    assert (retried.exit_code, retried.stderr) == (0, "3 job(s) selected.\nRetried 3 job(s).\n")
    assert sorted(json.loads(line)["retry_of"] for line in retried.stdout.splitlines()) == sorted(new)
    by_id = invoke("task", "retry", failed[0], "-o", "jsonl")  # an id is sent again, retried before or not
    assert (by_id.exit_code, json.loads(by_id.stdout)["retry_of"]) == (0, failed[0])


def queued_messages(system: System, queue: str) -> int:
    """How many messages wait in ``queue`` on the system's broker."""
    if system.kind == "embedded":
        path = Path(system.env["APPCTL_DATA_DIR"]) / "broker.sqlite"
        query = "SELECT count(*) FROM kombu_message m JOIN kombu_queue q ON m.queue_id = q.id WHERE q.name = ?"
        with closing(sqlite3.connect(path)) as connection:
            return int(connection.execute(query, (queue,)).fetchone()[0])
    import redis

    with closing(redis.Redis.from_url(system.env["CELERY_BROKER_URL"])) as client:
        return int(client.llen(queue))


def test_ten_thousand_failed_jobs_retried_by_filter_and_the_queue_agrees(system: System) -> None:
    """The issue's case: 10,000 failed jobs retried by a filter; the history and the broker agree after."""
    from sqlalchemy import func, select

    from project import create_app
    from project.extensions import db
    from project.jobs.history.models import jobs

    parked, count = queue_name(), 10_000
    failed_at = datetime.now(UTC) - timedelta(hours=1)
    originals = [
        {
            "id": f"failed-{n:05d}-{parked}",
            "name": "project.users.tasks.divide",
            "state": "FAILURE",
            "args": [n, 2],
            "kwargs": {},
            "queue": parked,
            "sent_at": failed_at,
            "error_type": "ConnectionError",
            "error_message": "down",
        }
        for n in range(count)
    ]
    app = create_app()
    try:
        with app.app_context():
            with db.engine.begin() as conn:
                conn.execute(jobs.insert(), originals)
            retried = invoke("task", "retry", "--queue", parked, "--state", "FAILURE", "--error", "down", "--yes", "-q")
            assert retried.exit_code == 0, retried.stderr
            new = retried.stdout.split()
            assert (len(new), len(set(new))) == (count, count)
            assert retried.stderr == f"{count} job(s) selected.\nRetried {count} job(s).\n"
            with db.engine.connect() as conn:
                copies = dict(
                    conn.execute(
                        select(jobs.c.id, jobs.c.retry_of).where(jobs.c.retry_of.is_not(None), jobs.c.queue == parked)
                    ).all()
                )
                links = dict(
                    conn.execute(
                        select(jobs.c.id, jobs.c.retried_by).where(jobs.c.state == "FAILURE", jobs.c.queue == parked)
                    ).all()
                )
                pending = conn.scalar(
                    select(func.count()).select_from(jobs).where(jobs.c.queue == parked, jobs.c.state == "PENDING")
                )
            assert (set(copies), pending) == (set(new), count)  # every copy PENDING, linked to its original
            assert {links[old]: old for old in links} == copies  # each original names its copy
            assert queued_messages(system, parked) == count  # and the broker holds exactly those
            db.engine.dispose()
    finally:
        if system.kind != "embedded":
            import redis

            with closing(redis.Redis.from_url(system.env["CELERY_BROKER_URL"])) as client:
                client.delete(parked)


def strict_json(text: str) -> Any:
    """``text`` parsed as strict JSON: NaN and Infinity, which Python's json reads, are refused."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_a_result_json_has_no_number_for_is_printed_and_kept_as_a_string(system: System) -> None:
    """divide(1e308, 1e-308) is inf: the output stays strict JSON and the history (PostgreSQL's json too) keeps it."""
    env = system.env
    infinite = send(env, "1e308", "1e-308")
    waited = invoke("result", "wait", infinite, "--timeout", "120", "-o", "json")
    assert (waited.exit_code, strict_json(waited.stdout)[0]["result"]) == (0, "Infinity")
    wait_for(lambda: states(env, "--args", "1e-308").get(infinite) == "SUCCESS", what="the history to record it")
    shown = invoke("task", "status", infinite, "-o", "json")
    assert strict_json(shown.stdout)[0]["result"] == "Infinity"
    assert strict_json(invoke("task", "history", "--args", "1e-308", "-o", "jsonl").stdout.splitlines()[0])


def test_a_result_is_kept_in_the_history_as_the_result_backend_has_it(system: System) -> None:
    """2.0 and -0.0 stay floats on SQLite too (a column declared JSON there has numeric affinity: 2, 0)."""
    env = system.env
    written = {("4", "2"): "2.0", ("-0.0", "7"): "-0.0", ("1", "3"): repr(1 / 3)}
    for (x, y), result in written.items():
        job, args = send(env, x, y), f"[{x}, {y}]"

        def result_of(*command: str, job: str = job) -> str:
            rows = [row for row in json.loads(ok(env, *command, "-o", "json")) if row["id"] == job]
            return repr(rows[0]["result"])  # repr tells 2.0 from 2 and -0.0 from 0.0

        assert result_of("result", "wait", job, "--timeout", "120") == result
        wait_for(
            lambda args=args, job=job: states(env, "--args", args).get(job) == "SUCCESS",
            what="the history to record it",
        )
        assert result_of("task", "status", job) == result
        assert result_of("task", "history", "--args", args) == result


def forget_result(system: System, task_id: str) -> None:
    """What the result backend's expiry does (a day after by default): the job's result is gone."""
    if system.kind == "embedded":
        path = Path(system.env["APPCTL_DATA_DIR"]) / "results.sqlite"
        with closing(sqlite3.connect(path)) as connection, connection:
            assert connection.execute("DELETE FROM celery_taskmeta WHERE task_id = ?", (task_id,)).rowcount == 1
        return
    import redis

    with closing(redis.Redis.from_url(system.env["CELERY_RESULT_BACKEND"])) as client:
        assert client.delete(f"celery-task-meta-{task_id}") == 1


def test_result_wait_on_a_job_whose_result_expired_answers_from_the_history(system: System) -> None:
    env = system.env
    done = send(env, "1", "2")
    assert invoke("result", "wait", done, "--timeout", "120").exit_code == 0
    wait_for(lambda: states(env, "--args", "[1, 2]").get(done) == "SUCCESS", what="the history to record it")
    forget_result(system, done)
    waited = invoke("result", "wait", done, "--timeout", "120", "-o", "json")  # at once, not after 120 s
    assert (waited.exit_code, json.loads(waited.stdout)[0]["result"], json.loads(waited.stdout)[0]["state"]) == (
        0,
        0.5,
        "SUCCESS",
    )
