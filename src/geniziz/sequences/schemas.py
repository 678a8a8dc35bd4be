from __future__ import annotations

from datetime import date, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, field_validator, model_validator

from geniziz.api.schemas import InputTimestamp, ReadModel, Timestamp, WriteModel, partial_model

StepType = Literal["email", "sms", "call", "task", "update_lead_status", "assign_user"]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MAX_DELAY = 366 * 24 * 3600


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as "Europe"
        raise ValueError("not an IANA time zone (e.g. Europe/Madrid)") from None
    return value


def _clock(value: str) -> str:
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        raise ValueError("a local time HH:MM") from None
    if parsed.tzinfo is not None or len(value) != 5:
        raise ValueError("a local time HH:MM")
    return value


def _day(value: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError("a date YYYY-MM-DD") from None


TimeZone = Annotated[str, Field(max_length=64, examples=["Europe/Madrid"]), AfterValidator(_zone)]
Clock = Annotated[str, Field(max_length=5, examples=["09:00"]), AfterValidator(_clock)]
Holiday = Annotated[str, Field(max_length=10), AfterValidator(_day)]


class WindowIn(WriteModel):
    days: Annotated[list[Day], Field(min_length=1, max_length=7)]
    start: Clock
    end: Clock = Field(description="After start; 00:00 means midnight at the end of the day.")

    @model_validator(mode="after")
    def _ordered(self) -> WindowIn:
        if self.end != "00:00" and self.end <= self.start:
            raise ValueError("end must be after start (windows do not span midnight: use two)")
        return self


class StepIn(WriteModel):
    type: StepType
    delay_seconds: Annotated[int, Field(ge=0, le=MAX_DELAY)] = Field(
        0, description="Wait after the previous step (after enrolment, for the first), then the next sending window.")
    template_id: str | None = Field(None, description="email: the email template.")
    reply_in_thread: bool = Field(False, description="email: send in the previous email's thread (Re: its subject).")
    text: Annotated[str, Field(max_length=10_000)] | None = Field(
        None, description="sms: the message (a template); call/task: the task's text.")
    status_id: str | None = Field(None, description="update_lead_status: the lead status to set.")
    user_id: str | None = Field(None, description="assign_user: the member who becomes the lead's owner.")


class WindowOut(ReadModel):
    days: list[str]
    start: str
    end: str


class StepOut(ReadModel):
    type: str
    delay_seconds: int
    template_id: str | None = None
    reply_in_thread: bool = False
    text: str | None = None
    status_id: str | None = None
    user_id: str | None = None


class SequenceCreate(WriteModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    status: Literal["active", "archived"] = Field("active", description="Archived sequences take no new subscriptions.")
    timezone: TimeZone = "UTC"
    schedule: Annotated[list[WindowIn], Field(max_length=50)] = Field(
        [], description="Sending windows (local times in timezone); empty: any time.")
    holidays: Annotated[list[Holiday], Field(max_length=400)] = Field([], description="Local dates with no steps.")
    steps: Annotated[list[StepIn], Field(max_length=50)] = Field(
        [], description="In order. A PUT with steps replaces them; pending steps follow the new delays.")
    goal_status_id: str | None = Field(None, description="A lead status: reaching it finishes the lead's subscriptions.")

    @field_validator("holidays")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


SequenceUpdate = partial_model(SequenceCreate, "SequenceUpdate")


class SequenceRead(ReadModel):
    id: str
    name: str
    status: str
    timezone: str
    schedule: list[WindowOut]
    holidays: list[str]
    steps: list[StepOut]
    goal_status_id: str | None
    date_created: Timestamp
    date_updated: Timestamp
    created_by: str | None
    updated_by: str | None


class SequenceFilters(WriteModel):
    status: Literal["active", "archived"] | None = None


SubscriptionStatus = Literal["active", "paused", "finished", "error"]


class SubscriptionCreate(WriteModel):
    sequence_id: str
    contact_id: str = Field(description="With an email when the sequence has email steps (and not unsubscribed).")
    sender_account_id: str | None = Field(
        None, description="The connected account emails leave through; default: yours (or a shared one).")
    calls_assigned_to: str | None = Field(None, description="The member call tasks go to; default: you.")
    start_date: InputTimestamp | None = Field(None, description="Not before this moment; default: now.")


class SubscriptionUpdate(WriteModel):
    """PUT pauses (status paused, optionally until a date) or resumes (status active)."""

    status: Literal["active", "paused"] | None = None
    paused_until: InputTimestamp | None = Field(None, description="With status paused: resume by itself then.")
    sender_account_id: str | None = None
    calls_assigned_to: str | None = None


class SubscriptionRead(ReadModel):
    id: str
    sequence_id: str
    contact_id: str
    lead_id: str
    sender_account_id: str | None
    calls_assigned_to: str | None
    status: str
    status_reason: str | None = Field(description="finished: completed, replied, bounced, unsubscribed, "
                                                  "meeting_booked, status_changed or manual; paused/error: why.")
    paused_until: Timestamp | None
    start_date: Timestamp | None
    step_index: int = Field(description="The next step to run (0-based).")
    next_step_at: Timestamp | None
    last_step_at: Timestamp | None
    thread_id: str | None
    date_finished: Timestamp | None
    date_created: Timestamp
    date_updated: Timestamp
    created_by: str | None
    updated_by: str | None


class SubscriptionFilters(WriteModel):
    sequence_id: str | None = None
    contact_id: str | None = None
    lead_id: str | None = None
    status: SubscriptionStatus | None = None


class EventRead(ReadModel):
    id: str
    kind: str = Field(description="enrolled, step, paused, resumed, finished or error.")
    step_index: int | None
    step_type: str | None
    outcome: str | None = Field(description="step: sent, created, done or skipped; otherwise the reason.")
    activity_id: str | None
    task_id: str | None
    detail: str | None
    date_created: Timestamp


class History(ReadModel):
    subscription_id: str
    status: str
    data: list[EventRead]

