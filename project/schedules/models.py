"""The ``schedules`` table (one row per periodic job) and ``beat_leases`` (which beat may send runs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from project.extensions import db
from project.jobs.history.models import UTCDateTime


class Schedule(db.Model):  # type: ignore[name-defined]
    """A periodic job: a task with its arguments, sent on a cron spec or every so many seconds."""

    __tablename__ = "schedules"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    task: Mapped[str] = mapped_column(String(255))
    args: Mapped[Any] = mapped_column(JSON, nullable=True)
    kwargs: Mapped[Any] = mapped_column(JSON, nullable=True)
    cron: Mapped[str | None] = mapped_column(String(255))
    every: Mapped[float | None] = mapped_column(Float)
    timezone: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean)
    # An interval's runs fall on anchor + k * every, so they never drift from when it was set.
    anchor: Mapped[datetime] = mapped_column(UTCDateTime)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_job_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BeatLease(db.Model):  # type: ignore[name-defined]
    """The one beat allowed to send runs (``holder``) until ``expires_at``, unless it renews."""

    __tablename__ = "beat_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


schedules = Schedule.__table__
leases = BeatLease.__table__
