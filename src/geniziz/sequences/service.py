"""Sequences and subscriptions: validation, enrolment, pause/resume/stop, and the history.

Every change of a subscription's status goes through ``pause``, ``resume``, ``finish`` or ``fail``,
which keep its engine fields (``next_step_at``, ``open_contact_id``, ``claimed_by``) consistent and
write a history event in the same transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.exc import IntegrityError

from geniziz.api.context import Ctx
from geniziz.api.errors import APIError, field_error
from geniziz.api.resource import CrudService, Ref
from geniziz.contacts.models import Contact
from geniziz.db import new_id, utcnow
from geniziz.identity.refs import MemberRef
from geniziz.messaging.models import ConnectedAccount, EmailTemplate
from geniziz.messaging.suppression import is_suppressed
from geniziz.sequences.models import Sequence, SequenceEvent, SequenceSubscription
from geniziz.sequences.schedule import Schedule, next_run
from geniziz.statuses.models import Status

LIVE = ("active", "paused", "error")  # not finished: holds the contact's place in the sequence
MEMBER = MemberRef()
LEAD_STATUS = Ref(Status, "lead status", where=Status.kind == "lead")


def schedule_of(sequence: Sequence) -> Schedule:
    return Schedule.of(sequence.timezone, sequence.schedule or [], sequence.holidays or [])


def has_email_steps(steps: list[dict[str, Any]], start: int = 0) -> bool:
    return any(step["type"] == "email" for step in steps[start:])


def first_email(contact: Contact) -> str | None:
    return (contact.emails or [{}])[0].get("email")


def first_phone(contact: Contact) -> str | None:
    return (contact.phones or [{}])[0].get("phone")


# --- sequences ---------------------------------------------------------------------------------------
class SequenceService(CrudService[Sequence]):
    model = Sequence
    prefix = "seq"
    label = "sequence"
    refs = {"goal_status_id": LEAD_STATUS}

    async def apply(self, ctx: Ctx, obj: Sequence, data: dict[str, Any], *, creating: bool) -> None:
        if "steps" in data:
            await self._check_steps(ctx, data["steps"] or [])
        for name in ("schedule", "holidays", "steps"):
            if name in data and data[name] is None:
                data[name] = []
        if data.get("steps"):  # only each type's own fields are kept
            data["steps"] = [_clean(step) for step in data["steps"]]
        reschedule = not creating and bool({"steps", "timezone", "schedule", "holidays"} & data.keys())
        await super().apply(ctx, obj, data, creating=creating)
        try:
            next_run(utcnow(), timedelta(0), schedule_of(obj))
        except ValueError as exc:
            raise field_error("schedule" if obj.schedule else "holidays", str(exc)) from None
        if reschedule:
            await ctx.session.flush()
            await reschedule_all(ctx, obj)

    async def _check_steps(self, ctx: Ctx, steps: list[dict[str, Any]]) -> None:
        needs = {"email": "template_id", "sms": "text", "task": "text", "update_lead_status": "status_id",
                 "assign_user": "user_id"}
        refs = {"template_id": Ref(EmailTemplate, "email template"), "status_id": LEAD_STATUS, "user_id": MEMBER}
        seen_email = False
        for i, step in enumerate(steps):
            kind = step["type"]
            if kind in needs and not step.get(needs[kind]):
                raise field_error(f"steps.{i}.{needs[kind]}", f"required for a {kind} step")
            for name, ref in refs.items():
                if step.get(name) and needs.get(kind) == name and not await ref.exists(ctx, step[name]):
                    raise field_error(f"steps.{i}.{name}", f"No {ref.label} with ID {step[name]} in this workspace")
            if step.get("reply_in_thread") and (kind != "email" or not seen_email):
                raise field_error(f"steps.{i}.reply_in_thread", "only for an email step after another email step")
            seen_email = seen_email or kind == "email"


FIELDS = {"email": ("template_id", "reply_in_thread"), "sms": ("text",), "call": ("text",), "task": ("text",),
          "update_lead_status": ("status_id",), "assign_user": ("user_id",)}


def _clean(step: dict[str, Any]) -> dict[str, Any]:
    return {"type": step["type"], "delay_seconds": step.get("delay_seconds") or 0,
            **{name: step.get(name) for name in FIELDS[step["type"]]}}


async def reschedule_all(ctx: Ctx, sequence: Sequence) -> None:
    """After the steps or the schedule changed: pending steps of active subscriptions follow the new
    delays (from their last step, or their start); past the new last step, they are complete."""
    schedule = schedule_of(sequence)
    subscriptions = await ctx.session.scalars(
        select(SequenceSubscription).where(SequenceSubscription.sequence_id == sequence.id,
                                           SequenceSubscription.status == "active")
        .order_by(SequenceSubscription.id).with_for_update().execution_options(populate_existing=True))
    for sub in subscriptions:
        if sub.step_index >= len(sequence.steps):
            await finish(ctx, sub, "completed")
            continue
        base = sub.last_step_at or max(sub.start_date or sub.date_created, sub.date_created)
        # A step now overdue runs at the engine's next look, inside a window (the engine checks again).
        sub.next_step_at = next_run(base, timedelta(seconds=sequence.steps[sub.step_index]["delay_seconds"]), schedule)
        sub.claimed_by = None  # a worker holding the old plan stands down (its fence)


# --- status changes ------------------------------------------------------------------------------------
def record(ctx: Ctx, sub: SequenceSubscription, kind: str, **fields: Any) -> SequenceEvent:
    event = SequenceEvent(id=new_id("seqe"), organization_id=sub.organization_id, sequence_id=sub.sequence_id,
                          subscription_id=sub.id, kind=kind, created_by=ctx.user_id, updated_by=ctx.user_id,
                          date_created=utcnow(), date_updated=utcnow(), **fields)
    ctx.session.add(event)
    return event


def _touch(ctx: Ctx, sub: SequenceSubscription, status: str, reason: str | None) -> None:
    sub.status, sub.status_reason = status, reason
    sub.claimed_by = None
    sub.date_updated, sub.updated_by = utcnow(), ctx.user_id


async def finish(ctx: Ctx, sub: SequenceSubscription, reason: str, detail: str | None = None) -> None:
    if sub.status == "finished":
        return
    _touch(ctx, sub, "finished", reason)
    sub.next_step_at = sub.open_contact_id = sub.paused_until = None
    sub.date_finished = utcnow()
    # Attributed to the last step run (the report's "replied after step N").
    record(ctx, sub, "finished", outcome=reason, step_index=sub.step_index - 1 if sub.step_index else None,
           detail=detail)


async def pause(ctx: Ctx, sub: SequenceSubscription, reason: str, until: datetime | None) -> None:
    _touch(ctx, sub, "paused", reason)
    sub.paused_until = sub.next_step_at = until  # the engine resumes it then
    record(ctx, sub, "paused", outcome=reason, detail=f"until {until.isoformat()}" if until else None)


async def resume(ctx: Ctx, sub: SequenceSubscription, reason: str = "manual") -> None:
    sequence = await ctx.session.get(Sequence, sub.sequence_id)
    _touch(ctx, sub, "active", None)
    sub.paused_until = None
    record(ctx, sub, "resumed", outcome=reason)
    if sub.step_index >= len(sequence.steps):
        await finish(ctx, sub, "completed")
        return
    sub.next_step_at = next_run(utcnow(), timedelta(0), schedule_of(sequence))  # no catch-up: one step at a time


async def fail(ctx: Ctx, sub: SequenceSubscription, reason: str, detail: str | None = None) -> None:
    _touch(ctx, sub, "error", reason)
    sub.next_step_at = None
    record(ctx, sub, "error", outcome=reason, step_index=sub.step_index, detail=detail)


async def live_subscriptions(ctx: Ctx, where: ColumnElement[bool]) -> list[SequenceSubscription]:
    """Subscriptions not finished that match, locked (in ID order, so concurrent stops do not deadlock)."""
    return list(await ctx.session.scalars(
        select(SequenceSubscription).where(SequenceSubscription.status.in_(LIVE), where)
        .order_by(SequenceSubscription.id).with_for_update().execution_options(populate_existing=True)))


# --- subscriptions ---------------------------------------------------------------------------------------
class SubscriptionService(CrudService[SequenceSubscription]):
    model = SequenceSubscription
    prefix = "seqsub"
    label = "sequence subscription"
    refs = {"sequence_id": Ref(Sequence, "sequence"), "contact_id": Ref(Contact, "contact"),
            "sender_account_id": Ref(ConnectedAccount, "connected account"), "calls_assigned_to": MEMBER}

    async def _account(self, ctx: Ctx, account_id: str | None) -> ConnectedAccount | None:
        """The account named (one the caller may use), or the caller's default; None if there is none."""
        query = select(ConnectedAccount).where(ConnectedAccount.kind == "email")
        if not ctx.principal.is_admin or account_id is None:
            query = query.where(or_(ConnectedAccount.user_id == ctx.user_id, ConnectedAccount.is_shared.is_(True)))
        if account_id is not None:
            query = query.where(ConnectedAccount.id == account_id)
        account = (await ctx.session.scalars(
            query.order_by((ConnectedAccount.user_id != ctx.user_id), ConnectedAccount.id).limit(1))).first()
        if account is None and account_id is not None:
            raise field_error("sender_account_id", "not one of your connected accounts (or a shared one)")
        return account

    async def check_enrolment(self, ctx: Ctx, data: dict[str, Any]) -> tuple[Sequence, ConnectedAccount | None,
                                                                             Contact | None]:
        """What an enrolment needs, checked (400 naming the field): the sequence (active, with steps), the
        sending account (the one named, if the caller may use it, else the caller's default) and, when
        ``data`` names a contact, that it can receive the sequence's emails. Bulk enrolment checks once
        without a contact, then enrols each through ``create``."""
        await self.check_refs(ctx, data)
        sequence = await ctx.session.get(Sequence, data["sequence_id"])
        if sequence.status != "active":
            raise field_error("sequence_id", "this sequence is archived")
        if not sequence.steps:
            raise field_error("sequence_id", "this sequence has no steps")
        contact = await ctx.session.get(Contact, data["contact_id"]) if data.get("contact_id") else None
        account = await self._account(ctx, data.get("sender_account_id"))
        if has_email_steps(sequence.steps):
            if contact is not None:
                address = first_email(contact)
                if not address:
                    raise field_error("contact_id", "this contact has no email address, and the sequence sends email")
                if await is_suppressed(ctx, address):
                    raise field_error("contact_id", f"{address} is unsubscribed: it cannot be enrolled in a "
                                                    "sequence that sends email")
            if account is None:
                raise field_error("sender_account_id", "connect an email account (/connected_account/) to send "
                                                       "this sequence's emails")
        return sequence, account, contact

    async def create(self, ctx: Ctx, data: dict[str, Any]) -> SequenceSubscription:
        sequence, account, contact = await self.check_enrolment(ctx, data)
        assert contact is not None  # contact_id is required by the schema and was found in this workspace
        now = utcnow()
        sub = self.new(ctx)
        sub.sequence_id, sub.contact_id, sub.lead_id = sequence.id, contact.id, contact.lead_id
        sub.open_contact_id = contact.id
        sub.sender_account_id = account.id if account else None
        sub.calls_assigned_to = data.get("calls_assigned_to") or ctx.user_id
        sub.status, sub.step_index, sub.start_date = "active", 0, data.get("start_date")
        sub.date_created = sub.date_updated = now
        start = max(sub.start_date or now, now)
        sub.next_step_at = next_run(start, timedelta(seconds=sequence.steps[0]["delay_seconds"]), schedule_of(sequence))
        try:
            async with ctx.session.begin_nested():  # the unique (sequence, open contact) answers a race
                ctx.session.add(sub)
        except IntegrityError:
            raise field_error("contact_id", "this contact is already subscribed to this sequence") from None
        record(ctx, sub, "enrolled")
        return sub

    async def update(self, ctx: Ctx, record_id: str, data: dict[str, Any]) -> SequenceSubscription:
        sub = await self.get(ctx, record_id, for_update=True)
        await self.check_refs(ctx, data)
        if sub.status == "finished":
            raise field_error("status", f"this subscription is finished ({sub.status_reason}); enrol the contact again")
        status = data.get("status")
        if data.get("paused_until") is not None and status != "paused":
            raise field_error("paused_until", "only with status paused")
        if "sender_account_id" in data:
            account = await self._account(ctx, data["sender_account_id"]) if data["sender_account_id"] else None
            sequence = await ctx.session.get(Sequence, sub.sequence_id)
            if account is None and has_email_steps(sequence.steps, sub.step_index):
                raise field_error("sender_account_id", "required: this sequence still has email steps")
            sub.sender_account_id = account.id if account else None
        if data.get("calls_assigned_to"):
            sub.calls_assigned_to = data["calls_assigned_to"]
        if status == "paused":
            if data.get("paused_until") is not None and data["paused_until"] <= utcnow():
                raise field_error("paused_until", "must be in the future")
            if sub.status != "paused" or data.get("paused_until") != sub.paused_until:  # a repeat changes nothing
                await pause(ctx, sub, "manual", data.get("paused_until"))
        elif status == "active" and sub.status != "active":
            await resume(ctx, sub)
        sub.date_updated, sub.updated_by = utcnow(), ctx.user_id
        await ctx.session.flush()
        return sub

    async def delete(self, ctx: Ctx, record_id: str) -> None:
        """Stops it for good (finished, reason manual); its history stays for the reports."""
        sub = await self.get(ctx, record_id, for_update=True)
        await finish(ctx, sub, "manual")
        await ctx.session.flush()

    async def history(self, ctx: Ctx, record_id: str) -> tuple[SequenceSubscription, list[SequenceEvent]]:
        sub = await self.get(ctx, record_id)
        events = await ctx.session.scalars(select(SequenceEvent).where(SequenceEvent.subscription_id == sub.id)
                                           .order_by(SequenceEvent.id))
        return sub, list(events)


def api_error_text(exc: APIError) -> str:
    details = "; ".join(f"{name}: {why}" for name, why in exc.field_errors.items())
    return f"{exc.message} ({details})" if details else exc.message
