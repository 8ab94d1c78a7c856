"""Reading jobs from JSON lines: ``[args…]`` or ``{"args": […], "kwargs": {…}}``, each checked against the task."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO

from celery import Task

from project.errors import InvalidInput
from project.jobs.publish import BATCH_SIZE, Job
from project.jobs.registry import MAX_NESTING, check_json_values, check_signature

READ_SIZE = 1 << 16
SHAPE = 'a JSON array of arguments or an object {"args": [...], "kwargs": {...}}'


def line_chunks(stream: IO[bytes]) -> Iterator[list[bytes]]:
    """The complete lines of ``stream`` in chunks of whatever has arrived (a pipe is not waited on)."""
    read = getattr(stream, "read1", stream.read)
    rest = b""
    while chunk := read(READ_SIZE):
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        if lines:
            yield lines
    if rest:
        yield [rest]


def parse_job(text: bytes, line: int) -> Job:
    """The job on one input line; InvalidInput naming the line when it is not one."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"line {line}: not JSON ({exc}); each line must be {SHAPE}") from None
    except RecursionError:
        raise InvalidInput(f"line {line}: arguments must be nested at most {MAX_NESTING} levels deep") from None
    if isinstance(value, list):
        return Job(tuple(value), {}, line)
    if isinstance(value, dict) and not set(value) - {"args", "kwargs"}:
        args, kwargs = value.get("args", []), value.get("kwargs", {})
        if isinstance(args, list) and isinstance(kwargs, dict):
            return Job(tuple(args), kwargs, line)
    raise InvalidInput(f"line {line}: {text.decode(errors='replace')[:80]!r} is not {SHAPE}")


class ArgumentChecker:
    """Checks jobs as ``check_arguments`` does: the signature once per shape (how many positional
    arguments, which keywords), the values on every line."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.verdicts: dict[tuple[int, frozenset[str]], str | None] = {}

    def check(self, job: Job) -> None:
        """Raise InvalidInput naming the job's line unless its arguments fit the task."""
        shape = (len(job.args), frozenset(job.kwargs))
        if shape not in self.verdicts:
            try:
                check_signature(self.task, list(job.args), job.kwargs)
                self.verdicts[shape] = None
            except InvalidInput as exc:
                self.verdicts[shape] = exc.message
        verdict = self.verdicts[shape]
        try:
            if verdict is not None:
                raise InvalidInput(verdict)
            check_json_values(job.args, job.kwargs)
        except InvalidInput as exc:
            raise InvalidInput(f"line {job.line}: {exc.message}") from None


def job_batches(stream: IO[bytes], task: Task, size: int = BATCH_SIZE) -> Iterator[list[Job]]:
    """Checked jobs from ``stream`` in batches of at most ``size``; blank lines are skipped.

    A bad line raises InvalidInput, after the good lines before it were yielded.
    """
    checker, number = ArgumentChecker(task), 0
    batch: list[Job] = []
    for lines in line_chunks(stream):
        for text in lines:
            number += 1
            if not text.strip():
                continue
            try:
                job = parse_job(text, number)
                checker.check(job)
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
