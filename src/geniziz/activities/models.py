"""Activities: one table for every type of the timeline, plus email threads and custom activity types.

Columns hold what every activity has and what lists filter or sort on (type, lead, contact, author,
when it happened, direction, status, thread, custom type); the fields of each type live in ``data``
(JSON), so a new type needs no migration and the timeline is one indexed scan, never a UNION.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geniziz.custom.models import EMPTY_JSON, CustomField
from geniziz.db import Base, IdString, Json, Record


class Activity(Record, Base):
    __tablename__ = "activity"
    __table_args__ = (
        # The workspace-wide stream and each type's list: newest first by when it happened.
        Index("ix_activity_org_at", "organization_id", "activity_at", "id"),
        Index("ix_activity_org_type_at", "organization_id", "type", "activity_at", "id"),
        # One lead's stream; lead_id leads so that deleting a lead (ON DELETE CASCADE) is indexed too.
        Index("ix_activity_lead_at", "lead_id", "organization_id", "activity_at", "id"),
        Index("ix_activity_contact_at", "contact_id", "activity_at", "id"),
        Index("ix_activity_org_user_at", "organization_id", "user_id", "activity_at", "id"),
    )

    # "note", "call", "email", ..., "status_change/lead": the resource name after "activity/".
    type: Mapped[str] = mapped_column(String(40))
    # Only generated activities may lack a lead (a completed task that has none).
    lead_id: Mapped[str | None] = mapped_column(IdString, ForeignKey("lead.id", ondelete="CASCADE"))
    # A deleted contact leaves its activities on the lead's timeline.
    contact_id: Mapped[str | None] = mapped_column(IdString, ForeignKey("contact.id", ondelete="SET NULL"))
    user_id: Mapped[str | None] = mapped_column(IdString, ForeignKey("user.id", ondelete="SET NULL"))
    activity_at: Mapped[datetime]
    direction: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str | None] = mapped_column(String(20))
    thread_id: Mapped[str | None] = mapped_column(
        IdString, ForeignKey("email_thread.id", ondelete="SET NULL"), index=True)
    # The service refuses to delete a type in use; NO ACTION rather than RESTRICT so that deleting a
    # whole workspace, which cascades to both tables in one statement, still works.
    custom_activity_type_id: Mapped[str | None] = mapped_column(
        IdString, ForeignKey("custom_activity_type.id"), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    # Custom field values, {field ID: value} (geniziz.custom).
    custom: Mapped[dict[str, Any]] = mapped_column(Json, default=dict, server_default=EMPTY_JSON)


class EmailThread(Record, Base):
    """A conversation: a summary of the emails that share it, kept current by the email service."""

    __tablename__ = "email_thread"
    __table_args__ = (
        Index("ix_email_thread_org_at", "organization_id", "activity_at", "id"),
        Index("ix_email_thread_lead_at", "lead_id", "activity_at", "id"),
    )

    lead_id: Mapped[str] = mapped_column(IdString, ForeignKey("lead.id", ondelete="CASCADE"))
    subject: Mapped[str | None] = mapped_column(String(1000))
    participants: Mapped[list[str]] = mapped_column(Json, default=list)
    n_emails: Mapped[int] = mapped_column(Integer, default=0)
    # No foreign key: it would make the two tables reference each other; the service keeps it exact.
    latest_email_id: Mapped[str | None] = mapped_column(IdString)
    activity_at: Mapped[datetime]  # when its latest email happened

    emails: Mapped[list[Activity]] = relationship(
        Activity, primaryjoin="Activity.thread_id == EmailThread.id", foreign_keys="Activity.thread_id",
        order_by="(Activity.activity_at, Activity.id)", lazy="raise", viewonly=True)


class CustomActivityType(Record, Base):
    __tablename__ = "custom_activity_type"
    __table_args__ = (Index("ix_custom_activity_type_org_name", "organization_id", "name"),)

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    # Its fields are custom fields (object_type "custom_activity"), like a custom object type's; a custom
    # activity's values live in its `custom` column by field ID and read by name as `fields`.
    fields: Mapped[list[CustomField]] = relationship(
        CustomField, order_by=CustomField.id, lazy="raise", viewonly=True)
