"""Start-up: `appctl --help` against `flask --help`, one `task send` against `celery call` (both to Redis)."""

from __future__ import annotations

from tests.bench.conftest import BIN, ROOT
from tests.bench.measure import interleaved_medians, run_timed
from tests.bench.report import Report, Row, times
from tests.conftest import APPCTL

HELP_RUNS = 15
SEND_RUNS = 10


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
