"""Activities: the timeline's rules.

One ``ActivityService`` per type, all over the ``activity`` table: each typed service sees only its
type, the unified stream sees them all. Type-specific rules live in the ``prepare`` hook: derived
plain text, the email/SMS status life cycle, email threads, meeting times and attendees, custom
fields checked against their type. Generated activities are written by ``record_activity``, called
from event handlers inside the transaction of the change that causes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from geniziz import events
from geniziz.activities.models import Activity, CustomActivityType, EmailThread
from geniziz.activities.schemas import html_to_text
from geniziz.api.context import Ctx
from geniziz.api.errors import APIError, field_error, not_found
from geniziz.api.resource import CrudService, Ref
from geniziz.identity.refs import MemberRef
from geniziz.contacts.models import Contact
from geniziz.contacts.service import lead_of_contact
from geniziz.custom.records import CustomValues
from geniziz.custom.values import fields_of, merge
from geniziz.db import insert_rows, looks_like_id, new_id, utcnow
from geniziz.leads.models import Lead

# Stored as columns (filtered or sorted on); every other field of a type goes into `data` (JSON).
COLUMNS = frozenset({"lead_id", "contact_id", "user_id", "activity_at", "direction", "status", "thread_id",
                     "custom_activity_type_id", "custom"})
CONTACT = Ref(Contact, "contact")
MEMBER = MemberRef()


def current(obj: Activity, data: dict[str, Any], name: str) -> Any:
    """A field's value after this write: the one sent, else the stored one."""
    if name in data:
        return data[name]
    return getattr(obj, name) if name in COLUMNS else (obj.data or {}).get(name)


def as_datetime(value: Any) -> datetime | None:
    """Datetimes of `data` come back from JSON as ISO strings."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


class ActivityService(CustomValues, CrudService[Activity]):
    model = Activity
    object_type = "activity"  # custom field values (geniziz.custom)
    prefix = "acti"
    label = "activity"
    refs = {"lead_id": Ref(Lead, "lead"), "contact_id": CONTACT, "user_id": MEMBER}
    activity_type: str | None = None  # None: every type (the unified stream)

    def __init__(self, activity_type: str | None = None) -> None:
        if activity_type is not None:
            self.activity_type = activity_type

    # -- reading
    def base_query(self) -> Select:
        query = super().base_query()
        return query if self.activity_type is None else query.where(Activity.type == self.activity_type)

    def order_by(self) -> tuple[Any, ...]:
        return (Activity.activity_at.desc(), Activity.id.desc())  # newest first by when it happened; stable

    def filter(self, ctx: Ctx, query: Select, filters: dict[str, Any]) -> Select:
        types = filters.pop("type_", None)
        after, before = filters.pop("activity_at__gte", None), filters.pop("activity_at__lte", None)
        if types:
            query = query.where(Activity.type.in_(types))
        if after is not None:
            query = query.where(Activity.activity_at >= after)
        if before is not None:
            query = query.where(Activity.activity_at <= before)
        return super().filter(ctx, query, filters)

    async def list(self, ctx: Ctx, filters: dict[str, Any], limit: int, skip: int) -> tuple[list[Activity], bool]:
        # Page over IDs first (an index-only scan on PostgreSQL), then load only the rows of the page:
        # a deep _skip walks the index instead of fetching every skipped row.
        page = (self.filter(ctx, self.query(ctx), filters).with_only_columns(Activity.id)
                .order_by(*self.order_by()).offset(skip).limit(limit + 1))
        query = select(Activity).where(Activity.id.in_(page.scalar_subquery())).order_by(*self.order_by())
        # SQLite (no statistics) would otherwise walk the workspace's activities in this order through
        # ix_activity_org_at, testing each against the page: 500 ms at 1,000,000 activities, not 0.2 ms.
        query = query.with_hint(Activity, "INDEXED BY sqlite_autoindex_activity_1", dialect_name="sqlite")
        rows = list(await ctx.session.scalars(query))
        return rows[:limit], len(rows) > limit

    # -- writing
    def new(self, ctx: Ctx) -> Activity:
        obj = super().new(ctx)
        obj.type = self.activity_type or ""
        obj.data = {}
        return obj

    async def apply(self, ctx: Ctx, obj: Activity, data: dict[str, Any], *, creating: bool) -> None:
        if creating or "contact_id" in data or "lead_id" in data:
            lead_id = await lead_of_contact(ctx, current(obj, data, "contact_id"), current(obj, data, "lead_id"))
            if not lead_id:
                raise field_error("lead_id", "required: an activity belongs to a lead (or give contact_id)")
            data["lead_id"] = lead_id
        await self.prepare(ctx, obj, data, creating=creating)
        if creating:
            data["user_id"] = data.get("user_id") or ctx.user_id
            data["activity_at"] = data.get("activity_at") or utcnow()
        fields = {name: value for name, value in data.items() if name not in COLUMNS}
        await super().apply(ctx, obj, {name: value for name, value in data.items() if name in COLUMNS},
                            creating=creating)
        if fields:  # a new dict, so the JSON column is seen as changed
            obj.data = {**(obj.data or {}), **to_jsonable_python(fields)}

    async def prepare(self, ctx: Ctx, obj: Activity, data: dict[str, Any], *, creating: bool) -> None:
        """The type's rules: validate and derive fields in `data` before it is stored."""

    async def after_create(self, ctx: Ctx, obj: Activity) -> None:
        await events.emit(ctx, "activity.created", activity=obj)  # flushed: conversations link it, a meeting stops sequences

    async def before_delete(self, ctx: Ctx, obj: Activity) -> None:
        await events.emit(ctx, "activity.deleting", activity=obj)  # a conversation lets its message go


