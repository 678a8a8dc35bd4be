"""Messaging: the accounts messages leave through, email templates, and one row per handed-off email."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from geniziz.db import Base, IdString, Json, Record


class ConnectedAccount(Record, Base):
    """A user's mailbox: SMTP to send (IMAP stored for the sync to come), or (kind "sms") an SMS
    provider account with its phone numbers. Passwords and tokens are in
    ``credentials``, a Fernet token (see crypto.py), never in a column of their own."""

    __tablename__ = "connected_account"
    __table_args__ = (Index("ix_connected_account_org_user", "organization_id", "user_id"),)

    kind: Mapped[str] = mapped_column(String(20), default="email")
    user_id: Mapped[str] = mapped_column(IdString, ForeignKey("user.id", ondelete="CASCADE"))
    is_shared: Mapped[bool] = mapped_column(Boolean, default=False)
    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(200))
    smtp_host: Mapped[str | None] = mapped_column(String(255))
    smtp_port: Mapped[int | None] = mapped_column(Integer)
    smtp_tls: Mapped[str | None] = mapped_column(String(10))  # ssl | starttls | none
    smtp_username: Mapped[str | None] = mapped_column(String(320))
    imap_host: Mapped[str | None] = mapped_column(String(255))
    imap_port: Mapped[int | None] = mapped_column(Integer)
    imap_tls: Mapped[str | None] = mapped_column(String(10))
    imap_username: Mapped[str | None] = mapped_column(String(320))
    credentials: Mapped[str | None] = mapped_column(Text)  # encrypted JSON {"smtp_password", "imap_password"}
    # Which secrets are set, readable without the key: the API shows has_* flags, never the values.
    secrets_set: Mapped[list[str]] = mapped_column(Json, default=list)
    # Sending limits: a send over one waits (its job is re-scheduled), it is never dropped.
    max_per_day: Mapped[int] = mapped_column(Integer, default=400)
    max_per_hour: Mapped[int] = mapped_column(Integer, default=100)
    min_gap_seconds: Mapped[int] = mapped_column(Integer, default=5)
    last_tested_at: Mapped[datetime | None]
    last_test_error: Mapped[str | None] = mapped_column(Text)
    # kind "sms": a Twilio-compatible REST API (the token is in ``credentials`` as "sms_token").
    sms_base_url: Mapped[str | None] = mapped_column(String(500))
    sms_account_sid: Mapped[str | None] = mapped_column(String(100))
    phone_numbers: Mapped[list[str] | None] = mapped_column(Json)  # E.164, the first is the default sender


    def next_send_at(self, handed_off: list[datetime], now: datetime) -> datetime | None:
        """When the account may send next, if not now: per rolling 24 h, per rolling hour, minimum gap.
        ``handed_off``: its sends of the last 24 h, newest first (emails and SMS are counted apart); the newest
        ``max_per_day`` are enough (an hour's sends are a prefix of the day's)."""
        waits = []
        if len(handed_off) >= self.max_per_day:
            waits.append(handed_off[self.max_per_day - 1] + timedelta(days=1))
        in_hour = [at for at in handed_off if at > now - timedelta(hours=1)]
        if len(in_hour) >= self.max_per_hour:
            waits.append(in_hour[self.max_per_hour - 1] + timedelta(hours=1))
        if handed_off and self.min_gap_seconds:
            waits.append(handed_off[0] + timedelta(seconds=self.min_gap_seconds))
        due = max(waits, default=now)
        return due if due > now else None

class EmailTemplate(Record, Base):
    __tablename__ = "email_template"

    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list[dict]] = mapped_column(Json, default=list)
    # Private templates are their author's (created_by) only.
    is_shared: Mapped[bool] = mapped_column(Boolean, default=False)


class EmailDelivery(Record, Base):
    """An email handed to an SMTP server, keyed by its Message-ID.

    The row is committed *before* the SMTP DATA command, so whatever happens next (a crash, a lost
    connection) a retry finds it and never sends the same Message-ID twice. Its rows in the last 24 h
    are also what the account's sending limits count.
    """

    __tablename__ = "email_delivery"
    __table_args__ = (
        UniqueConstraint("message_id"),
        Index("ix_email_delivery_account_at", "account_id", "date_handed_off"),
    )

    message_id: Mapped[str] = mapped_column(String(300))
    activity_id: Mapped[str | None] = mapped_column(IdString, ForeignKey("activity.id", ondelete="SET NULL"),
                                                    index=True)
    account_id: Mapped[str | None] = mapped_column(IdString, ForeignKey("connected_account.id",
                                                                        ondelete="SET NULL"))
    # handed_off (DATA about to be sent, outcome not yet known) -> sent | refused | unknown
    state: Mapped[str] = mapped_column(String(20), default="handed_off")
    date_handed_off: Mapped[datetime]
    reply: Mapped[str | None] = mapped_column(Text)  # the server's answer to DATA, or why it is unknown


class UnsubscribedEmail(Record, Base):
    """The workspace's suppression list: no email is sent to an address on it (checked when an email is
    queued and again right before it is handed over), and mailing exports leave it out. Addresses are
    kept lower-cased, so one entry covers every spelling."""

    __tablename__ = "unsubscribed_email"
    __table_args__ = (UniqueConstraint("organization_id", "email"),)

    email: Mapped[str] = mapped_column(String(320))
    # manual (added over the API), one_click (the List-Unsubscribe link), bounce, complaint, import
    source: Mapped[str] = mapped_column(String(20), default="manual")
    reason: Mapped[str | None] = mapped_column(Text)


class Conversation(Record, Base):
    """A thread with a contact (and its lead): its messages are email, SMS and note activities, linked
    by ``ConversationMessage``. The counts, channels and participants are a summary the service keeps
    current; DELETE only sets ``date_deleted`` (hidden from lists, messages kept, restorable)."""

    __tablename__ = "conversation"
    __table_args__ = (
        Index("ix_conversation_org_at", "organization_id", "activity_at", "id"),
        Index("ix_conversation_lead", "lead_id"),
        Index("ix_conversation_contact", "contact_id"),
        Index("ix_conversation_thread", "thread_id"),
    )

    lead_id: Mapped[str] = mapped_column(IdString, ForeignKey("lead.id", ondelete="CASCADE"))
    contact_id: Mapped[str | None] = mapped_column(IdString, ForeignKey("contact.id", ondelete="SET NULL"))
    subject: Mapped[str | None] = mapped_column(String(1000))
    channels: Mapped[list[str]] = mapped_column(Json, default=list)  # email, sms
    participants: Mapped[list[str]] = mapped_column(Json, default=list)  # addresses and numbers, in order
    # The email thread its emails share (replies found by their headers land in it).
    thread_id: Mapped[str | None] = mapped_column(IdString, ForeignKey("email_thread.id", ondelete="SET NULL"))
    n_messages: Mapped[int] = mapped_column(Integer, default=0)
    n_unread: Mapped[int] = mapped_column(Integer, default=0)
    latest_message_id: Mapped[str | None] = mapped_column(IdString)  # no foreign key: a summary, kept exact
    activity_at: Mapped[datetime]  # when its latest message happened (its creation while it has none)
    date_deleted: Mapped[datetime | None]
    deleted_by: Mapped[str | None] = mapped_column(IdString, ForeignKey("user.id", ondelete="SET NULL"))


class ConversationMessage(Record, Base):
    """An activity's place in a conversation (one conversation per activity), and whether it is unread."""

    __tablename__ = "conversation_message"
    __table_args__ = (UniqueConstraint("activity_id"),)

    conversation_id: Mapped[str] = mapped_column(IdString, ForeignKey("conversation.id", ondelete="CASCADE"),
                                                 index=True)
    activity_id: Mapped[str] = mapped_column(IdString, ForeignKey("activity.id", ondelete="CASCADE"))
    is_unread: Mapped[bool] = mapped_column(Boolean, default=False)


class SmsDelivery(Record, Base):
    """An SMS handed to the provider (keyed by the send's key, committed *before* the API call, so a
    retry never posts it twice), or one received from it (keyed by the provider's message SID, so a
    webhook the provider repeats is stored once)."""

    __tablename__ = "sms_delivery"
    __table_args__ = (UniqueConstraint("send_key"),)

    send_key: Mapped[str] = mapped_column(String(300))
    direction: Mapped[str] = mapped_column(String(20), default="outbound")
    activity_id: Mapped[str | None] = mapped_column(IdString, ForeignKey("activity.id", ondelete="SET NULL"),
                                                    index=True)
    account_id: Mapped[str | None] = mapped_column(IdString, ForeignKey("connected_account.id",
                                                                        ondelete="SET NULL"))
    # outbound: handed_off -> sent | unknown; inbound: received | unmatched (no contact has the number)
    state: Mapped[str] = mapped_column(String(20), default="handed_off")
    date_handed_off: Mapped[datetime]
    provider_sid: Mapped[str | None] = mapped_column(String(100))
    reply: Mapped[str | None] = mapped_column(Text)  # the provider's answer, why it is unknown, or the text
