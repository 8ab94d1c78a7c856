"""Reading users to import: CSV with a ``username,email`` header, or JSON lines as ``user list -o jsonl`` prints.

An ``id`` column or key is accepted and ignored: the database numbers its users itself, and an
import matches existing users by username. Rows come out as ``(line, username, email)``, or as
``(line, None, error)`` for a row that cannot be read, so every error is reported with its line.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import IO, Any

from project.errors import InvalidInput

FORMATS = ("csv", "jsonl")
FIELDS = ("username", "email")
IGNORED = ("id",)
Row = tuple[int, str | None, str]


def detect_format(stream: IO[bytes], name: str | None) -> str:
    """``csv`` or ``jsonl``: from the file name's extension, else from the first character."""
    suffix = (name or "").rsplit(".", 1)[-1].lower()
    if suffix in ("csv", "jsonl", "ndjson", "json"):
        return "csv" if suffix == "csv" else "jsonl"
    peek = getattr(stream, "peek", None)
    start = (peek(64) if peek else b"").lstrip(b"\xef\xbb\xbf \t\r\n")
    return "jsonl" if start.startswith(b"{") else "csv"


def rows_from(stream: IO[bytes], fmt: str | None, name: str | None) -> Iterator[Row]:
    """The rows of ``stream`` in format ``fmt``, or the format its name or content shows."""
    return read_rows(stream, fmt or detect_format(stream, name))


def read_rows(stream: IO[bytes], fmt: str) -> Iterator[Row]:
    """The rows of ``stream`` in format ``fmt``; InvalidInput when the input as a whole is unusable."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        yield from (_csv_rows(text) if fmt == "csv" else _jsonl_rows(text))
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the input is not UTF-8 text: {exc}") from None
    finally:
        # The caller owns the stream. An interrupted import leaves this generator to be finished
        # at exit, after the caller closed the stream: then there is nothing left to detach.
        if not stream.closed:
            text.detach()


def _csv_rows(text: IO[str]) -> Iterator[Row]:
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return
        positions = _header_positions([name.strip() for name in header])
        width = len(header)
        for record in reader:
            if not record:
                continue
            if len(record) != width:
                yield reader.line_num, None, f"has {len(record)} fields, the header has {width}"
                continue
            yield reader.line_num, record[positions[0]], record[positions[1]]
    except csv.Error as exc:
        raise InvalidInput(f"line {reader.line_num}: malformed CSV: {exc}") from None


def _header_positions(header: list[str]) -> tuple[int, int]:
    unknown = [name for name in header if name not in FIELDS + IGNORED]
    missing = [name for name in FIELDS if name not in header]
    if unknown or missing or len(set(header)) != len(header):
        raise InvalidInput(
            f"line 1: the CSV header must name the columns username and email (id is allowed), not {header!r}"
        )
    return header.index("username"), header.index("email")


def _jsonl_rows(text: IO[str]) -> Iterator[Row]:
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            value: Any = json.loads(line)
        except ValueError as exc:
            yield number, None, f"is not JSON ({exc})"
            continue
        if not isinstance(value, dict) or set(value) - set(FIELDS + IGNORED) or not set(FIELDS) <= set(value):
            yield number, None, 'is not an object {"username": ..., "email": ...} ("id" is allowed)'
        elif not all(isinstance(value[field], str) for field in FIELDS):
            yield number, None, "has a username or email that is not a string"
        else:
            yield number, value["username"], value["email"]
