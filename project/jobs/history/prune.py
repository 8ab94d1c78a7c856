"""Deleting job history: the jobs a filter selects, and the heartbeats of workers long gone."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from project.extensions import db
from project.jobs.history.models import heartbeats, jobs
from project.jobs.history.read import BRIEF_COLUMNS, job_record
from project.jobs.history.select import JobFilter, count_jobs, job_conditions


def prunable(job_filter: JobFilter) -> tuple[JobFilter, int]:
    """``job_filter`` without the revoked jobs a worker may still take (their row is what stops them
    running once the worker restarts), and how many of those it leaves out."""
    return replace(job_filter, undiscarded=False), count_jobs(replace(job_filter, undiscarded=True))


def delete_jobs(job_filter: JobFilter, task_ids: list[str]) -> list[dict[str, Any]]:
    """Delete the jobs of ``task_ids`` that ``job_filter`` still selects, in one short transaction.

    Returns their brief records (``BRIEF_FIELDS``), oldest first; a job changed meanwhile so that
    the filter no longer selects it is left alone.
    """
    selected = (jobs.c.id.in_(task_ids), *job_conditions(job_filter))
    query = select(*(jobs.c[name] for name in BRIEF_COLUMNS)).where(*selected).order_by(jobs.c.sent_at, jobs.c.id)
    with db.engine.begin() as conn:  # no DELETE … RETURNING: SQLite has it only since 3.35
        rows = conn.execute(query).mappings().all()
        conn.execute(delete(jobs).where(jobs.c.id.in_([row["id"] for row in rows]), *job_conditions(job_filter)))
    return [job_record(row) for row in rows]


def forget_workers_gone_before(moment: datetime) -> int:
    """Delete the heartbeats of workers whose last one expired before ``moment``; how many."""
    with db.engine.begin() as conn:
        return int(conn.execute(delete(heartbeats).where(heartbeats.c.expires_at < moment)).rowcount)
