"""The benchmark table: printed at the end of `make bench`, saved to results.json and rendered into docs/performance.md.

``python -m tests.bench.report`` renders docs/performance.md again from the committed results.json,
without running a benchmark.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results.json")
PERFORMANCE = Path(__file__).resolve().parents[2] / "docs" / "performance.md"

INTRO = """\
# Performance

This page is written by `make bench` from `tests/bench/results.json` (`python -m tests.bench.report`
writes it again from that file); do not edit it by hand.

`make bench` runs the benchmarks in `tests/bench/` (they are not part of `make test`; they need
Redis: `TEST_REDIS_URL`, else `redis://127.0.0.1:6379/0`). Each one measures appctl and its
reference in the same run, on the same machine and environment, alternating their runs and taking
medians, because only ratios are stable on a shared machine. It prints the table and writes every
figure, with the machine's load, to `tests/bench/results.json`.
"""

HOW_MEASURED = """\
- **`--help`** and completion build no app and import no Flask, SQLAlchemy, Alembic or Celery.
  Every command imports only what it uses: Flask-Migrate and Alembic load only for `db`
  commands (`project/lazy_migrate.py`; `from project import migrate` and `flask db …` work as
  before), the embedded broker's code only when it is the broker, worker code only in a worker,
  Celery's database backend only when it is the result backend.
