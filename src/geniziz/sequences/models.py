"""Sequences (automated multi-step outreach), the subscriptions that enrol contacts in them, and the
events of each subscription (steps run, pauses, stops): its history and the sales report's figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from geniziz.db import Base, IdString, Json, Record


class Sequence(Record, Base):
    __tablename__ = "sequence"

    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | archived
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Sending windows in the sequence's time zone: [{"days": ["mon", ...], "start": "09:00", "end": "17:00"}];
    # empty: any time. Holidays: local dates ("2026-12-25") on which nothing runs.
    schedule: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    holidays: Mapped[list[str]] = mapped_column(Json, default=list)
    # Ordered steps: [{"type", "delay_seconds", ...type's fields}]; a subscription points at one by position.
    steps: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    # A lead reaching this status finishes its subscriptions (reason status_changed).
    goal_status_id: Mapped[str | None] = mapped_column(IdString, ForeignKey("status.id", ondelete="SET NULL"))


class SequenceSubscription(Record, Base):
    __tablename__ = "sequence_subscription"
    __table_args__ = (
        # Once at a time: open_contact_id is the contact while the subscription is not finished, NULL after
        # (NULLs never collide), so a finished subscription does not block enrolling the contact again.
        UniqueConstraint("sequence_id", "open_contact_id"),
        # The engine's claim: due subscriptions across workspaces, by due time (NULL once finished).
        Index("ix_sequence_subscription_next_step_at", "next_step_at"),
        Index("ix_sequence_subscription_org_contact", "organization_id", "contact_id"),
        Index("ix_sequence_subscription_org_lead", "organization_id", "lead_id"),
        Index("ix_sequence_subscription_sequence_status", "sequence_id", "status"),
    )

    sequence_id: Mapped[str] = mapped_column(IdString, ForeignKey("sequence.id", ondelete="CASCADE"))
    contact_id: Mapped[str] = mapped_column(IdString, ForeignKey("contact.id", ondelete="CASCADE"))
    lead_id: Mapped[str] = mapped_column(IdString, ForeignKey("lead.id", ondelete="CASCADE"))
    open_contact_id: Mapped[str | None] = mapped_column(IdString)
    sender_account_id: Mapped[str | None] = mapped_column(
        IdString, ForeignKey("connected_account.id", ondelete="SET NULL"))
    calls_assigned_to: Mapped[str | None] = mapped_column(IdString, ForeignKey("user.id", ondelete="SET NULL"))
    # active | paused | finished | error, with the reason (finished: completed, replied, bounced, ...).
    status: Mapped[str] = mapped_column(String(20), default="active")
    status_reason: Mapped[str | None] = mapped_column(String(40))
    paused_until: Mapped[datetime | None]
    start_date: Mapped[datetime | None]
    step_index: Mapped[int] = mapped_column(Integer, default=0)  # the next step to run
    # When the engine next looks at it: the next step (active), the resume date (paused), NULL otherwise.
    # A worker that claims it pushes it by a lease and names itself in claimed_by (its fence).
    next_step_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_step_at: Mapped[datetime | None]
    thread_id: Mapped[str | None] = mapped_column(IdString)  # the latest email's thread (reply-in-thread steps)
    date_finished: Mapped[datetime | None]


class SequenceEvent(Record, Base):
    """One line of a subscription's history: a step's outcome (kind "step") or a change of status."""

    __tablename__ = "sequence_event"
    __table_args__ = (
        Index("ix_sequence_event_subscription", "subscription_id", "id"),
        Index("ix_sequence_event_org_sequence", "organization_id", "sequence_id", "date_created"),
    )

    sequence_id: Mapped[str] = mapped_column(IdString, ForeignKey("sequence.id", ondelete="CASCADE"))
    subscription_id: Mapped[str] = mapped_column(
        IdString, ForeignKey("sequence_subscription.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # enrolled | step | paused | resumed | finished | error
    step_index: Mapped[int | None] = mapped_column(Integer)
    step_type: Mapped[str | None] = mapped_column(String(30))
    # step: sent | created | done | skipped; finished: its reason; paused/error: the reason
    outcome: Mapped[str | None] = mapped_column(String(40))
    activity_id: Mapped[str | None] = mapped_column(IdString)
    task_id: Mapped[str | None] = mapped_column(IdString)
    detail: Mapped[str | None] = mapped_column(Text)
