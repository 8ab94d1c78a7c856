"""Rendering records that change while they are shown: a table redrawn in place, or one line per change."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from cli.render import Record, render_records, stdout_console, table_of

if TYPE_CHECKING:
    from rich.table import Table

LIVE_REFRESH = 1.0  # redraws a second: relative times ("5s ago") keep ticking while nothing changes
FIXED_WIDTHS = {"id": 36, "state": 7}  # a uuid, the longest state; the other columns share what is left
TIME_WIDTH = 8  # "59m ago", "in 23h"


def stream_format(fmt: str | None) -> str:
    """The chosen format, or the default for records that keep coming: a table on a terminal, else jsonl."""
    return fmt or ("table" if sys.stdout.isatty() else "jsonl")


def render_live(
    updates: Iterable[list[Record]], columns: Sequence[str], fmt: str | None, table_columns: Sequence[str]
) -> list[Record]:
    """Show each batch of changed records as it comes; return the last record of each id, in first-seen order.

    A table (on a terminal) is redrawn in place; every other format prints each changed record.
    """
    latest: dict[str, Record] = {}

    def remember(batches: Iterable[list[Record]]) -> Iterator[list[Record]]:
        for batch in batches:
            latest.update((record["id"], record) for record in batch)
            yield batch

    if stream_format(fmt) != "table":
        render_records(_flushed(remember(updates)), columns, stream_format(fmt))
        return list(latest.values())
    from rich.live import Live

    def view() -> Table:
        return table_of(latest.values(), table_columns)

    with Live(get_renderable=view, console=stdout_console(), refresh_per_second=LIVE_REFRESH) as live:
        for _ in remember(updates):
            live.refresh()
    return list(latest.values())


def render_changes(
    updates: Iterable[list[Record]], columns: Sequence[str], fmt: str | None, table_columns: Sequence[str]
) -> None:
    """Print each changed record as it comes, one line each: on a terminal, rows of one table under one header."""
    if stream_format(fmt) != "table":
        render_records(_flushed(updates), columns, stream_format(fmt))
        return
    console = stdout_console()
    console.print(_rows([], table_columns, True, console.width))
    for batch in updates:
        if batch:
            console.print(_rows(batch, table_columns, False, console.width))


def _rows(records: list[Record], columns: Sequence[str], header: bool, width: int) -> Table:
    """Rows of widths that depend on the terminal only, so that rows printed apart line up."""
    from rich import box

    table = table_of(records, columns)
    table.box, table.show_header, table.show_edge, table.expand, table.width = box.SIMPLE, header, False, True, width
    for column in table.columns:
        name = str(column.header)
        fixed = FIXED_WIDTHS.get(name, TIME_WIDTH if name.endswith("_at") else None)
        column.width, column.ratio, column.min_width = fixed, None if fixed else 1, None
        column.no_wrap = name != "id"  # one line per change: the other columns are cut short; an id never is
        column.overflow = "fold" if name == "id" else "ellipsis"  # an id longer than a uuid goes on below
    return table


def _flushed(updates: Iterable[list[Record]]) -> Iterator[Record]:
    """The records of each batch, stdout flushed before waiting for the next: a pipe sees each change at once."""
    for batch in updates:
        yield from batch
        sys.stdout.flush()
