"""The one renderer: plain data in, table / json / jsonl / csv / plain text out on stdout."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("table", "json", "jsonl", "csv", "plain")
Record = dict[str, Any]

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
    return json.dumps(value, ensure_ascii=False, default=str)


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
        shown = table_columns or columns
        _print_table([[_text(r.get(c)) for c in shown] for r in records], shown, title)
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
    return "" if value is None else value if isinstance(value, (str, int, float)) else _json(value)


def _print_table(rows: list[list[str]], columns: Sequence[str], title: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, title=title, header_style="bold")
    for row in rows:
        table.add_row(*row, style=None)
    # rich's own no_color keeps bold and other styles; color_system=None writes no escape codes at all
    Console(color_system=None if _no_color else "auto", highlight=False).print(table)


def note(message: str) -> None:
    """A progress or status line for people, on stderr."""
    click.echo(message, err=True)
