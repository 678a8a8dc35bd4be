"""Activity schemas: one create/read pair per type, the list filters, email threads and custom types.

Every read carries ``_type`` (pydantic fields cannot start with an underscore, so it is the field
``type_`` serialized under that name; see ``ActivityResource``).
"""

from __future__ import annotations

import html
import re
from typing import Annotated, Any, Literal

import nh3
from pydantic import AfterValidator, Field, field_validator, model_validator

from geniziz.activities.models import Activity
from geniziz.api.schemas import (
    EmailAddress,
    InputTimestamp,
    PhoneNumber,
    ReadModel,
    Timestamp,
    WebUrl,
    WriteModel,
    partial_model,
)
from geniziz.custom.records import CustomBody, with_custom

# --- values ----------------------------------------------------------------------------------------
WRITABLE_TYPES = ("note", "call", "email", "sms", "meeting", "channel_message", "custom")
GENERATED_TYPES = ("created", "status_change/lead", "status_change/opportunity", "task_completed", "lead_merge")
TYPES = WRITABLE_TYPES + GENERATED_TYPES

Direction = Literal["inbound", "outbound"]
CallStatus = Literal["completed", "in-progress", "no-answer", "busy", "failed", "canceled"]
# Emails and SMS share the delivery life cycle; the service enforces its transitions.
MessageStatus = Literal["draft", "scheduled", "outbox", "sending", "sent", "inbox", "error"]
CustomFieldType = Literal["text", "number", "date", "datetime", "choices", "user", "contact", "boolean"]

_BLOCK_ENDS = re.compile(r"(?i)<br\s*/?>|</(?:p|div|li|tr|h[1-6]|blockquote|pre)\s*>")


def sanitize_html(value: str) -> str:
    """nh3's allowlist: no scripts, styles, frames or forms, no on* handlers, no javascript: URLs."""
    return nh3.clean(value)


def html_to_text(value: str) -> str:
    """The plain text of (sanitized) HTML, keeping line breaks where blocks end."""
    text = html.unescape(nh3.clean(_BLOCK_ENDS.sub("\n", value), tags=set()))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


Str = Annotated[str, Field(max_length=1000)]
LongText = Annotated[str, Field(max_length=100_000)]
SafeHtml = Annotated[str, Field(max_length=500_000), AfterValidator(sanitize_html)]


# --- common -----------------------------------------------------------------------------------------
class ActivityWrite(CustomBody, WriteModel):
    lead_id: str | None = Field(None, description="The activity's lead; taken from the contact when only "
                                                  "contact_id is given.")
    contact_id: str | None = Field(None, description="A contact of that lead.")
    user_id: str | None = Field(None, description="The author, a member of this workspace; defaults to the caller.")
    activity_at: InputTimestamp | None = Field(None, description="When it happened; defaults to now.")


class ActivityRead(ReadModel):
    """What every activity has. Lists order by activity_at, newest first."""

    id: str
    type_: str = Field(serialization_alias="_type", description="The activity type, e.g. note, call, email.")
    lead_id: str | None
    contact_id: str | None
    user_id: str | None
    activity_at: Timestamp
    date_created: Timestamp
    date_updated: Timestamp
    created_by: str | None
    updated_by: str | None
    custom: dict[str, Any] = Field({}, description="Custom field values by name; each is also a custom.<field ID> key.")

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, value: Any) -> Any:
        """An activity row -> its columns and its type's fields (stored in ``data``) side by side."""
        if isinstance(value, Activity):
            columns = {c.key: getattr(value, c.key) for c in Activity.__table__.columns if c.key != "data"}
            return {**(value.data or {}), **columns, "type_": value.type}
        return value


class ActivityFilters(WriteModel):
    lead_id: str | None = None
    contact_id: str | None = None
    user_id: str | None = Field(None, description="The author.")
    activity_at__gte: InputTimestamp | None = Field(None, description="Happened at or after this time.")
    activity_at__lte: InputTimestamp | None = Field(None, description="Happened at or before this time.")


