"""The one renderer: plain data in, table / json / jsonl / csv / plain text out on stdout."""

from __future__ import annotations

import csv
import functools
import itertools
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from project.readable import DRAWS_NOTHING

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.progress import Progress
    from rich.table import Table

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("table", "json", "jsonl", "csv", "plain")
IDS = "ids"  # not a choice of -o: what -q/--ids selects
Record = dict[str, Any]
TABLE_LIMIT = 1000  # a table is built whole before it prints; longer lists stream in the other formats
UNBOUNDED_WIDTH = 100_000  # columns: a table printed to a file or a pipe is as wide as its widest row
# One encoder: json.dumps(**options) builds one a call. No NaN or Infinity: what is printed is strict JSON.
_encoder = json.JSONEncoder(ensure_ascii=False, default=str, allow_nan=False)

# A job state's colour in tables (values.STATES: tests/cli/test_render.py checks each has one).
STATE_STYLES = {
    "PENDING": "blue",
    "UNKNOWN": "yellow",
    "STARTED": "cyan",
    "RETRY": "yellow",
    "SUCCESS": "green",
    "FAILURE": "red",
    "REVOKED": "magenta",
}
ID_COLUMNS = frozenset({"id", "retry_of", "retried_by"})  # and every column named *_id: never cut in a table
TIME_COLUMNS = frozenset({"eta", "due", "expires", "last_seen", "before"})  # and every *_at: relative in a table
_UNITS = (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))

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


def ids_option(command: F) -> F:
    """The ``-q/--ids`` flag of a listing: print only the ids, one a line (for ``xargs``); not with ``-o``."""

    @functools.wraps(command)
    def print_ids_only(*args: Any, ids: bool, **kwargs: Any) -> Any:
        if ids:
            if kwargs.get("fmt") is not None:
                raise click.UsageError("-q/--ids prints only ids, one a line: it takes no -o/--output")
            kwargs["fmt"] = IDS
        return command(*args, **kwargs)

    return click.option("-q", "--ids", is_flag=True, help="Print only the ids, one a line.")(print_ids_only)  # type: ignore[return-value]


def resolve_format(fmt: str | None, columns: Sequence[str] = ()) -> str:
    """The chosen format, or the default for where stdout goes.

    A single column (a job id) is printed bare on a terminal too: a one-column table is only noise.
    """
    return fmt or ("table" if sys.stdout.isatty() and len(columns) != 1 else "plain")


def _text(value: Any) -> str:
    """A plain or table cell: a string as it is when every character draws itself, else JSON whose
    strings escape what a terminal would act on or not draw (``\\u001b``, the bidi override ``\\u202e``)."""
    if value is None:
        return ""
    if isinstance(value, str) and _all_draw(value):
        return value
    encoded = json.dumps(value, ensure_ascii=False)
    return encoded if _all_draw(encoded) else "".join(map(_visible, encoded))


_LINE_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _draws_itself(char: str) -> bool:
    """Neither a control, format or separator character nor one that draws nothing (U+115F, project/readable.py)."""
    return char.isprintable() and ord(char) not in DRAWS_NOTHING


def _all_draw(text: str) -> bool:
    return text.isprintable() and (text.isascii() or all(map(_draws_itself, text)))


def printable(text: str) -> str:
    """``text`` as one line no terminal is steered by: each character that does not draw itself escaped
    as Python writes it (``\\n``, ``\\x1b``, ``\\u202e``). For messages on stderr: a job's error text is anyone's."""
    if _all_draw(text):
        return text
    return "".join(char if _draws_itself(char) else _LINE_ESCAPES.get(char) or _escaped(char) for char in text)


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _visible(char: str) -> str:
    """``char``, or its JSON escape when it does not draw itself (only inside a JSON string: the rest is ASCII)."""
    if _draws_itself(char):
        return char
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"  # a surrogate pair, as JSON writes it


def _json(value: Any) -> str:
    try:
        return _encoder.encode(value)
    except ValueError:  # a job's result of inf or nan: written as the string "Infinity" or "NaN"
        from project.json_text import finite_json

        return _encoder.encode(finite_json(value))


def render_records(
    records: Iterable[Record],
    columns: Sequence[str],
    fmt: str | None,
    title: str | None = None,
    table_columns: Sequence[str] | None = None,
) -> None:
    """Print ``records`` (streamed, except for tables) with ``columns`` (a table: ``table_columns``) as ``fmt``."""
    fmt = resolve_format(fmt, columns)
    write = sys.stdout.write
    if fmt == IDS:
        for record in records:
            write(f"{record['id']}\n")
    elif fmt == "table":
        _print_limited_table(iter(records), table_columns or columns, title)
    elif fmt == "json":
        index = -1
        try:
            for index, record in enumerate(records):
                write(("," if index else "[") + "\n  " + _json({c: record.get(c) for c in columns}))
        finally:  # cut short (Ctrl-C, an error) after a record: still one JSON document, of what was done
            if index >= 0:
                write("\n]\n")
        if index < 0:
            write("[\n]\n")
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
    fmt = resolve_format(fmt, columns)
    if fmt == "json":
        sys.stdout.write(_json({c: record.get(c) for c in columns}) + "\n")
    elif fmt == "table":
        now = datetime.now(UTC)
        rows = [{"field": c, "value": _cell(c, record.get(c), now)} for c in columns]
        _print(_table(rows, ("field", "value"), None))
    else:
        render_records([record], columns, fmt)


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    return value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else _json(value)


