"""``appctl status``: one health check of the whole system."""

from __future__ import annotations

from typing import Any

import click

from cli.exit_codes import REMEDY_HINTS
from cli.render import output_option, render_records
from cli.state import with_app

COLUMNS = ("check", "ok", "detail", "data")


def with_remedy_hint(check: dict[str, Any]) -> dict[str, Any]:
    """The check with the command that mends it, if it names a remedy, added to its detail."""
    remedy = check.pop("remedy", None)
    hint = REMEDY_HINTS.get(remedy or "")
    return {**check, "detail": f"{check['detail']} ({hint})"} if hint else check


@click.command()
@output_option
@with_app
def status(fmt: str | None) -> None:
    """Check the database, broker, result backend and workers; exit 1 unless all are healthy (ends in ~5 s)."""
    from project.errors import Unhealthy
    from project.jobs.health import system_status

    checks = [with_remedy_hint(check) for check in system_status()]
    render_records(checks, COLUMNS, fmt, table_columns=COLUMNS[:3])
    failed = [check["check"] for check in checks if not check["ok"]]
    if failed:
        raise Unhealthy(f"not healthy: {', '.join(failed)}")