# --- types ------------------------------------------------------------------------------------------
class NoteService(ActivityService):
    activity_type = "note"

    async def prepare(self, ctx: Ctx, obj: Activity, data: dict[str, Any], *, creating: bool) -> None:
        if data.get("note_html") and not data.get("note"):
            data["note"] = html_to_text(data["note_html"])
        if not current(obj, data, "note") and not current(obj, data, "note_html"):
            raise field_error("note", "a note needs note or note_html")


# The delivery life cycle of emails and SMS. Creating one may start in any status (a client may log a
# message sent elsewhere as sent); later changes must follow these edges.
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"scheduled", "outbox"}),
    "scheduled": frozenset({"draft", "outbox"}),
    "outbox": frozenset({"sending", "draft"}),
    "sending": frozenset({"sent", "error"}),
    "error": frozenset({"outbox", "draft"}),
    "sent": frozenset(),
    "inbox": frozenset(),
}


class MessageService(ActivityService):
    """Emails and SMS: a direction, and a status that follows TRANSITIONS."""

    async def prepare(self, ctx: Ctx, obj: Activity, data: dict[str, Any], *, creating: bool) -> None:
        inbound = current(obj, data, "direction") == "inbound"
        if creating and not data.get("status"):
            data["status"] = "inbox" if inbound else "draft"
        status, old = current(obj, data, "status"), None if creating else obj.status
        if (status == "inbox") != inbound:
            raise field_error("status", "inbound messages are in the inbox, and only they are")
        if old is not None and status != old and status not in TRANSITIONS[old]:
            allowed = ", ".join(sorted(TRANSITIONS[old])) or "none: it is final"
            raise field_error("status", f"cannot change from {old} to {status} (allowed: {allowed})")
        if status == "sent" and old != "sent":
            self.on_sent(obj, data)
        await events.emit(ctx, "message.status", message=obj, data=data, old=old, status=status)

    def on_sent(self, obj: Activity, data: dict[str, Any]) -> None:
        """A message happens when it is sent, unless the client says when."""
        if not data.get("activity_at"):
            data["activity_at"] = utcnow()


class SmsService(MessageService):
    activity_type = "sms"