- **One `task send`.** Both processes build the app from the same factory (`app.py`). The
  reference also loads Celery's command line, the ORM and, on Redis, subscribes to the job's
  result. appctl loads none of those: a plain send creates no result object, and it runs in the
  publisher app (see [extending.md](extending.md#the-pieces)). That app has no
  SQLAlchemy, which alone cost about a third of the reference's time, and writes the job-history row
  through `sqlite3`/psycopg. With the ORM, the same send measured 0.79× (results of 2026-11-26,
  before the publisher app).
- **Every row** runs appctl as installed: its own modules compiled to bytecode first, as installing
  a wheel does (`tests/bench/conftest.py`); the references' libraries were compiled by pip. Without
  that, on a machine with `PYTHONDONTWRITEBYTECODE` set, each appctl process compiles its ~60 modules
  again (about 30 ms).
- **User commands** (`user list` on one user, `user show`, `user add` of a new user each run) run in
  the app built without Celery (`create_database_app()`): no Celery, kombu, job history,
  Flask-Migrate or email_validator is imported (an address of the common shape is checked without
  it). Each command alternates with its own runs of the reference, a bare Python importing Flask,
  Flask-SQLAlchemy, the SQLAlchemy ORM and Click; the ratio shown is the worst of the three.
  SQLAlchemy's SQLite dialect, the `users` model, the app, the query and appctl's own modules cost
  about 45 ms above the reference (1.11× on 2026-11-30). Every appctl command then ends as the
  reference cannot: with its connections closed, `gc.freeze()` leaves the libraries' objects out of
  the interpreter's last garbage collection, which otherwise walks them all to free memory the
  process hands back anyway (about 80 ms of the reference's 400; `cli/__init__.py`). Teardown,
  `atexit` handlers and the flushing of stdout and stderr run as before.
- **Fan-out** sends 20,000 jobs from a file as one process, start-up included, against the
  chapter's `delay()` called in a loop in a process that already sent 200, with no job history
  (the chapter keeps none). The fan-out records every job in the history (one insert per batch, in
  a thread while the next batches are published, batches waiting for it in one transaction) and
  reads and checks the file once. On Redis, every
  message after the first is a copy of the one kombu built for the first job with its body, headers
  and ids replaced (`project/broker/redis_transactions.py`); the messages are still compared with
  `apply_async`'s on every broker. The row also shows the `delay()` loop with appctl's history on.
- **Import** times `appctl user import` of 100,000 CSV rows into a migrated, empty SQLite database
  (the process, start-up and every check included) against a Python script doing only
  `csv.reader` + `sqlite3.executemany` into the same schema.
- **Task history** lists the newest 100 jobs (`task history --limit 100 -o jsonl`) from a history of
  1,000,000 jobs against one of 1,000, on SQLite and on PostgreSQL (a fresh schema, analysed as
  autovacuum would). The query walks the `sent_at` index backwards and stops after 100 rows
  (SQLite sorts only the rows that share a `sent_at` by id), so its time does not grow with the
  history.
- **Memory** is the peak resident size of `user list -o jsonl` (all rows written) at 1,000 and at
  1,000,000 users: rows are fetched 1000 at a time and written as they come.
- **Round trips** are measured in one process with the
  functions `task send --wait` calls, against a real `appctl worker -P solo`; the job's own run
  time is what that worker logs for each job (it includes the job's two history writes).
  Most of the added time is the history write of the send itself: one SQLite commit, which waits
  for a disk sync and shares the database's one write lock with the worker's writes. On a loaded
  machine that commit took 3-12 ms, and an earlier run with the machine shared by other work
  measured the Redis round trip at +10.9 ms, just over the target. The app's SQLite database uses
  a write-ahead log, so a commit is one sync rather than several.
- **Worker throughput** queues 5,000 `divide(x, 2)` jobs on Redis (not timed), starts a worker
  (prefork, two processes, `-l warning --without-mingle --without-gossip`) and times it from the
  first job it takes until the result backend holds every result; runs alternate appctl on SQLite,
  the reference, appctl on PostgreSQL, the reference, five times. The reference is a plain Celery
  app (`tests/bench/plain_celery.py`) with every Celery setting appctl derives from the same
  environment (JSON, acks late, prefetch 1, track started, extended results, the transport
  options), no Flask app and no history. appctl's worker holds its history rows and writes them in
  batches, one statement a second ([operations.md](operations.md#the-job-history)); after each run
  it is stopped warm and its history must hold all 5,000 jobs as SUCCESS. Where revokes are
  broadcast (Redis), a job costs no database read before it runs. On a machine shared with other
  work the wall-clock rates vary by half from run to run; the medians and the load are in
  `results.json`.

"""


@dataclass
class Row:
    """One benchmark: appctl's figure, the reference's, their ratio and whether the target is met."""

    benchmark: str
    appctl: str
    reference: str
    ratio: str
    target: str
    met: bool
    figures: dict[str, Any] = field(default_factory=dict)


def times(ratio: float) -> str:
    """A ratio as the table shows it."""
    return f"{ratio:.2f}×"


@dataclass
class Report:
    """The rows measured in this run, in the issue's order."""

    rows: dict[int, Row] = field(default_factory=dict)

    def add(self, position: int, row: Row) -> None:
        self.rows[position] = row

    def table(self) -> str:
        """The rows as a Markdown table."""
        lines = [
            "| benchmark | appctl | reference (same run) | ratio | target | met |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for _, row in sorted(self.rows.items()):
            met = "yes" if row.met else "**no**"
            lines.append(f"| {row.benchmark} | {row.appctl} | {row.reference} | {row.ratio} | {row.target} | {met} |")
        return "\n".join(lines)

    def save(self) -> None:
        """Write every figure, with what the machine was doing, to results.json.

        Rows this run did not measure (a run of some benchmarks only) keep their last figures, each
        with the time and load of the run that measured it.
        """
        measured_at = datetime.now(UTC).isoformat(timespec="seconds")
        for _, row in sorted(self.rows.items()):
            row.figures.setdefault("measured_at", measured_at)
            row.figures.setdefault("load_average", os.getloadavg())
        rows = [asdict(row) for _, row in sorted(self.rows.items())]
        names = [row["benchmark"] for row in rows]
        if RESULTS.exists():
            earlier = json.loads(RESULTS.read_text())
            kept = [row for row in earlier["rows"] if row["benchmark"] not in names]
            for row in kept:
                row["figures"].setdefault("measured_at", earlier["measured_at"])
                row["figures"].setdefault("load_average", earlier["machine"]["load_average"])
            rows = kept + rows
        data = {
            "measured_at": measured_at,
            "machine": {
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg(),
            },
            "rows": rows,
        }
        RESULTS.write_text(json.dumps(data, indent=2) + "\n")


def render_performance(results: dict[str, Any]) -> str:
    """docs/performance.md for the run saved in ``results``."""
    report = Report({position: Row(**row) for position, row in enumerate(results["rows"])})
    machine = results["machine"]
    load = ", ".join(f"{value:.2f}" for value in machine["load_average"])
    run = (
        f"The latest run, {results['measured_at']}: {machine['cpus']} CPUs, Python {machine['python']}, "
        f"load average {load} when it ended. A run of some benchmarks keeps the other rows' last figures;\n"
        "each row's figures in `tests/bench/results.json` say when, and under what load, it was measured.\n"
    )
    return f"{INTRO}\n{run}\n{report.table()}\n\nHow each row is measured:\n\n{HOW_MEASURED}"


def write_performance() -> None:
    """Render docs/performance.md from results.json."""
    PERFORMANCE.write_text(render_performance(json.loads(RESULTS.read_text())))


if __name__ == "__main__":
    write_performance()