class StreamFilters(ActivityFilters):
    type_: list[str] | None = Field(None, alias="_type", description=(
        "Only these types, comma-separated or repeated: " + ", ".join(TYPES) + "."))

    @field_validator("type_")
    @classmethod
    def _known_types(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        types = [t.strip() for item in value for t in item.split(",") if t.strip()]
        if unknown := sorted(set(types) - set(TYPES)):
            raise ValueError(f"unknown type(s): {', '.join(unknown)}; known: {', '.join(TYPES)}")
        return types or None


class MessageFilters(ActivityFilters):
    direction: Direction | None = None


# --- note -----------------------------------------------------------------------------------------
class NoteCreate(ActivityWrite):
    note: LongText | None = Field(None, description="Plain text; derived from note_html when only that is sent.")
    note_html: SafeHtml | None = Field(None, description="Rich text; sanitized (no scripts, no event handlers).")


class NoteRead(ActivityRead):
    note: str | None = None
    note_html: str | None = None


# --- call -----------------------------------------------------------------------------------------
class CallCreate(ActivityWrite):
    direction: Direction = "outbound"
    status: CallStatus = "completed"
    duration: Annotated[int, Field(ge=0, le=7 * 86400)] = Field(0, description="Seconds.")
    phone: PhoneNumber | None = Field(None, description="The other party's number; stored in E.164.")
    disposition: Annotated[str, Field(max_length=100)] | None = Field(
        None, description="The outcome, e.g. answered, vm-left, not-interested.")
    recording_url: WebUrl | None = None
    note: LongText | None = None


class CallRead(ActivityRead):
    direction: str | None = None
    status: str | None = None
    duration: int = 0
    phone: str | None = None
    disposition: str | None = None
    recording_url: str | None = None
    note: str | None = None


class CallFilters(MessageFilters):
    status: CallStatus | None = None


# --- email ----------------------------------------------------------------------------------------
class Attachment(WriteModel):
    name: Annotated[str, Field(min_length=1, max_length=500)]
    size: Annotated[int, Field(ge=0, le=10**12)] | None = Field(None, description="Bytes.")
    content_type: Annotated[str, Field(max_length=200)] | None = None
    url: WebUrl | None = None


class AttachmentOut(ReadModel):
    name: str
    size: int | None = None
    content_type: str | None = None
    url: str | None = None


Addresses = Annotated[list[EmailAddress], Field(max_length=100)]


class EmailCreate(ActivityWrite):
    direction: Direction = "outbound"
    status: MessageStatus | None = Field(None, description=(
        "Defaults to inbox for inbound emails, draft for outbound ones. Later changes follow the life cycle: "
        "draft -> scheduled/outbox, scheduled -> draft/outbox, outbox -> sending/draft, sending -> sent/error, "
        "error -> outbox/draft; sent and inbox are final."))
    subject: Str | None = None
    body_text: LongText | None = Field(None, description="Derived from body_html when only that is sent.")
    body_html: SafeHtml | None = None
    sender: EmailAddress | None = None
    to: Addresses = []
    cc: Addresses = []
    bcc: Addresses = []
    template_id: Annotated[str, Field(max_length=40)] | None = None
    thread_id: str | None = Field(None, description="An email thread of the same lead; a new one when absent.")
    attachments: Annotated[list[Attachment], Field(max_length=50)] = Field([], description="Metadata only.")
    date_scheduled: InputTimestamp | None = Field(None, description="Required for status scheduled.")
    date_sent: InputTimestamp | None = Field(None, description="Set when the status becomes sent, if not given.")


class EmailRead(ActivityRead):
    direction: str | None = None
    status: str | None = None
    subject: str | None = None
    body_text: str | None = None
    body_html: str | None = None
    sender: str | None = None
    to: list[str] = []
    cc: list[str] = []
    bcc: list[str] = []
    template_id: str | None = None
    thread_id: str | None = None
    attachments: list[AttachmentOut] = []
    date_scheduled: Timestamp | None = None
    date_sent: Timestamp | None = None
    # Set by delivery (geniziz.messaging), never by clients.
    message_id: str | None = Field(None, description="Our Message-ID, set when the email is queued to send.")
    send_error: str | None = Field(None, description="Why the last send failed (status error).")
    # Set by inbound mail (geniziz.messaging.inbound) on emails received over IMAP.
    inbound_kind: str | None = Field(None, description="Received emails: reply, auto_reply (RFC 3834) or bounce "
                                                       "(a delivery report).")
    bounce: str | None = Field(None, description="Bounces: hard (permanent failure) or soft (temporary).")
    resume_at: Timestamp | None = Field(None, description="Out-of-office replies: when the sender says they are back.")


class EmailFilters(MessageFilters):
    status: MessageStatus | None = None
    thread_id: str | None = None


# --- sms ------------------------------------------------------------------------------------------
class SmsCreate(ActivityWrite):
    direction: Direction = "outbound"
    status: MessageStatus | None = Field(None, description="As for emails: inbox for inbound, else draft.")
    local_phone: PhoneNumber | None = Field(None, description="Our number; stored in E.164.")
    remote_phone: PhoneNumber | None = Field(None, description="The other party's number; stored in E.164.")
    text: Annotated[str, Field(max_length=10_000)] | None = None
    date_scheduled: InputTimestamp | None = Field(None, description="Required for status scheduled.")


class SmsRead(ActivityRead):
    direction: str | None = None
    status: str | None = None
    local_phone: str | None = None
    remote_phone: str | None = None
    text: str | None = None
    date_scheduled: Timestamp | None = None
    # Set by delivery (geniziz.messaging.sms), never by clients.
    date_sent: Timestamp | None = None
    provider_sid: str | None = Field(None, description="The provider's message ID (sent and received SMS).")
    send_error: str | None = Field(None, description="Why the last send failed (status error).")


class SmsFilters(MessageFilters):
    status: MessageStatus | None = None


# --- meeting --------------------------------------------------------------------------------------
class Attendee(WriteModel):
    email: EmailAddress
    name: Annotated[str, Field(max_length=200)] | None = None
    contact_id: str | None = Field(None, description="Matched by email to a contact of the workspace when absent.")


class AttendeeOut(ReadModel):
    email: str
    name: str | None = None
    contact_id: str | None = None


class MeetingCreate(ActivityWrite):
    title: Annotated[str, Field(min_length=1, max_length=500)]
    starts_at: InputTimestamp
    ends_at: InputTimestamp | None = Field(None, description="After starts_at.")
    attendees: Annotated[list[Attendee], Field(max_length=200)] = []
    location: Str | None = None
    note: LongText | None = None
    outcome: Annotated[str, Field(max_length=200)] | None = None


class MeetingRead(ActivityRead):
    title: str | None = None
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    attendees: list[AttendeeOut] = []
    location: str | None = None
    note: str | None = None
    outcome: str | None = None


# --- channel message ------------------------------------------------------------------------------
Channel = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"),
                    AfterValidator(str.lower)]


