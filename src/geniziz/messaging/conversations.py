"""Conversations: threads of email, SMS and note activities with a contact (and its lead).

A message belongs to at most one conversation (``ConversationMessage``, unique per activity). It
joins one in three ways, all inside the transaction that creates the activity:
- through ``POST /conversation/{id}/message/`` (the conversation is named);
- an email in the email thread of a conversation (a reply matched by its headers lands there);
- an inbound message otherwise goes to the contact's latest conversation, or starts one; inbound
  messages are unread, and a reply to a deleted conversation brings it back.
The summary (counts, channels, participants, latest message) is recomputed from the links under the
conversation's row lock, so concurrent messages never lose a count.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Select, String, cast, delete, select, update

from geniziz import events
from geniziz.activities.models import Activity, EmailThread
from geniziz.activities.schemas import READ_SCHEMAS
from geniziz.api.context import Ctx
from geniziz.api.errors import field_error
from geniziz.api.resource import REGISTRY, CrudService, Ref
from geniziz.contacts.models import Contact
from geniziz.contacts.service import lead_of_contact
from geniziz.db import new_id, utcnow
from geniziz.leads.models import Lead
from geniziz.messaging.models import Conversation, ConversationMessage
from geniziz.messaging.schemas import MESSAGE_FIELDS

CHANNELS = ("email", "sms")
MESSAGE_TYPES = ("note", *CHANNELS)
# The conversation a message being created through the message action belongs to.
_TARGET: ContextVar[str | None] = ContextVar("conversation_target", default=None)


@contextmanager
def into(conversation_id: str) -> Iterator[None]:
    """Messages created inside this block join this conversation."""
    token = _TARGET.set(conversation_id)
    try:
        yield
    finally:
        _TARGET.reset(token)


class ConversationService(CrudService[Conversation]):
    model = Conversation
    prefix = "conv"
    label = "conversation"
    refs = {"lead_id": Ref(Lead, "lead"), "contact_id": Ref(Contact, "contact")}

    def order_by(self) -> tuple[Any, ...]:
        return (Conversation.activity_at.desc(), Conversation.id.desc())  # latest message first

    def filter(self, ctx: Ctx, query: Select, filters: dict[str, Any]) -> Select:
        deleted = filters.pop("is_deleted", False)
        query = query.where(Conversation.date_deleted.is_not(None) if deleted else Conversation.date_deleted.is_(None))
        if (unread := filters.pop("is_unread", None)) is not None:
            query = query.where(Conversation.n_unread > 0 if unread else Conversation.n_unread == 0)
        if channel := filters.pop("channel", None):
            # A JSON list of known names, as text on both backends: the quoted name matches only itself.
            query = query.where(cast(Conversation.channels, String).contains(f'"{channel}"'))
        return super().filter(ctx, query, filters)

    async def apply(self, ctx: Ctx, obj: Conversation, data: dict[str, Any], *, creating: bool) -> None:
        if creating or "contact_id" in data:
            lead_id = await lead_of_contact(ctx, data.get("contact_id"), data.get("lead_id") or obj.lead_id)
            if not lead_id:
                raise field_error("contact_id", "required: a conversation is with a contact (or give lead_id)")
            data["lead_id"] = lead_id
        unread = data.pop("is_unread", None)
        if "channels" in data:
            data["channels"] = _ordered(data["channels"])
        if creating:
            data["activity_at"] = utcnow()
            obj.n_messages, obj.n_unread, obj.participants = 0, 0, []
        await super().apply(ctx, obj, data, creating=creating)
        if not creating and unread is not None:
            await mark(ctx, obj, unread)
        elif not creating and "channels" in data:
            await refresh(ctx, obj)  # the channels of its messages stay

    async def delete(self, ctx: Ctx, record_id: str) -> None:
        """Soft: hidden from lists, messages kept. Deleting it again changes nothing."""
        obj = await self.get(ctx, record_id, for_update=True)
        if obj.date_deleted is None:
            obj.date_deleted, obj.deleted_by = utcnow(), ctx.user_id
            obj.date_updated, obj.updated_by = utcnow(), ctx.user_id
            await ctx.session.flush()

    async def restore(self, ctx: Ctx, record_id: str) -> Conversation:
        obj = await self.get(ctx, record_id, for_update=True)
        if obj.date_deleted is not None:
            obj.date_deleted = obj.deleted_by = None
            obj.date_updated, obj.updated_by = utcnow(), ctx.user_id
            await ctx.session.flush()
        return obj

    async def messages(self, ctx: Ctx, conversation_id: str) -> list[dict[str, Any]]:
        """Its messages, oldest first, each shaped by its activity type's schema."""
        rows = (await ctx.session.execute(
            select(Activity, ConversationMessage.is_unread)
            .join(ConversationMessage, ConversationMessage.activity_id == Activity.id)
            .where(ConversationMessage.conversation_id == conversation_id)
            .order_by(Activity.activity_at, Activity.id))).all()
        return [{**READ_SCHEMAS[activity.type].model_validate(activity).model_dump(mode="json", by_alias=True),
                 "is_unread": unread} for activity, unread in rows]