class EmailService(MessageService):
    activity_type = "email"
    refs = {**ActivityService.refs, "thread_id": Ref(EmailThread, "email thread")}

    async def prepare(self, ctx: Ctx, obj: Activity, data: dict[str, Any], *, creating: bool) -> None:
        if data.get("body_html") and not data.get("body_text"):
            data["body_text"] = html_to_text(data["body_html"])
        if creating and not data.get("activity_at"):
            data["activity_at"] = data.get("date_sent")
        await super().prepare(ctx, obj, data, creating=creating)
        if current(obj, data, "status") == "scheduled" and not current(obj, data, "date_scheduled"):
            raise field_error("date_scheduled", "required when the status is scheduled")
        await self._place_in_thread(ctx, obj, data, creating=creating)

    def on_sent(self, obj: Activity, data: dict[str, Any]) -> None:
        data["date_sent"] = as_datetime(current(obj, data, "date_sent")) or utcnow()
        if not data.get("activity_at"):
            data["activity_at"] = data["date_sent"]

    async def _place_in_thread(self, ctx: Ctx, obj: Activity, data: dict[str, Any], *, creating: bool) -> None:
        """Join the thread named (of the same lead), or start one: when none is named on create, when
        thread_id is set to null, or when the email moves to another lead."""
        lead_id = current(obj, data, "lead_id")
        if data.get("thread_id"):
            thread = await ctx.session.get(EmailThread, data["thread_id"], with_for_update=True)
            if thread is None or thread.lead_id != lead_id:
                raise field_error("thread_id", "this thread belongs to another lead")
            return
        if creating or "thread_id" in data or lead_id != obj.lead_id:
            thread = EmailThread(id=new_id("thrd"), organization_id=ctx.org_id, lead_id=lead_id, n_emails=0,
                                 participants=[], activity_at=utcnow(), created_by=ctx.user_id,
                                 updated_by=ctx.user_id)
            ctx.session.add(thread)
            await ctx.session.flush()  # before the email that references it
            data["thread_id"] = thread.id

    async def create(self, ctx: Ctx, data: dict[str, Any]) -> Activity:
        obj = await super().create(ctx, data)
        await refresh_thread(ctx, obj.thread_id)
        return obj

    async def update(self, ctx: Ctx, record_id: str, data: dict[str, Any]) -> Activity:
        before = (await self.get(ctx, record_id, for_update=True)).thread_id
        for thread_id in sorted({before, data.get("thread_id")} - {None}):  # lock both ends of a move in order
            await ctx.session.get(EmailThread, thread_id, with_for_update=True)
        obj = await super().update(ctx, record_id, data)
        for thread_id in sorted({before, obj.thread_id} - {None}):
            await refresh_thread(ctx, thread_id)
        return obj

    async def delete(self, ctx: Ctx, record_id: str) -> None:
        thread_id = (await self.get(ctx, record_id, for_update=True)).thread_id
        await super().delete(ctx, record_id)
        await refresh_thread(ctx, thread_id)


async def refresh_thread(ctx: Ctx, thread_id: str | None) -> None:
    """Recompute a thread's summary from its emails, or delete it when none is left.

    The thread row is locked first, so of two concurrent writers to one thread the second recomputes
    after the first committed and sees both emails.
    """
    if thread_id is None:
        return
    thread = await ctx.session.get(EmailThread, thread_id, with_for_update=True)
    if thread is None:
        return
    await ctx.session.flush()
    emails = list(await ctx.session.scalars(
        select(Activity).where(Activity.thread_id == thread_id).order_by(Activity.activity_at, Activity.id)))
    if not emails:
        await ctx.session.delete(thread)
        await ctx.session.flush()
        return
    participants: dict[str, None] = {}  # ordered and unique; bcc stays private to the sender
    for email in emails:
        for address in [email.data.get("sender"), *email.data.get("to", []), *email.data.get("cc", [])]:
            if address:
                participants.setdefault(address.lower())
    thread.subject = emails[0].data.get("subject")
    thread.participants = list(participants)
    thread.n_emails = len(emails)
    thread.latest_email_id = emails[-1].id
    thread.activity_at = emails[-1].activity_at
    thread.date_updated = utcnow()
    thread.updated_by = ctx.user_id
    await ctx.session.flush()


class MeetingService(ActivityService):
    activity_type = "meeting"

    async def prepare(self, ctx: Ctx, obj: Activity, data: dict[str, Any], *, creating: bool) -> None:
        starts, ends = as_datetime(current(obj, data, "starts_at")), as_datetime(current(obj, data, "ends_at"))
        if starts is None:
            raise field_error("starts_at", "required")
        if ends is not None and ends <= starts:  # name the field that was sent
            raise (field_error("ends_at", "must be after starts_at") if "ends_at" in data
                   else field_error("starts_at", "must be before ends_at"))
        if "starts_at" in data and not data.get("activity_at"):
            data["activity_at"] = starts  # a meeting happens when it starts
        if data.get("attendees"):
            data["attendees"] = await self._match_attendees(ctx, data["attendees"], current(obj, data, "lead_id"))

    async def _match_attendees(self, ctx: Ctx, attendees: list[dict[str, Any]], lead_id: str) -> list[dict[str, Any]]:
        """Check the contacts named; match the others by email, preferring a contact of this lead."""
        for i, attendee in enumerate(attendees):
            if attendee.get("contact_id") and not await CONTACT.exists(ctx, attendee["contact_id"]):
                raise field_error(f"attendees.{i}.contact_id", f"No contact with ID {attendee['contact_id']} "
                                                               "in this workspace")
        unmatched = {a["email"].lower() for a in attendees if not a.get("contact_id")}
        if unmatched:
            rows = await ctx.session.execute(
                select(Contact.id, Contact.lead_id, Contact.email_keys)
                .where(or_(*(Contact.email_keys.contains(f"|{e}|", autoescape=True) for e in unmatched)))
                .order_by(Contact.id))
            found: dict[str, str] = {}
            for contact_id, contact_lead, keys in rows:
                for email in unmatched & set(keys.strip("|").split("|")):
                    if email not in found or contact_lead == lead_id:
                        found[email] = contact_id
            for attendee in attendees:
                attendee["contact_id"] = attendee.get("contact_id") or found.get(attendee["email"].lower())
        return attendees


