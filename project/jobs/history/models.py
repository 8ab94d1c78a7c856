"""The job history (``jobs``) and worker liveness (``worker_heartbeats``) tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Index, Integer, String, Text, false, text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.compiler import TypeCompiler
from sqlalchemy.types import TypeDecorator

from project.extensions import db
from project.jobs.history.values import LIVE_STATES

LIVE = text("state IN ({})".format(", ".join(f"'{state}'" for state in LIVE_STATES)))


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC date-time on every database (SQLite keeps no zone, so UTC is implied)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ExactJSON(TypeDecorator[Any]):
    """JSON kept as written on every database: a SQLite column declared JSON has numeric affinity,
    which would store the result ``2.0`` as ``2`` and a 20-digit integer as a float; TEXT does not."""

    impl = JSON(none_as_null=True)
    cache_ok = True


@compiles(ExactJSON, "sqlite")
def _exact_json_on_sqlite(_type: ExactJSON, _compiler: TypeCompiler, **_kw: Any) -> str:
    return "TEXT"


class Job(db.Model):  # type: ignore[name-defined]
    """One job as the application saw it: sent, started, finished (or retried, revoked)."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255), index=True)
    args: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)
    kwargs: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)
    queue: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[Any] = mapped_column(ExactJSON, nullable=True)
    error_type: Mapped[str | None] = mapped_column(String(255))
    error_message: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(255))
    retries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    terminate: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    retry_of: Mapped[str | None] = mapped_column(String(255), index=True)
    retried_by: Mapped[str | None] = mapped_column(String(255))
    eta: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    expires: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(255))
    schedule: Mapped[str | None] = mapped_column(String(255), index=True)
    unique_key: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        # Two unfinished jobs never share a unique key: a unique send inserts its row first.
        Index("ix_jobs_unique_key_live", "unique_key", unique=True, sqlite_where=LIVE, postgresql_where=LIVE),
    )


class WorkerHeartbeat(db.Model):  # type: ignore[name-defined]
    """A running worker: written at start, refreshed every few seconds, deleted at a clean stop."""

    __tablename__ = "worker_heartbeats"

    hostname: Mapped[str] = mapped_column(String(255), primary_key=True)
    pid: Mapped[int | None] = mapped_column(Integer)
    queues: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)
    broker: Mapped[str | None] = mapped_column(String(255))  # heartbeat.broker_identity: which broker it consumes
    active: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


jobs = Job.__table__
heartbeats = WorkerHeartbeat.__table__
