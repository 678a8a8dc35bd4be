from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from geniziz.db import Base, IdString, Record

TASK_TYPES = ("to_do", "call", "email", "meeting")


class Task(Record, Base):
    __tablename__ = "task"
    __table_args__ = (
        Index("ix_task_org_id", "organization_id", "id"),
        Index("ix_task_org_assignee", "organization_id", "assigned_to", "is_complete"),
    )

    lead_id: Mapped[str | None] = mapped_column(IdString, ForeignKey("lead.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[str | None] = mapped_column(IdString, ForeignKey("contact.id", ondelete="SET NULL"))
    assigned_to: Mapped[str | None] = mapped_column(IdString, ForeignKey("user.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(String(1000))
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(20), default="to_do")
    due_date: Mapped[datetime | None]
    is_complete: Mapped[bool] = mapped_column(Boolean, default=False)
    date_completed: Mapped[datetime | None]
