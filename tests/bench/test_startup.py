"""Start-up: `appctl --help` against `flask --help`, one `task send` against `celery call` (both to Redis),
the user commands against importing the libraries they need."""

from __future__ import annotations

import itertools
import sys

from tests.bench.conftest import BIN, ROOT
from tests.bench.measure import interleaved_medians, run_timed
from tests.bench.report import Report, Row, times
from tests.conftest import APPCTL

HELP_RUNS = 15
SEND_RUNS = 10
USER_RUNS = 21
USER_FLOOR = "import flask, flask_sqlalchemy, sqlalchemy.orm, click"  # what a user command needs, in a bare process


def test_help(report: Report, embedded_env: dict[str, str]) -> None:
    appctl, flask = interleaved_medians(
        HELP_RUNS,
        lambda: run_timed([APPCTL, "--help"], embedded_env),
        lambda: run_timed([str(BIN / "flask"), "--help"], embedded_env, cwd=ROOT),
    )
    ratio = appctl / flask
    report.add(
        1,
        Row(
            "`appctl --help`",
            f"{appctl * 1000:.0f} ms",
            f"`flask --help` (FLASK_APP=app.py): {flask * 1000:.0f} ms",
            times(ratio),
            "≤ 0.15×",
            ratio <= 0.15,
            {"appctl_s": appctl, "reference_s": flask, "runs": HELP_RUNS, "statistic": "median wall time"},
        ),
    )


def test_one_send_to_redis(report: Report, redis_env: dict[str, str]) -> None:
    celery = [str(BIN / "celery"), "-A", "app.celery", "call", "project.users.tasks.divide", "-a", "[1, 2]"]
    appctl, reference = interleaved_medians(
        SEND_RUNS,
        lambda: run_timed([APPCTL, "task", "send", "divide", "1", "2"], redis_env),
        lambda: run_timed(celery, redis_env, cwd=ROOT),
    )
    ratio = appctl / reference
    report.add(
        2,
        Row(
            "one `appctl task send divide 1 2` to Redis",
            f"{appctl * 1000:.0f} ms",
            f"`celery -A app.celery call project.users.tasks.divide -a '[1, 2]'`: {reference * 1000:.0f} ms",
            times(ratio),
            "≤ 0.5×",
            ratio <= 0.5,
            {"appctl_s": appctl, "reference_s": reference, "runs": SEND_RUNS, "statistic": "median wall time"},
        ),
    )


def test_user_commands(report: Report, embedded_env: dict[str, str]) -> None:
    """`user list`, `user show` and `user add` (a new user each run), each alternating with the bare imports."""
    assert run_timed([APPCTL, "user", "add", "ann", "ann@example.com"], embedded_env) > 0
    numbers = itertools.count()
    commands = {
        "list": lambda: run_timed([APPCTL, "user", "list"], embedded_env),
        "show": lambda: run_timed([APPCTL, "user", "show", "ann"], embedded_env),
        "add": lambda: run_timed(
            [APPCTL, "user", "add", f"u{(n := next(numbers))}", f"u{n}@example.com"], embedded_env
        ),
    }
    floor = [sys.executable, "-c", USER_FLOOR]
    measured = interleaved_medians(
        USER_RUNS,
        *(step for command in commands.values() for step in (command, lambda: run_timed(floor, embedded_env))),
    )
    ours = dict(zip(commands, measured[0::2], strict=True))
    theirs = dict(zip(commands, measured[1::2], strict=True))
    ratios = {name: ours[name] / theirs[name] for name in commands}
    worst = max(ratios.values())
    report.add(
        22,
        Row(
            "`appctl user list`, `user show`, `user add`, one-shot, embedded",
            ", ".join(f"{name} {ours[name] * 1000:.0f} ms ({times(ratios[name])})" for name in commands),
            f'`python -c "{USER_FLOOR}"`: {min(theirs.values()) * 1000:.0f}-{max(theirs.values()) * 1000:.0f} ms',
            times(worst),
            "≤ 1.1× its time",
            worst <= 1.1,
            {
                **{f"{name}_s": ours[name] for name in commands},
                **{f"reference_with_{name}_s": theirs[name] for name in commands},
                "runs": USER_RUNS,
                "statistic": "median wall time; each command alternates with its own reference runs",
            },
        ),
    )
