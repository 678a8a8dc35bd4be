"""A durable background job: one row, written in the transaction of the change that causes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from geniziz.db import Base, IdString, Json, utcnow

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


class Job(Base):
    __tablename__ = "job"
    __table_args__ = (
        # "Enqueue once": the same key for the same kind is one job (INSERT ... ON CONFLICT DO NOTHING).
        UniqueConstraint("kind", "idempotency_key"),
        # Claiming: due queued jobs, and running jobs whose lease expired.
        Index("ix_job_status_run_at", "status", "run_at"),
        Index("ix_job_owner_id", "owner_id"),
    )

    id: Mapped[str] = mapped_column(IdString, primary_key=True)
    # None for system jobs (periodic ones); a workspace's jobs go with it.
    organization_id: Mapped[str | None] = mapped_column(
        IdString, ForeignKey("organization.id", ondelete="CASCADE"), index=True, nullable=True)
    kind: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    run_at: Mapped[datetime] = mapped_column(default=utcnow)  # due time; the next retry's time after a failure
    locked_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)  # the lease
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The record the job works for (e.g. "lead", "lead_..."), so that record can show the job's state.
    owner_type: Mapped[str | None] = mapped_column(String(50), nullable=True)
    owner_id: Mapped[str | None] = mapped_column(IdString, nullable=True)
    # Who caused it; the handler acts as this user.
    created_by: Mapped[str | None] = mapped_column(IdString, ForeignKey("user.id", ondelete="SET NULL"),
                                                   nullable=True)
    result: Mapped[Any | None] = mapped_column(Json, nullable=True)
    date_created: Mapped[datetime] = mapped_column(default=utcnow)
    date_updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    date_started: Mapped[datetime | None] = mapped_column(nullable=True)  # the latest attempt's start
    date_finished: Mapped[datetime | None] = mapped_column(nullable=True)

    @property
    def dedup_key(self) -> str:
        """What to send an external receiver so it can drop a retried side effect: stable across attempts."""
        return self.idempotency_key or self.id