class CustomService(ActivityService):
    """Activities of a custom activity type. The type's fields are custom fields (geniziz.custom, object type
    ``custom_activity``): values are checked and stored by the same machinery as every other custom value,
    in the activity's ``custom`` column by field ID, and read and written here by field name as ``fields``."""

    activity_type = "custom"
    refs = {**ActivityService.refs, "custom_activity_type_id": Ref(CustomActivityType, "custom activity type")}

    async def custom_fields(self, ctx: Ctx, obj: Activity) -> list[Any]:
        # The workspace's activity fields and the type's own: a write of `custom` keeps the type's values.
        return [*await fields_of(ctx, "activity"), *await type_fields(ctx, obj.custom_activity_type_id)]

    async def apply(self, ctx: Ctx, obj: Activity, data: dict[str, Any], *, creating: bool) -> None:
        sent = data.pop("fields", None)
        type_id = data.get("custom_activity_type_id") or obj.custom_activity_type_id
        if not creating and sent is None and type_id == obj.custom_activity_type_id:
            return await super().apply(ctx, obj, data, creating=creating)
        # The values by name after this write (null removes one), checked against the type (a type
        # change checks them anew against the new type's fields).
        old = [] if creating else await type_fields(ctx, obj.custom_activity_type_id)
        named = {f.name: (obj.custom or {})[f.id] for f in old if f.id in (obj.custom or {})}
        named.update(sent or {})
        fields = await type_fields(ctx, type_id)
        kind = await ctx.session.get(CustomActivityType, type_id)
        values = await merge(ctx, fields, None, {k: v for k, v in named.items() if v is not None}, creating=True,
                             what=f"custom activity type {kind.name if kind else type_id!r}", prefix="fields.",
                             exact_names=True)
        await super().apply(ctx, obj, data, creating=creating)
        own = {f.id for f in old}
        obj.custom = {**{k: v for k, v in (obj.custom or {}).items() if k not in own}, **values}


async def type_fields(ctx: Ctx, type_id: str | None) -> list[Any]:
    return await fields_of(ctx, "custom_activity", type_id) if type_id else []