class ChannelMessageCreate(ActivityWrite):
    channel: Channel = Field(description="e.g. whatsapp, linkedin, telegram (lower-cased).")
    direction: Direction = "outbound"
    text: Annotated[str, Field(max_length=20_000)] | None = None
    external_id: Annotated[str, Field(max_length=500)] | None = Field(None, description="The message's ID there.")
    external_thread_id: Annotated[str, Field(max_length=500)] | None = Field(
        None, description="The conversation's ID there.")


class ChannelMessageRead(ActivityRead):
    channel: str | None = None
    direction: str | None = None
    text: str | None = None
    external_id: str | None = None
    external_thread_id: str | None = None


# --- custom ---------------------------------------------------------------------------------------
class CustomCreate(ActivityWrite):
    custom_activity_type_id: str
    fields: Annotated[dict[str, Any], Field(max_length=200)] = Field({}, description=(
        "Values by field name, checked against the type. On update they are merged into the current ones; "
        "null removes one."))


class CustomRead(ActivityRead):
    custom_activity_type_id: str | None = None
    fields: dict[str, Any] = Field({}, description="Values by field name (the type's custom fields).")


class CustomFilters(ActivityFilters):
    custom_activity_type_id: str | None = None


# --- generated (read-only) ------------------------------------------------------------------------
class CreatedRead(ActivityRead):
    object_type: str | None = Field(None, description="lead or contact")
    object_id: str | None = None
    source: str | None = Field(None, description="Through what: api, mcp, genesy, import, cli.")


class LeadStatusChangeRead(ActivityRead):
    old_status_id: str | None = None
    old_status_label: str | None = None
    new_status_id: str | None = None
    new_status_label: str | None = None


class OpportunityStatusChangeRead(LeadStatusChangeRead):
    opportunity_id: str | None = None


class TaskCompletedRead(ActivityRead):
    task_id: str | None = None
    task_text: str | None = None


