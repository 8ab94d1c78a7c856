"""Taking a unique key in the job history, and giving it back (project/jobs/unique.py sends the job).

A key is taken by inserting the job's row (``INSERT … ON CONFLICT DO NOTHING`` against the partial
unique index ``ix_jobs_unique_key_live``) through the app's history writer, never by a read followed
by a write. A key held by an UNKNOWN row younger than the longest send (project/bounds.py) is being
taken by another process: it is waited for. Before a holder is reported, the result backend is asked
about it, so a finished job whose end the history missed never keeps its key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

from project.errors import Conflict, ServiceUnavailable, TimedOut
from project.failures import database_errors
from project.jobs.history.values import FINISHED_STATES, LIVE_STATES, UNKNOWN, backend_outcome, sent_row, utcnow
from project.jobs.history.write import HistoryWriter, history_guard
from project.jobs.publisher import SentJob

logger = logging.getLogger("appctl.unique")

SETTLE_POLL = 0.02  # seconds between reads of a key another process is taking


class UniqueClaims:
    """Taking, settling and giving back unique keys through the app's history writer."""

    def __init__(self, writer: HistoryWriter, config: Mapping[str, Any]) -> None:
        self.writer = writer
        self.database_url: str = config["DATABASE_URL"]
        self.longest_send = timedelta(seconds=config["LONGEST_SEND"])

    def take(self, key: str, row: dict[str, Any]) -> dict[str, Any] | None:
        """Insert ``row`` holding ``key``: None when it went in, else the live job that holds the key.

        Conflict when that job's fate is unknown; TimedOut when the key never settles within the longest send.
        """
        deadline = time.monotonic() + self.longest_send.total_seconds()
        while True:
            with self._database():
                if self.writer.claim(row):
                    return None
                holder = self.writer.holder(key)
            while holder is not None and self._in_flight(holder) and time.monotonic() < deadline:
                time.sleep(SETTLE_POLL)  # another process is sending it right now: wait for its outcome
                with self._database():
                    holder = self.writer.holder(key)
            if holder is not None:
                holder = self._settle_from_backend(holder)
                if holder["state"] == UNKNOWN:
                    raise unknown_holder(key, holder["id"])
                if holder["state"] not in FINISHED_STATES:
                    return holder
            if time.monotonic() >= deadline:  # the key was freed and taken again all along
                raise TimedOut(f"the unique key {key!r} did not settle within {self.longest_send.total_seconds():g}s")

    def confirm(self, task_id: str, sent: SentJob | None) -> None:
        """The broker has the job: its row gets the queue and schedule, and UNKNOWN becomes PENDING
        (a worker that already recorded more keeps what it recorded)."""
        with history_guard("sending", [task_id]):
            if sent is not None:
                self.writer.record_sent([sent_fields(sent)])  # fills what is still empty; keeps the state
            self.writer.settle(task_id, (UNKNOWN,), {"state": "PENDING"})

    def release(self, task_id: str) -> None:
        """The broker refused the job: delete its row, which frees the key (a failure only warns)."""
        with history_guard("refusal", [task_id]):
            self.writer.release(task_id, UNKNOWN)

    def _in_flight(self, holder: dict[str, Any]) -> bool:
        """An UNKNOWN holder whose send may still be going on."""
        sent_at = holder["sent_at"]
        return holder["state"] == UNKNOWN and sent_at is not None and utcnow() - sent_at < self.longest_send

    def _settle_from_backend(self, holder: dict[str, Any]) -> dict[str, Any]:
        """The holder, brought up to what the result backend knows of it (written to the history)."""
        from project.jobs.results import job_state  # the result backend: read only when a key is held

        try:
            known = job_state(holder["id"])
        except ServiceUnavailable as exc:
            why = "the result backend cannot say whether job %s finished, so it still holds its unique key: %s"
            logger.warning(why, holder["id"], exc.message)
            return holder
        state = known["state"]
        if state in FINISHED_STATES:
            with self._database():
                self.writer.settle(holder["id"], LIVE_STATES, finished_fields(known))
            return {**holder, "state": state}
        if holder["state"] == UNKNOWN and state in ("STARTED", "RETRY"):  # it was queued after all
            with self._database():
                self.writer.settle(holder["id"], (UNKNOWN,), {"state": state})
            return {**holder, "state": state}
        return holder

    def _database(self) -> AbstractContextManager[None]:
        return database_errors(self.database_url)


def sent_fields(sent: SentJob) -> dict[str, Any]:
    """The history row of a job the broker has (``write.record_sent``'s, as a row)."""
    return sent_row(sent.id, sent.name, list(sent.args), sent.kwargs, sent.queue, eta=sent.eta, expires=sent.expires)


def finished_fields(known: dict[str, Any]) -> dict[str, Any]:
    """The history columns of a job the result backend knows finished, its state included."""
    outcome = backend_outcome(known)
    return {"state": known["state"], **outcome, "finished_at": outcome["finished_at"] or utcnow()}


def unknown_holder(key: str, task_id: str) -> Conflict:
    """The error for a key held by a job whose send ended with the broker's answer lost."""
    return Conflict(
        f"job {task_id} holds the unique key {key!r}, and whether the broker has it is unknown "
        "(its send failed with the broker's answer lost, or was cut short)",
        hint=f"if it is not queued, revoke {task_id} to free the key; a worker that runs it frees the key too",
    )
