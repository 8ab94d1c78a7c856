"""Ids of jobs and messages: UUIDs of version 7 (RFC 9562), which sort by the time they were made.

kombu and Celery make random (version 4) UUIDs, one ``os.urandom`` call each. A bulk send makes a
batch's ids with one call, and ordered by time they land at the end of the history's primary-key
index instead of all over it: a 20k-line send into a history of a few hundred thousand jobs writes
a few index pages per batch instead of about one per job.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

_VARIANT = "89ab89ab89ab89ab"  # a hex digit's two low bits make the variant digit 10xx


def new_ids(count: int) -> list[str]:
    """``count`` new version-7 UUIDs in increasing order: the time in milliseconds, then 74 random bits."""
    stamp = f"{time.time_ns() // 1_000_000:012x}"
    head, middle = stamp[:8], stamp[8:]
    noise = os.urandom(10 * count).hex()  # one system call for the batch; 20 hex digits per id
    ids = [
        f"{head}-{middle}-7{noise[at : at + 3]}-{_VARIANT[int(noise[at + 3], 16)]}{noise[at + 4 : at + 7]}"
        f"-{noise[at + 7 : at + 19]}"
        for at in range(0, 20 * count, 20)
    ]
    ids.sort()
    return ids


def id_supply(batch: int = 1000) -> Iterator[str]:
    """New ids without end, made ``batch`` at a time."""
    while True:
        yield from new_ids(batch)