CONVERSATIONS = ConversationService()


def _ordered(values: list[str]) -> list[str]:
    return [channel for channel in CHANNELS if channel in values]


async def mark(ctx: Ctx, conversation: Conversation, unread: bool) -> None:
    """false: every message read; true: the latest message unread (as if it had just arrived)."""
    links = ConversationMessage.conversation_id == conversation.id
    await ctx.session.execute(update(ConversationMessage).where(links).values(is_unread=False)
                              .execution_options(synchronize_session=False))
    if unread and conversation.latest_message_id:
        await ctx.session.execute(update(ConversationMessage).where(
            links, ConversationMessage.activity_id == conversation.latest_message_id).values(is_unread=True)
            .execution_options(synchronize_session=False))
    await refresh(ctx, conversation)


async def refresh(ctx: Ctx, conversation: Conversation) -> None:
    """Recompute the summary from its messages (the caller holds the conversation's row lock)."""
    await ctx.session.flush()
    rows = (await ctx.session.execute(
        select(Activity.id, Activity.type, Activity.activity_at, Activity.data, ConversationMessage.is_unread)
        .join(ConversationMessage, ConversationMessage.activity_id == Activity.id)
        .where(ConversationMessage.conversation_id == conversation.id)
        .order_by(Activity.activity_at, Activity.id))).all()
    participants: dict[str, None] = {}  # ordered and unique; bcc stays private to the sender
    channels = list(conversation.channels or ())
    for _id, kind, _at, data, _unread in rows:
        data = data or {}
        if kind in CHANNELS:
            channels.append(kind)
        found = [data.get("sender"), *data.get("to", []), *data.get("cc", [])] if kind == "email" else \
            [data.get("remote_phone")] if kind == "sms" else []
        for address in found:
            if address:
                participants.setdefault(address.lower())
    conversation.channels = _ordered(channels)
    conversation.participants = list(participants)
    conversation.n_messages = len(rows)
    conversation.n_unread = sum(1 for row in rows if row.is_unread)
    conversation.latest_message_id = rows[-1].id if rows else None
    conversation.activity_at = rows[-1].activity_at if rows else conversation.date_created
    conversation.date_updated = utcnow()
    await ctx.session.flush()


# --- messages joining conversations -----------------------------------------------------------------
async def _locked(ctx: Ctx, conversation_id: str) -> Conversation | None:
    return (await ctx.session.scalars(select(Conversation).where(Conversation.id == conversation_id)
                                      .execution_options(populate_existing=True).with_for_update())).first()


async def _find(ctx: Ctx, activity: Activity) -> str | None:
    """The conversation an activity created elsewhere belongs to, if any: its email thread's, then (for
    inbound messages and SMS) its contact's latest."""
    if activity.type == "email" and activity.thread_id:
        found = await ctx.session.scalar(select(Conversation.id).where(Conversation.thread_id == activity.thread_id)
                                         .order_by(Conversation.date_deleted.is_not(None), Conversation.id.desc())
                                         .limit(1))
        if found:
            return found
    if activity.contact_id and (activity.direction == "inbound" or activity.type == "sms"):
        return await ctx.session.scalar(select(Conversation.id).where(
            Conversation.contact_id == activity.contact_id, Conversation.date_deleted.is_(None))
            .order_by(Conversation.activity_at.desc(), Conversation.id.desc()).limit(1))
    return None


