"""``task run-now``: a job waiting for its eta, revoked and sent again at once as a copy linked to it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from project.errors import Conflict
from project.extensions import db
from project.interrupts import interrupts_held
from project.jobs.history.models import jobs
from project.jobs.history.values import LIVE_STATES, utcnow
from project.jobs.history.write import history_guard
from project.jobs.retry import history_rows, send_copies
from project.jobs.revoke import revoke_jobs

RUN_NOW_REASON = "run now"  # jobs.revoked_reason of a scheduled job replaced by a copy sent at once
_RUN_NOW_HINT = "only a job waiting for its eta can be run now; a finished one can be retried"


def run_now(task_id: str) -> dict[str, Any]:
    """Run a job waiting for its eta now: revoke it and send a copy without the eta (its expiry kept).

    The copy is linked to the job as a retry is. Conflict when the job is not waiting for a time
    (finished, running, or due already); then nothing changes. The copy goes out before the job is
    revoked, so a broker that fails (ServiceUnavailable) leaves the job scheduled, never revoked with
    no copy sent; a job that starts meanwhile keeps running and its copy is revoked (Conflict).
    """
    [row] = history_rows([task_id])
    if row["state"] not in LIVE_STATES or row["state"] == "STARTED":
        raise Conflict(f"job {task_id} is not waiting to run: it is {row['state']}", hint=_RUN_NOW_HINT)
    if row["eta"] is None or row["eta"] <= utcnow():
        due = "has no eta" if row["eta"] is None else f"was due at {row['eta'].isoformat()}"
        raise Conflict(f"job {task_id} is not scheduled for later: it {due}", hint=_RUN_NOW_HINT)
    with interrupts_held():  # a copy sent and its job left scheduled would run twice
        [[copy]] = send_copies([row], keep_eta=False, keep_expires=True, take_keys=False)
        key = row["unique_key"]
        if key is not None:  # the copy holds the key before the job lets it go: no unique send slips in
            _move_key(key, task_id, copy["id"])
        [revoked] = revoke_jobs([task_id])
        if revoked["outcome"] != "revoked":
            if key is not None:
                _move_key(key, copy["id"], task_id)
            revoke_jobs([copy["id"]])
            raise Conflict(
                f"job {task_id} started before it could be revoked: it runs now ({revoked['outcome']}); "
                f"its copy {copy['id']} was revoked"
            )
        with db.engine.begin() as conn:  # revoked, the job no longer takes part in the unique index: its key is kept
            values = {"revoked_reason": RUN_NOW_REASON, "unique_key": key}
            conn.execute(update(jobs).where(jobs.c.id == task_id).values(**values))
    return copy


def _move_key(key: str, from_id: str, to_id: str) -> None:
    """Give the unique ``key`` of job ``from_id`` to job ``to_id`` in one transaction: never both, never neither.

    The partial unique index admits one live holder, so the key is cleared first, then set; another
    process's claim of the key waits for the transaction and then finds it held.
    """
    with history_guard("unique key", [from_id, to_id]), db.engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id == from_id).values(unique_key=None))
        if not conn.execute(update(jobs).where(jobs.c.id == to_id).values(unique_key=key)).rowcount:
            raise RuntimeError(f"job {to_id} has no history row")  # rolled back: the key stays where it was
