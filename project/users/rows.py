"""Reading users to import: CSV with a ``username,email`` header, JSON lines as ``user list -o jsonl``
prints, or a JSON array as ``user list -o json`` prints.

An ``id`` column or key is accepted and ignored: the database numbers its users itself, and an
import matches existing users by username. ``active`` (true or false) and ``password_hash`` (as
``user export --with-password-hashes`` writes it) are optional; an empty cell or ``null`` is the
same as leaving them out. Rows come out as ``(line, username, email, extras)``, extras holding the
optional fields given, or as ``(line, None, error, {})`` for a row that cannot be read, so every
error is reported with its line.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import IO, Any

from project.errors import InvalidInput

FORMATS = ("csv", "jsonl", "json")
FIELDS = ("username", "email")
OPTIONAL = ("active", "password_hash")
IGNORED = ("id",)
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
MAX_LINE = 1 << 20  # characters in one line of CSV or JSON lines: far beyond any user's row
MAX_DOCUMENT = 1 << 29  # characters of a JSON array, which is read whole: millions of users
_CSV_BOOLEANS = {"true": True, "false": False}
Row = tuple[int, str | None, str, dict[str, Any]]


def detect_format(stream: IO[bytes], name: str | None) -> str:
    """``csv``, ``jsonl`` or ``json``: from the file name's extension, else from the first character.

    A ``.json`` file may hold either JSON shape: ``[`` first means an array, else JSON lines.
    """
    suffix = (name or "").rsplit(".", 1)[-1].lower()
    if suffix in ("csv", "jsonl", "ndjson"):
        return "csv" if suffix == "csv" else "jsonl"
    peek = getattr(stream, "peek", None)
    start = (peek(64) if peek else b"").lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"["):
        return "json"
    return "jsonl" if start.startswith(b"{") or suffix == "json" else "csv"


def rows_from(stream: IO[bytes], fmt: str | None, name: str | None) -> Iterator[Row]:
    """The rows of ``stream`` in format ``fmt``, or the format its name or content shows."""
    return read_rows(stream, fmt or detect_format(stream, name))


def read_rows(stream: IO[bytes], fmt: str) -> Iterator[Row]:
    """The rows of ``stream`` in format ``fmt``; InvalidInput when the input as a whole is unusable."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        yield from {"csv": _csv_rows, "jsonl": _jsonl_rows, "json": _json_array_rows}[fmt](text)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the input is not UTF-8 text: {exc}") from None
    finally:
        # The caller owns the stream. An interrupted import leaves this generator to be finished
        # at exit, after the caller closed the stream: then there is nothing left to detach.
        if not stream.closed:
            text.detach()


def _bounded_lines(text: IO[str]) -> Iterator[str]:
    """The lines of ``text``; InvalidInput at one longer than MAX_LINE, before it is read whole (``/dev/zero``)."""
    number = 0
    while line := text.readline(MAX_LINE + 1):
        number += 1
        if len(line) > MAX_LINE:
            raise InvalidInput(f"line {number} is longer than {MAX_LINE} characters: this is no file of users")
        yield line


def _csv_rows(text: IO[str]) -> Iterator[Row]:
    reader = csv.reader(_bounded_lines(text), strict=True)
    try:
        header = next((record for record in reader if "".join(record).strip()), None)  # blank lines: nothing
        if header is None:
            return
        names = [name.strip() for name in header]
        positions = _header_positions(names)
        optional = [(name, names.index(name)) for name in OPTIONAL if name in names]
        width = len(header)
        for record in reader:
            if not record:
                continue
            if len(record) != width:
                yield reader.line_num, None, f"has {len(record)} fields, the header has {width}", {}
                continue
            extras = _csv_extras(record, optional) if optional else {}
            if isinstance(extras, str):
                yield reader.line_num, None, extras, {}
                continue
            yield reader.line_num, record[positions[0]], record[positions[1]], extras
    except csv.Error as exc:
        raise InvalidInput(f"line {reader.line_num}: malformed CSV: {exc}") from None


