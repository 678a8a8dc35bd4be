"""Receiving mail: one cursor per synced IMAP folder, and one row per message fetched from it.

Every fetched message gets an ``inbound_email`` row, whatever became of it (an activity, a copy of our
own mail, an address nobody knows, a parse error), in the same transaction that advances the folder's
cursor past it: so a message is either stored or still ahead of the cursor, never silently skipped.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from geniziz.db import Base, IdString, Json, Record


class MailFolder(Record, Base):
    """An IMAP folder of a connected account and how far its sync got."""

    __tablename__ = "mail_folder"
    __table_args__ = (UniqueConstraint("account_id", "folder"),)

    account_id: Mapped[str] = mapped_column(IdString, ForeignKey("connected_account.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(255))
    # The cursor: UIDs are only comparable within one UIDVALIDITY; a new one restarts the folder.
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    highestmodseq: Mapped[int | None] = mapped_column(BigInteger)  # where the server offers CONDSTORE
    last_sync_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    fetched: Mapped[int] = mapped_column(Integer, default=0)  # messages stored from this folder, ever
    resyncs: Mapped[int] = mapped_column(Integer, default=0)  # UIDVALIDITY changes seen
    # The latest reconciliation: messages on the server vs. those of them stored, and what was missing.
    reconciled_at: Mapped[datetime | None]
    server_count: Mapped[int | None] = mapped_column(Integer)
    stored_count: Mapped[int | None] = mapped_column(Integer)
    missing: Mapped[list[str]] = mapped_column(Json, default=list)  # Message-IDs (or "uid:N") found missing


class InboundEmail(Record, Base):
    """A message fetched over IMAP and what became of it (``outcome``)."""

    __tablename__ = "inbound_email"
    __table_args__ = (
        UniqueConstraint("account_id", "folder", "uidvalidity", "uid"),
        Index("ix_inbound_email_account_message_id", "account_id", "message_id"),
        Index("ix_inbound_email_org_message_id", "organization_id", "message_id"),
        Index("ix_inbound_email_org_sender", "organization_id", "sender"),  # unmatched mail of a new contact
    )

    account_id: Mapped[str] = mapped_column(IdString, ForeignKey("connected_account.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(String(300))
    # activity (an inbound email activity was created) | own (a copy of an email we sent) | duplicate (the
    # same Message-ID was stored before) | unmatched (no thread, no known contact) | error (unreadable)
    outcome: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str | None] = mapped_column(String(20))  # reply | auto_reply | bounce
    bounce: Mapped[str | None] = mapped_column(String(10))  # hard | soft
    activity_id: Mapped[str | None] = mapped_column(IdString, ForeignKey("activity.id", ondelete="SET NULL"),
                                                    index=True)
    sender: Mapped[str | None] = mapped_column(String(320))  # lower-cased
    subject: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    # Kept for unmatched and unreadable messages, so they can be looked at or processed again.
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
