"""The one renderer: plain data in, table / json / jsonl / csv / plain text out on stdout."""

from __future__ import annotations

import csv
import itertools
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("table", "json", "jsonl", "csv", "plain")
Record = dict[str, Any]
TABLE_LIMIT = 1000  # a table is built whole before it prints; longer lists stream in the other formats
_encoder = json.JSONEncoder(ensure_ascii=False, default=str)  # one encoder: json.dumps(**options) builds one a call

_no_color = False


def set_no_color(no_color: bool) -> None:
    """Turn colour and every other terminal style off for this run (``--no-color``, ``NO_COLOR``)."""
    global _no_color
    _no_color = no_color


def output_option(command: F) -> F:
    """The ``-o/--output`` option every data-printing command takes."""
    return click.option(
        "-o",
        "--output",
        "fmt",
        type=click.Choice(FORMATS),
        default=None,
        help="Output format [default: table on a terminal, plain otherwise].",
    )(command)


def resolve_format(fmt: str | None) -> str:
    """The chosen format, or the default for where stdout goes."""
    return fmt or ("table" if sys.stdout.isatty() else "plain")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and "\t" not in value and "\n" not in value:
        return value
    return json.dumps(value, ensure_ascii=False)


def _json(value: Any) -> str:
    return _encoder.encode(value)


def render_records(
    records: Iterable[Record],
    columns: Sequence[str],
    fmt: str | None,
    title: str | None = None,
    table_columns: Sequence[str] | None = None,
) -> None:
    """Print ``records`` (streamed, except for tables) with ``columns`` (a table: ``table_columns``) as ``fmt``."""
    fmt = resolve_format(fmt)
    write = sys.stdout.write
    if fmt == "table":
        _print_limited_table(iter(records), table_columns or columns, title)
    elif fmt == "json":
        write("[")
        for index, record in enumerate(records):
            write(("," if index else "") + "\n  " + _json({c: record.get(c) for c in columns}))
        write("\n]\n")
    elif fmt == "jsonl":
        for record in records:
            write(_json({c: record.get(c) for c in columns}) + "\n")
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_csv_cell(r.get(c)) for c in columns] for r in records)
    else:
        for record in records:
            write("\t".join(_text(record.get(c)) for c in columns) + "\n")
    sys.stdout.flush()


def render_record(record: Record, columns: Sequence[str], fmt: str | None) -> None:
    """Print one record: an object in JSON, a field/value table on a terminal, one line otherwise."""
    fmt = resolve_format(fmt)
    if fmt == "json":
        sys.stdout.write(_json({c: record.get(c) for c in columns}) + "\n")
    elif fmt == "table":
        _print_table([[c, _text(record.get(c))] for c in columns], ["field", "value"], None)
    else:
        render_records([record], columns, fmt)


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    return value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else _json(value)


def _print_limited_table(records: Iterator[Record], columns: Sequence[str], title: str | None) -> None:
    rows = [[_text(r.get(c)) for c in columns] for r in itertools.islice(records, TABLE_LIMIT)]
    _print_table(rows, columns, title)
    if next(records, None) is not None:
        note(f"Only the first {TABLE_LIMIT} rows are shown: -o plain, csv, json or jsonl list them all.")


def _print_table(rows: list[list[str]], columns: Sequence[str], title: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, title=title, header_style="bold")
    for row in rows:
        table.add_row(*row, style=None)
    # rich's own no_color keeps bold and other styles; color_system=None writes no escape codes at all
    Console(color_system=None if _no_color else "auto", highlight=False).print(table)


_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def relative_time(moment: str | None, now: datetime | None = None) -> str | None:
    """An ISO 8601 time as people read it in a table: ``in 3h``, ``2m ago`` (the largest whole unit)."""
    if moment is None:
        return None
    seconds = (datetime.fromisoformat(moment) - (now or datetime.now(UTC))).total_seconds()
    size = abs(seconds)
    unit, length = next(((unit, length) for unit, length in _UNITS if size >= length), ("s", 1))
    amount = f"{int(size // length)}{unit}"
    return f"in {amount}" if seconds >= 0 else f"{amount} ago"


def note(message: str) -> None:
    """A progress or status line for people, on stderr."""
    click.echo(message, err=True)


@contextmanager
def progress(total: int | None, description: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when it is a terminal; yields ``advance(n)``."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True, color_system=None if _no_color else "auto")
    # stdout stays data: rich would otherwise print what commands write there above the bar, on stderr
    with Progress(console=console, transient=True, redirect_stdout=False, redirect_stderr=False) as bar:
        task_id = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task_id, n)