def _header_positions(header: list[str]) -> tuple[int, int]:
    unknown = [name for name in header if name not in FIELDS + OPTIONAL + IGNORED]
    missing = [name for name in FIELDS if name not in header]
    if unknown or missing or len(set(header)) != len(header):
        raise InvalidInput(
            "line 1: the CSV header must name the columns username and email"
            f" (id, active and password_hash are allowed), not {header!r}"
        )
    return header.index("username"), header.index("email")


def _csv_extras(record: list[str], optional: list[tuple[str, int]]) -> dict[str, Any] | str:
    """The optional fields a CSV record gives (an empty cell gives none), or why one cannot be read."""
    extras: dict[str, Any] = {}
    for name, position in optional:
        cell = record[position]
        if not cell:
            continue
        if name == "active":
            if cell.lower() not in _CSV_BOOLEANS:
                return f"has active {cell!r}; it must be true or false"
            extras[name] = _CSV_BOOLEANS[cell.lower()]
        else:
            extras[name] = cell
    return extras


def _jsonl_rows(text: IO[str]) -> Iterator[Row]:
    for number, line in enumerate(_bounded_lines(text), start=1):
        if not line.strip():
            continue
        try:
            value: Any = json.loads(line)
        except ValueError as exc:
            yield number, None, f"is not JSON ({exc})", {}
            continue
        except RecursionError:
            yield number, None, "is JSON nested too deeply to read", {}
            continue
        yield _object_row(number, value)


def _object_row(number: int, value: Any) -> Row:
    """The row of one JSON object ``{"username": ..., "email": ...}`` (``id`` and the OPTIONAL fields allowed)."""
    if not isinstance(value, dict) or set(value) - set(FIELDS + OPTIONAL + IGNORED) or not set(FIELDS) <= set(value):
        allowed = '"id", "active" and "password_hash" are allowed'
        return number, None, f'is not an object {{"username": ..., "email": ...}} ({allowed})', {}
    if not all(isinstance(value[field], str) for field in FIELDS):
        return number, None, "has a username or email that is not a string", {}
    if value.get("active") is not None and not isinstance(value["active"], bool):
        return number, None, "has an active that is not true, false or null", {}
    if value.get("password_hash") is not None and not isinstance(value["password_hash"], str):
        return number, None, "has a password_hash that is not a string or null", {}
    extras = {name: value[name] for name in OPTIONAL if value.get(name) is not None}
    return number, value["username"], value["email"], extras


def _json_array_rows(text: IO[str]) -> Iterator[Row]:
    """The objects of one JSON array, each numbered by the line it starts on."""
    document = text.read(MAX_DOCUMENT + 1)
    if len(document) > MAX_DOCUMENT:
        raise InvalidInput(
            f"the JSON array is longer than {MAX_DOCUMENT} characters",
            hint="import it as JSON lines (one user a line), which have no such bound",
        )
    decoder, position, line = json.JSONDecoder(), 0, 1

    def skip_space(start: int) -> int:
        nonlocal line
        end = _JSON_SPACE.match(document, start).end()  # type: ignore[union-attr]  # it always matches
        line += document.count("\n", start, end)
        return end

    def fail(why: str) -> InvalidInput:
        return InvalidInput(f"line {line}: not a JSON array of users: {why}")

    position = skip_space(position)
    if position == len(document):
        return
    if document[position] != "[":
        raise fail("it must start with [")
    position = skip_space(position + 1)
    while position < len(document) and document[position] != "]":
        try:
            value, end = decoder.raw_decode(document, position)
        except ValueError as exc:
            raise fail(str(exc)) from None
        except RecursionError:
            raise fail("JSON nested too deeply to read") from None
        yield _object_row(line, value)
        line += document.count("\n", position, end)
        position = skip_space(end)
        if position < len(document) and document[position] == ",":
            position = skip_space(position + 1)
            if document.startswith("]", position):
                raise fail("a , before the closing ]")
        elif position < len(document) and document[position] != "]":
            raise fail("expected , or ] after an element")
    if position == len(document):
        raise fail("it ends before its closing ]")
    if skip_space(position + 1) != len(document):
        raise fail("there is more after its closing ]")