async def attach(ctx: Ctx, activity: Activity) -> Conversation | None:
    """Put a new message in its conversation (see the module docstring); idempotent."""
    if activity.type not in MESSAGE_TYPES or activity.lead_id is None:
        return None
    if await ctx.session.scalar(select(ConversationMessage.id).where(ConversationMessage.activity_id == activity.id)):
        return None
    inbound = activity.direction == "inbound"
    if inbound and activity.contact_id and not _TARGET.get():
        # One at a time per contact: two replies at once must not start two conversations.
        await ctx.session.get(Contact, activity.contact_id, with_for_update=True)
    conversation_id = _TARGET.get() or (None if activity.type == "note" else await _find(ctx, activity))
    conversation = await _locked(ctx, conversation_id) if conversation_id else None
    if conversation is None:
        if not inbound:
            return None  # an outbound message outside any conversation stays on the timeline only
        conversation = await _start(ctx, activity)
    if inbound and conversation.date_deleted is not None:
        conversation.date_deleted = conversation.deleted_by = None  # a reply brings the thread back
    if activity.type == "email" and conversation.thread_id is None and activity.thread_id:
        conversation.thread_id = activity.thread_id
    ctx.session.add(ConversationMessage(id=new_id("cmsg"), organization_id=ctx.org_id, conversation_id=conversation.id,
                                        activity_id=activity.id, is_unread=inbound, created_by=ctx.user_id,
                                        updated_by=ctx.user_id))
    await refresh(ctx, conversation)
    return conversation


async def _start(ctx: Ctx, activity: Activity) -> Conversation:
    data = activity.data or {}
    conversation = Conversation(id=new_id(ConversationService.prefix), organization_id=ctx.org_id,
                                lead_id=activity.lead_id, contact_id=activity.contact_id,
                                subject=data.get("subject"), channels=[activity.type], participants=[],
                                n_messages=0, n_unread=0, activity_at=activity.activity_at,
                                thread_id=activity.thread_id if activity.type == "email" else None,
                                created_by=ctx.user_id, updated_by=ctx.user_id)
    ctx.session.add(conversation)
    await ctx.session.flush()
    return conversation


@events.on("activity.created")
async def message_created(ctx: Ctx, activity: Any) -> None:
    await attach(ctx, activity)


@events.on("activity.deleting")
async def message_deleting(ctx: Ctx, activity: Any) -> None:
    """A deleted message leaves its conversation's counts and latest message (the link would only cascade)."""
    conversation_id = await ctx.session.scalar(
        select(ConversationMessage.conversation_id).where(ConversationMessage.activity_id == activity.id))
    if conversation_id is None or (conversation := await _locked(ctx, conversation_id)) is None:
        return
    await ctx.session.execute(delete(ConversationMessage).where(ConversationMessage.activity_id == activity.id)
                              .execution_options(synchronize_session=False))
    await refresh(ctx, conversation)


@events.on("email.received")
async def email_received(ctx: Ctx, message: Any, **_: Any) -> None:
    await attach(ctx, message)  # already attached when activity.created came first: nothing happens


# --- the message action ---------------------------------------------------------------------------------
async def add_message(ctx: Ctx, conversation_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /conversation/{id}/message/: a note, email or SMS in the thread, through the activity
    resource of its type (so the email/SMS state machine, suppression list and sending apply)."""
    conversation = await CONVERSATIONS.get(ctx, conversation_id, for_update=True)
    if conversation.date_deleted is not None:
        raise field_error("conversation_id", "this conversation is deleted: restore it first")
    kind = body.pop("type")
    values = {name: value for name, value in body.items() if value is not None}
    for name in values:
        if name not in MESSAGE_FIELDS[kind]:
            raise field_error(name, f"not a field of {kind} messages")
    values.update(lead_id=conversation.lead_id, contact_id=conversation.contact_id)
    if kind == "email":
        if not (values.get("to") or values.get("cc") or values.get("bcc")):
            values["to"] = [address] if (address := await first_email(ctx, conversation.contact_id)) else []
        values.setdefault("subject", conversation.subject)
        if conversation.thread_id and await ctx.session.get(EmailThread, conversation.thread_id):
            values["thread_id"] = conversation.thread_id
    elif kind == "sms" and not values.get("remote_phone"):
        contact = await ctx.session.get(Contact, conversation.contact_id) if conversation.contact_id else None
        phone = next(iter((contact.phones if contact else None) or []), None)
        if phone is None:
            raise field_error("remote_phone", "required: the conversation's contact has no phone number")
        values["remote_phone"] = phone["phone"]
    resource = REGISTRY[f"activity/{kind}"]
    with into(conversation.id):  # activity.created (message_created above) links it, in this transaction
        created = await resource.create(ctx, resource.parse(resource.create_schema, values))
    return {**created, "conversation_id": conversation.id, "is_unread": False}  # ours: outbound, or a note


async def first_email(ctx: Ctx, contact_id: str | None) -> str | None:
    """A contact's first email address: where its messages go by default."""
    contact = await ctx.session.get(Contact, contact_id) if contact_id else None
    return next((entry["email"] for entry in (contact.emails if contact else None) or [] if entry.get("email")), None)
