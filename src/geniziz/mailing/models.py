"""Mailing exports: a workspace's platform connections, its exports, and each export's audience snapshot."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, PrimaryKeyConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from geniziz.db import Base, IdString, Json, Record


class MailingConnection(Record, Base):
    """One platform account per workspace and platform. The API key is in ``credentials`` (a Fernet token,
    see messaging/crypto.py) and is never returned; it was verified against the platform when stored."""

    __tablename__ = "mailing_connection"
    __table_args__ = (UniqueConstraint("organization_id", "platform"),)

    platform: Mapped[str] = mapped_column(String(20))
    base_url: Mapped[str | None] = mapped_column(String(2000))  # None: the platform's own API host
    credentials: Mapped[str] = mapped_column(Text)  # encrypted JSON {"api_key": ...}
    account_name: Mapped[str | None] = mapped_column(String(500))  # what the platform answered on verify
    last_verified_at: Mapped[datetime | None]


class MailingExport(Record, Base):
    """One push of an audience to a platform list, run by the worker one step (a batch or a poll) at a
    time; ``step`` numbers the step job due next, so a restarted worker picks up where the last commit left."""

    __tablename__ = "mailing_export"
    __table_args__ = (Index("ix_mailing_export_org_status", "organization_id", "status"),)

    platform: Mapped[str] = mapped_column(String(20))
    connection_id: Mapped[str | None] = mapped_column(IdString, ForeignKey("mailing_connection.id",
                                                                           ondelete="SET NULL"))
    name: Mapped[str | None] = mapped_column(String(200))
    filters: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    config: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="queued")  # queued | running | done | failed
    total: Mapped[int] = mapped_column(Integer, default=0)
    pushed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    step: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]  # when waiting: on a platform's rate limit or an import's progress
    date_started: Mapped[datetime | None]
    date_finished: Mapped[datetime | None]


class MailingExportMember(Base):
    """The audience of an export, snapshotted when it is created (so the count answered is what is pushed),
    one row per lower-cased address. ``state``: pending -> (submitted, with the platform's import job in
    ``batch``) -> pushed | failed | skipped."""

    __tablename__ = "mailing_export_member"
    __table_args__ = (
        PrimaryKeyConstraint("export_id", "email"),
        Index("ix_mailing_export_member_export_state", "export_id", "state"),
    )

    organization_id: Mapped[str] = mapped_column(IdString, ForeignKey("organization.id", ondelete="CASCADE"),
                                                 index=True)
    export_id: Mapped[str] = mapped_column(IdString, ForeignKey("mailing_export.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    contact_id: Mapped[str | None] = mapped_column(IdString)  # no FK: a contact deleted later is skipped
    state: Mapped[str] = mapped_column(String(10), default="pending")
    batch: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)
