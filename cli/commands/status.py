"""``appctl status``: one health check of the whole system."""

from __future__ import annotations

import click

from cli.render import output_option, render_records
from cli.state import with_app

COLUMNS = ("check", "ok", "detail", "data")


@click.command()
@output_option
@with_app
def status(fmt: str | None) -> None:
    """Check the database, broker, result backend and workers; exit 1 unless all are healthy (ends in ~5 s)."""
    from project.errors import Unhealthy
    from project.jobs.health import system_status

    checks = system_status()
    render_records(checks, COLUMNS, fmt, table_columns=COLUMNS[:3])
    failed = [check["check"] for check in checks if not check["ok"]]
    if failed:
        raise Unhealthy(f"not healthy: {', '.join(failed)}")