def _print_limited_table(records: Iterator[Record], columns: Sequence[str], title: str | None) -> None:
    shown: list[Record] = []
    try:
        for record in itertools.islice(records, TABLE_LIMIT):
            shown.append(record)
    except KeyboardInterrupt:  # the rows done so far are shown before the command ends
        _print(table_of(shown, columns, title))
        raise
    _print(table_of(shown, columns, title))
    if next(records, None) is not None:
        note(f"Only the first {TABLE_LIMIT} rows are shown: -o plain, csv, json or jsonl list them all.")


def table_of(records: Iterable[Record], columns: Sequence[str], title: str | None = None) -> Table:
    """``records`` as a rich table: ids whole, states in colour, times relative to now."""
    now = datetime.now(UTC)
    rows = [{c: _cell(c, r.get(c), now) for c in columns} for r in records]
    return _table(rows, columns, title)


def _table(rows: list[dict[str, Any]], columns: Sequence[str], title: str | None) -> Table:
    """The table of cells ``rows``: the first column (what names a row), ids, states and times never
    wrap; the others give way first."""
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    for index, column in enumerate(columns):
        cells = [row[column] for row in rows]
        if not index or _is_id(column) or column == "state" or _is_time(column):
            widest = max((len(str(cell)) for cell in cells), default=0)
            table.add_column(column, no_wrap=True, min_width=max(widest, len(column)))
        else:
            table.add_column(column)
    for row in rows:
        table.add_row(*(row[column] for column in columns))
    return table


def _cell(column: str, value: Any, now: datetime) -> Any:
    """A table cell: a state in its colour, a time as "2m ago" / "in 3h", anything else as plain text."""
    from rich.text import Text

    if column == "state" and value in STATE_STYLES:
        return Text(value, style=STATE_STYLES[value])
    if _is_time(column) and isinstance(value, str):
        moment = _parse_time(value)
        return Text(relative_time(moment, now) if moment else value)
    return Text(_text(value))


def _is_id(column: str) -> bool:
    return column in ID_COLUMNS or column.endswith("_id")


def _is_time(column: str) -> bool:
    return column in TIME_COLUMNS or column.endswith("_at")


def _parse_time(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def relative_time(moment: datetime, now: datetime) -> str:
    """``moment`` as people read it in a table: "now", "2m ago", "in 3h" (whole units, rounded down)."""
    seconds = (moment - now).total_seconds()
    for unit, size in _UNITS:
        count = int(abs(seconds) // size)
        if count:
            return f"in {count}{unit}" if seconds > 0 else f"{count}{unit} ago"
    return "now"


def _print(renderable: RenderableType) -> None:
    # rich's own no_color keeps bold and other styles; color_system=None writes no escape codes at all
    console = stdout_console()
    if not console.is_terminal:
        # A file or a pipe has no width to fit: rich would squeeze the table into 80 columns, cutting
        # names short and, past the ids' width, leaving some columns out. It is printed whole instead.
        from rich.measure import Measurement

        unbounded = console.options.update_width(UNBOUNDED_WIDTH)
        console.width = max(console.width, Measurement.get(console, unbounded, renderable).maximum)
    console.print(renderable)


def stdout_console() -> Console:
    """The rich console on stdout: colour only on a terminal, and never with --no-color or NO_COLOR."""
    from rich.console import Console

    return Console(color_system=None if _no_color else "auto", highlight=False)


def note(message: str) -> None:
    """A progress or status line for people, on stderr."""
    click.echo(message, err=True)


class ProgressBar:
    """A progress bar on stderr (or nothing, off a terminal): call it with ``n`` to advance it."""

    def __init__(self, bar: Progress | None = None, total: int | None = None, description: str = "") -> None:
        self._bar = bar
        self._task = bar.add_task(description, total=total) if bar is not None else None

    def __call__(self, n: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, n)

    @contextmanager
    def cleared(self) -> Iterator[None]:
        """Take the bar off the screen while data is printed to a terminal on stdout, then draw it again below.

        stdout and stderr share that terminal: ids written while the bar is drawn would be glued to it.
        """
        if self._bar is None or not sys.stdout.isatty():
            yield
            return
        self._bar.stop()  # transient: rich erases the bar and puts the cursor back where it began
        try:
            yield
            sys.stdout.flush()
        finally:
            self._bar.start()


@contextmanager
def progress(total: int | None, description: str) -> Iterator[ProgressBar]:
    """A progress bar on stderr when it is a terminal; yields it (``bar(n)`` advances it)."""
    if not sys.stderr.isatty():
        yield ProgressBar()
        return
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True, color_system=None if _no_color else "auto")
    # stdout stays data: rich would otherwise print what commands write there above the bar, on stderr
    with Progress(console=console, transient=True, redirect_stdout=False, redirect_stderr=False) as bar:
        yield ProgressBar(bar, total, description)