class CustomActivityTypeService(CrudService[CustomActivityType]):
    """Custom activity types; their ``fields`` (a list of definitions, by name) are kept as custom fields:
    a name sent again updates its field (a type change converts the stored values, or is refused saying
    which do not convert), a name left out deletes its field and values, a new name adds one."""

    model = CustomActivityType
    prefix = "actt"
    label = "custom activity type"

    def load_options(self) -> tuple[Any, ...]:
        return (selectinload(CustomActivityType.fields),)

    async def apply(self, ctx: Ctx, obj: CustomActivityType, data: dict[str, Any], *, creating: bool) -> None:
        if data.get("name"):
            taken = await ctx.session.scalar(select(CustomActivityType.id).where(
                CustomActivityType.id != obj.id,
                func.lower(CustomActivityType.name) == data["name"].lower()).limit(1))
            if taken:
                raise field_error("name", f"already the name of custom activity type {taken}")
        seen: set[str] = set()
        for i, definition in enumerate(data.get("fields") or []):
            if definition["name"].lower() in seen:
                raise field_error(f"fields.{i}.name", f"{definition['name']!r} is used twice (in any case)")
            seen.add(definition["name"].lower())
            if (definition["type"] == "choices") != bool(definition.get("choices")):
                raise field_error(f"fields.{i}.choices", "required for type choices, and only for it")
        await super().apply(ctx, obj, {k: v for k, v in data.items() if k != "fields"}, creating=creating)

    async def _sync_fields(self, ctx: Ctx, obj: CustomActivityType, definitions: list[dict[str, Any]]) -> None:
        from geniziz.custom.service import CustomFieldService  # geniziz.custom imports this module

        service = CustomFieldService("custom_activity")
        existing = {f.id: f for f in await type_fields(ctx, obj.id)}
        by_name = {f.name_key: f.id for f in existing.values()}
        claimed = [definition["id"] for definition in definitions if definition.get("id")]
        for i, definition in enumerate(definitions):
            if definition.get("id") and definition["id"] not in existing:
                raise field_error(f"fields.{i}.id", "not a field of this custom activity type")
            if definition.get("id") and claimed.count(definition["id"]) > 1:
                raise field_error(f"fields.{i}.id", "used twice")
        kept = [definition.get("id") or (None if by_name.get(definition["name"].lower()) in claimed
                                         else by_name.get(definition["name"].lower())) for definition in definitions]
        for field_id in existing.keys() - set(kept):  # first, so that a new field may take a freed name
            await service.delete(ctx, field_id)
        for i, (definition, field_id) in enumerate(zip(definitions, kept, strict=True)):
            body = {"name": definition["name"], "type": definition["type"], "label": definition.get("label"),
                    "description": definition.get("description"), "required": definition.get("required", False),
                    "choices": definition.get("choices")}
            try:
                if field_id is not None:
                    await service.update(ctx, field_id, body)
                else:
                    await service.create(ctx, {**body, "custom_activity_type_id": obj.id})
            except APIError as exc:  # name the definition: fields.<i>.type
                exc.field_errors = {f"fields.{i}.{key}": why for key, why in exc.field_errors.items()}
                raise

    # The check in apply answers a repeat; the unique index on (workspace, lower(name)) answers a race,
    # in a savepoint so the loser gets the same 400.
    async def create(self, ctx: Ctx, data: dict[str, Any]) -> CustomActivityType:
        try:
            async with ctx.session.begin_nested():
                obj = await super().create(ctx, data)
        except IntegrityError:
            raise field_error("name", "already the name of another custom activity type") from None
        await self._sync_fields(ctx, obj, data.get("fields") or [])
        return obj

    async def update(self, ctx: Ctx, record_id: str, data: dict[str, Any]) -> CustomActivityType:
        try:
            async with ctx.session.begin_nested():
                obj = await super().update(ctx, record_id, data)
        except IntegrityError:
            raise field_error("name", "already the name of another custom activity type") from None
        if data.get("fields") is not None:
            await self._sync_fields(ctx, obj, data["fields"])
        return obj

    async def before_delete(self, ctx: Ctx, obj: CustomActivityType) -> None:
        count = await ctx.session.scalar(select(func.count()).select_from(Activity).where(
            Activity.custom_activity_type_id == obj.id))
        if count:
            raise APIError(400, f"This custom activity type has {count} activities; delete them first",
                           {"id": f"used by {count} activities"})


# --- generated activities ---------------------------------------------------------------------------
def _system_activity(ctx: Ctx, activity_type: str, *, lead_id: str | None, contact_id: str | None = None,
                     activity_at: datetime | None = None, **fields: Any) -> dict[str, Any]:
    return {"id": new_id(ActivityService.prefix), "organization_id": ctx.org_id, "type": activity_type,
            "lead_id": lead_id, "contact_id": contact_id, "user_id": ctx.user_id,
            "activity_at": activity_at or utcnow(), "created_by": ctx.user_id, "updated_by": ctx.user_id,
            "data": to_jsonable_python(fields)}


def record_activity(ctx: Ctx, activity_type: str, **fields: Any) -> Activity:
    """Write a system activity in the caller's transaction: it commits (or not) with its cause."""
    activity = Activity(**_system_activity(ctx, activity_type, **fields))
    ctx.session.add(activity)
    return activity


async def record_activities(ctx: Ctx, activity_type: str, items: list[dict[str, Any]]) -> None:
    """record_activity for each of many records (an import's batch), in one multi-row insert."""
    await insert_rows(ctx.session, Activity, [_system_activity(ctx, activity_type, **fields) for fields in items])


class EmailThreadService(CrudService[EmailThread]):
    model = EmailThread
    prefix = "thrd"
    label = "email thread"

    def order_by(self) -> tuple[Any, ...]:
        return (EmailThread.activity_at.desc(), EmailThread.id.desc())  # latest conversation first

    async def get(self, ctx: Ctx, record_id: str, *, for_update: bool = False, refresh: bool = False) -> EmailThread:
        """One thread with its emails (lists show only the summary)."""
        if not looks_like_id(record_id):
            raise not_found("Email thread")
        query = self.query(ctx).where(EmailThread.id == record_id).options(selectinload(EmailThread.emails))
        thread = (await ctx.session.scalars(query)).first()
        if thread is None:
            raise not_found("Email thread")
        return thread
