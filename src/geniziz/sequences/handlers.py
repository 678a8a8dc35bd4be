"""Stop rules: what happens elsewhere (a reply, a bounce, an unsubscribe, a meeting, a status) stops or
pauses subscriptions, in the transaction of the change that announces it (geniziz.events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, or_, select

from geniziz import events
from geniziz.api.context import Ctx
from geniziz.contacts.models import Contact
from geniziz.leads.search import keyed
from geniziz.sequences.models import Sequence, SequenceSubscription
from geniziz.sequences.service import fail, finish, has_email_steps, live_subscriptions, pause

Sub = SequenceSubscription


async def _contacts_with_email(ctx: Ctx, address: str | None, lead_id: str | None = None) -> list[str]:
    if not address or not address.strip():
        return []
    query = keyed(ctx, select(Contact.id), Contact, "email", address.strip().lower())
    if lead_id is not None:
        query = query.where(Contact.lead_id == lead_id)
    return list(await ctx.session.scalars(query))


async def _of_message(ctx: Ctx, message: Any) -> list[SequenceSubscription]:
    """Subscriptions an inbound message answers: of its contact, of its email thread, or of the lead's
    contact whose address sent it."""
    data = message.data or {}
    contacts = {message.contact_id} - {None}
    contacts.update(await _contacts_with_email(ctx, data.get("sender"), message.lead_id))
    conditions = [Sub.contact_id.in_(sorted(contacts))] if contacts else []
    if message.thread_id:
        conditions.append(Sub.thread_id == message.thread_id)
    if message.type == "sms" and data.get("remote_phone"):
        conditions.append(and_(Sub.lead_id == message.lead_id, Sub.contact_id.in_(
            keyed(ctx, select(Contact.id), Contact, "phone", data["remote_phone"].lower()))))
    return await live_subscriptions(ctx, or_(*conditions) if conditions else false())


@events.on("email.received")
async def email_received(ctx: Ctx, message: Any, kind: str, bounce: str | None = None,
                         resume_at: datetime | None = None, **_: Any) -> None:
    for sub in await _of_message(ctx, message):
        if kind == "reply":
            await finish(ctx, sub, "replied", f"email {message.id}")
        elif kind == "bounce" and bounce == "hard":
            await finish(ctx, sub, "bounced", f"email {message.id}")
        elif kind == "bounce":  # soft: retryable (PUT status active resumes it)
            if sub.status != "error":
                await fail(ctx, sub, "soft_bounce", f"email {message.id}")
        elif kind == "auto_reply" and resume_at is not None and sub.status == "active":
            await pause(ctx, sub, "out_of_office", resume_at)  # back on their return date; no date: go on


@events.on("sms.received")
async def sms_received(ctx: Ctx, message: Any, **_: Any) -> None:
    for sub in await _of_message(ctx, message):
        await finish(ctx, sub, "replied", f"sms {message.id}")


@events.on("email.unsubscribed")
async def email_unsubscribed(ctx: Ctx, email: str, **_: Any) -> None:
    """Subscriptions of that address's contacts to sequences that send email stop; others go on (their
    email steps are skipped by the engine, which checks the list before each email)."""
    contacts = await _contacts_with_email(ctx, email)
    if not contacts:
        return
    for sub in await live_subscriptions(ctx, Sub.contact_id.in_(contacts)):
        sequence = await ctx.session.get(Sequence, sub.sequence_id)
        if has_email_steps(sequence.steps, sub.step_index):
            await finish(ctx, sub, "unsubscribed", email)


@events.on("activity.created")
async def meeting_booked(ctx: Ctx, activity: Any) -> None:
    if activity.type != "meeting":
        return
    contacts = {activity.contact_id, *((a or {}).get("contact_id") for a in (activity.data or {}).get("attendees") or [])}
    contacts.discard(None)
    if contacts:
        for sub in await live_subscriptions(ctx, Sub.contact_id.in_(sorted(contacts))):
            await finish(ctx, sub, "meeting_booked", f"meeting {activity.id}")


@events.on("lead.status_changed")
async def lead_status_changed(ctx: Ctx, lead: Any, old_status_id: str | None, new_status_id: str, **_: Any) -> None:
    if old_status_id == new_status_id:
        return
    goal = select(Sequence.id).where(Sequence.goal_status_id == new_status_id)
    for sub in await live_subscriptions(ctx, and_(Sub.lead_id == lead.id, Sub.sequence_id.in_(goal))):
        await finish(ctx, sub, "status_changed", f"status {new_status_id}")
