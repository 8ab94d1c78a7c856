"""Reading jobs from JSON lines: ``[args…]`` or ``{"args": […], "kwargs": {…}}`` (the send service checks them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO

from project.bounds import MAX_NESTING
from project.errors import InvalidInput
from project.jobs.publisher import SEND_BATCH_SIZE, JobToSend

READ_SIZE = 1 << 16
MAX_LINE = 1 << 24  # bytes in one line: far beyond any job's arguments (a line is held whole until it ends)
SHAPE = 'a JSON array of arguments or an object {"args": [...], "kwargs": {...}}'


def line_chunks(stream: IO[bytes]) -> Iterator[list[bytes]]:
    """The complete lines of ``stream`` in chunks of whatever has arrived (a pipe is not waited on)."""
    read = getattr(stream, "read1", stream.read)
    rest, done = b"", 0
    while chunk := read(READ_SIZE):
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        if len(rest) > MAX_LINE:  # /dev/zero: refused once this much is read, not when memory runs out
            raise InvalidInput(
                f"line {done + len(lines) + 1} is longer than {MAX_LINE} bytes; each line must be {SHAPE}"
            )
        if lines:
            done += len(lines)
            yield lines
    if rest:
        yield [rest]


def parse_job(text: bytes, line: int) -> JobToSend:
    """The job on one input line; InvalidInput naming the line when it is not one."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"line {line}: not JSON ({exc}); each line must be {SHAPE}") from None
    except RecursionError:
        raise InvalidInput(f"line {line}: arguments must be nested at most {MAX_NESTING} levels deep") from None
    if isinstance(value, list):
        return JobToSend(tuple(value), {}, line)
    if isinstance(value, dict) and not set(value) - {"args", "kwargs"}:
        args, kwargs = value.get("args", []), value.get("kwargs", {})
        if isinstance(args, list) and isinstance(kwargs, dict):
            return JobToSend(tuple(args), kwargs, line)
    raise InvalidInput(f"line {line}: {text.decode(errors='replace')[:80]!r} is not {SHAPE}")


def job_batches(stream: IO[bytes], size: int = SEND_BATCH_SIZE) -> Iterator[list[JobToSend]]:
    """The jobs of ``stream`` in batches of at most ``size``; blank lines are skipped.

    A line that is not a job raises InvalidInput naming it, after the jobs before it were yielded.
    """
    number = 0
    batch: list[JobToSend] = []
    for lines in line_chunks(stream):
        for text in lines:
            number += 1
            if not text.strip():
                continue
            try:
                job = parse_job(text, number)
            except InvalidInput:
                if batch:
                    yield batch
                raise
            batch.append(job)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:  # send what has arrived without waiting for more input
            yield batch
            batch = []
