"""What the reports read instead of the activities' JSON or millions of rows.

ActivityDay, the activity metrics' summary: per workspace, user, local day (in the workspace's time zone),
activity type (those the metrics read), direction and status, how many activities and their seconds (call durations). The reports sum these rows
instead of the activities themselves: a year of a busy workspace is tens of thousands of rows, not millions.

On PostgreSQL, triggers on `activity` keep it (migration 0019): every insert, delete (a lead's cascade
too), move to another workspace, and change of user, time, type, direction, status or duration updates
it in the writer's transaction, whichever code wrote the activity; a change of the workspace's time zone
rebuilds the workspace's rows. SQLite has no time zones to compute a local day in a trigger, so there the
table stays empty and the reports read the activities (see service.activity_report).
Null user, direction and status are stored as '' (they are part of the primary key).

OpportunityChange: each opportunity status change (an activity of type status_change/opportunity) with its
opportunity, statuses and time as indexed columns rather than JSON, for the opportunity funnels and status
changes. Triggers keep it on both databases (no time zone involved); deleting the activity deletes it.
Each change also holds the time of its opportunity's previous change (previous_at, migration 0023), so the
time spent in a stage is read from the change that left it, without ordering the opportunity's changes.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from geniziz.db import Base, IdString


# The activity types activity_day holds: those the metrics read (a metric on another type needs a migration
# that adds it to the triggers and rebuilds; service.py checks its metrics against this).
SUMMARIZED_TYPES = frozenset({"call", "email", "sms", "note", "meeting", "task_completed"})


class ActivityDay(Base):
    __tablename__ = "activity_day"

    organization_id: Mapped[str] = mapped_column(
        IdString, ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    type: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(IdString, primary_key=True)  # '' when none
    direction: Mapped[str] = mapped_column(String(20), primary_key=True)  # '' when none
    status: Mapped[str] = mapped_column(String(20), primary_key=True)  # '' when none
    n: Mapped[int] = mapped_column(Integer, default=0)
    duration: Mapped[int] = mapped_column(BigInteger, default=0)


class OpportunityChange(Base):
    __tablename__ = "opportunity_change"
    __table_args__ = (
        # Both cover what the reports read: changes since a moment, and one opportunity's changes.
        Index("ix_opportunity_change_org_at", "organization_id", "at", "opportunity_id", "old_status_id",
              "new_status_id", "previous_at"),
        Index("ix_opportunity_change_org_opportunity", "organization_id", "opportunity_id", "at"),
    )

    id: Mapped[str] = mapped_column(IdString, ForeignKey("activity.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[str] = mapped_column(IdString, ForeignKey("organization.id", ondelete="CASCADE"))
    opportunity_id: Mapped[str | None] = mapped_column(IdString)
    old_status_id: Mapped[str | None] = mapped_column(IdString)
    new_status_id: Mapped[str | None] = mapped_column(IdString)
    at: Mapped[datetime]
    # The opportunity's previous change's time (null for its first): with its creation, when it entered
    # old_status_id. Kept by triggers on this table (migration 0023).
    previous_at: Mapped[datetime | None]