class LeadMergeRead(ActivityRead):
    source_lead_id: str | None = Field(None, description="The lead merged into this one (now deleted).")
    source_lead_name: str | None = None
    moved: dict[str, int] = Field(default_factory=dict, description="Records that moved here, per kind.")
    fields_filled: list[str] = Field(default_factory=list, description="Fields filled or united from the source.")


# --- updates: PUT changes only the fields sent; these may not be cleared -----------------------------
ALWAYS_SET = {"lead_id", "user_id", "activity_at"}
NoteUpdate = with_custom(partial_model(NoteCreate, "NoteFields", not_null=ALWAYS_SET), "NoteUpdate")
CallUpdate = with_custom(partial_model(CallCreate, "CallFields", not_null=ALWAYS_SET), "CallUpdate")
EmailUpdate = with_custom(partial_model(EmailCreate, "EmailFields", not_null=ALWAYS_SET | {"status"}), "EmailUpdate")
SmsUpdate = with_custom(partial_model(SmsCreate, "SmsFields", not_null=ALWAYS_SET | {"status"}), "SmsUpdate")
MeetingUpdate = with_custom(partial_model(MeetingCreate, "MeetingFields", not_null=ALWAYS_SET), "MeetingUpdate")
ChannelMessageUpdate = with_custom(partial_model(ChannelMessageCreate, "ChannelMessageFields", not_null=ALWAYS_SET),
                                   "ChannelMessageUpdate")
CustomUpdate = with_custom(partial_model(CustomCreate, "CustomActivityFields", not_null=ALWAYS_SET), "CustomUpdate")

# Which schema shapes an item of the unified stream.
READ_SCHEMAS: dict[str, type[ActivityRead]] = {
    "note": NoteRead, "call": CallRead, "email": EmailRead, "sms": SmsRead, "meeting": MeetingRead,
    "channel_message": ChannelMessageRead, "custom": CustomRead, "created": CreatedRead,
    "status_change/lead": LeadStatusChangeRead, "status_change/opportunity": OpportunityStatusChangeRead,
    "task_completed": TaskCompletedRead, "lead_merge": LeadMergeRead,
}


# --- email threads --------------------------------------------------------------------------------
class EmailThreadRead(ReadModel):
    id: str
    type_: str = Field("emailthread", serialization_alias="_type")
    lead_id: str
    subject: str | None
    participants: list[str]
    n_emails: int
    latest_email_id: str | None
    activity_at: Timestamp = Field(description="When its latest email happened.")
    date_created: Timestamp
    date_updated: Timestamp


class EmailThreadDetail(EmailThreadRead):
    emails: list[EmailRead] = Field(description="Oldest first.")


class EmailThreadFilters(WriteModel):
    lead_id: str | None = None


# --- custom activity types ------------------------------------------------------------------------
class CustomFieldDef(WriteModel):
    id: str | None = Field(None, description=(
        "An existing field of the type (its cf_ ID, as read): keeps that field and its values, even under a new "
        "name. Without it, a definition keeps the field of the same name, if any."))
    name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")] = Field(
        description="The key in a custom activity's fields.")
    label: Annotated[str, Field(max_length=200)] | None = None
    description: Annotated[str, Field(max_length=1000)] | None = None
    type: CustomFieldType
    required: bool = False
    choices: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=500)] | None = (
        Field(None, description="The allowed values; only (and required) for type choices."))


class CustomFieldOut(ReadModel):
    id: str = Field(description="The custom field's ID: lists filter on it as custom.<field ID>.")
    name: str
    label: str | None = None
    description: str | None = None
    type: str
    required: bool = False
    choices: list[str] | None = None

    @field_validator("choices", mode="before")
    @classmethod
    def _no_choices(cls, value: Any) -> Any:
        return value or None  # a field of another type than choices has none (stored as [])


class CustomActivityTypeCreate(WriteModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=5000)] | None = None
    fields: Annotated[list[CustomFieldDef], Field(max_length=100)] = []


CustomActivityTypeUpdate = partial_model(CustomActivityTypeCreate, "CustomActivityTypeUpdate")


class CustomActivityTypeRead(ReadModel):
    id: str
    name: str
    description: str | None
    fields: list[CustomFieldOut]
    date_created: Timestamp
    date_updated: Timestamp
    created_by: str | None
    updated_by: str | None
