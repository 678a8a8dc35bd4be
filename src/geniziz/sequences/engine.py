"""The engine: runs due steps of subscriptions, across workspaces, from any number of workers.

State lives in the database: ``next_step_at`` on each subscription. ``GENIZIZ_SEQUENCE_RUNNERS``
periodic jobs (``sequences.run.N``, every ``GENIZIZ_SEQUENCE_TICK_SECONDS``) each loop:
1. claim a batch of due subscriptions in one statement (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so
   runners on several workers take different rows): ``next_step_at`` is pushed by a lease and
   ``claimed_by`` names the runner;
2. per subscription, in its workspace and its own transaction: lock it, check it is still ours
   (``claimed_by``: a pause, a stop or a change of steps clears it), run the step through the
   domain services (an email enters the outbox, so messaging queues its durable send job in this same
   transaction), record the outcome and schedule the next step in the sending window; commit.
A runner that dies leaves its claimed rows to come due again when the lease ends; a step's effects
and the advance to the next step commit together, so a step runs once however runners race.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from geniziz.activities.models import EmailThread
from geniziz.activities.schemas import EmailCreate, SmsCreate
from geniziz.api.auth import Principal
from geniziz.api.context import Ctx
from geniziz.api.errors import APIError, field_error, validation_field_errors
from geniziz.api.resource import REGISTRY
from geniziz.config import get_settings
from geniziz.contacts.models import Contact
from geniziz.db import UNSCOPED, WORKSPACE, WorkspaceSession, utcnow
from geniziz.messaging import templates
from geniziz.messaging.models import ConnectedAccount, EmailTemplate
from geniziz.messaging.service import template_variables
from geniziz.sequences import service as subs
from geniziz.sequences.models import Sequence, SequenceSubscription
from geniziz.sequences.schedule import in_window, next_run
from geniziz.tasks.schemas import TaskCreate
from geniziz.worker import periodic
from geniziz.worker.models import Job

log = logging.getLogger("geniziz.sequences")


SETTINGS = get_settings()  # the sequence_* settings


# --- claiming --------------------------------------------------------------------------------------------
async def claim(maker: async_sessionmaker, runner: str, batch: int) -> list[tuple[str, str]]:
    now = utcnow()
    pick = (select(SequenceSubscription.id)
            .where(SequenceSubscription.next_step_at <= now, SequenceSubscription.status.in_(("active", "paused")))
            .order_by(SequenceSubscription.next_step_at).limit(batch).with_for_update(skip_locked=True))
    statement = (update(SequenceSubscription).where(SequenceSubscription.id.in_(pick.scalar_subquery()))
                 .values(next_step_at=now + timedelta(seconds=SETTINGS.sequence_lease_seconds), claimed_by=runner)
                 .returning(SequenceSubscription.id, SequenceSubscription.organization_id)
                 .execution_options(synchronize_session=False))
    async with maker(info={UNSCOPED: True}) as session:  # the claim spans workspaces
        rows = [(sub_id, org_id) for sub_id, org_id in (await session.execute(statement)).tuples()]
        await session.commit()
    return rows


async def run_one(maker: async_sessionmaker, runner: str, sub_id: str, org_id: str) -> str | None:
    """One claimed subscription, in its workspace: returns what happened (None: no longer ours)."""
    async with maker(info={WORKSPACE: org_id}) as session:
        sub = (await session.scalars(
            select(SequenceSubscription).where(SequenceSubscription.id == sub_id,
                                               SequenceSubscription.claimed_by == runner)
            .with_for_update().execution_options(populate_existing=True))).first()
        if sub is None:
            return None
        sub.claimed_by = None
        ctx = Ctx(session, Principal(org_id, await _acting_user(session, sub), "admin", ""), via="sequence")
        outcome = await advance(ctx, sub)
        await session.commit()
        return outcome


async def _acting_user(session: Any, sub: SequenceSubscription) -> str | None:
    """Steps act as the sending account's owner (whose account the email leaves through), else the enroller."""
    if sub.sender_account_id:
        owner = await session.scalar(select(ConnectedAccount.user_id).where(ConnectedAccount.id == sub.sender_account_id))
        if owner:
            return owner
    return sub.created_by or sub.calls_assigned_to


async def advance(ctx: Ctx, sub: SequenceSubscription) -> str:
    now = utcnow()
    sequence = await ctx.session.get(Sequence, sub.sequence_id)
    schedule = subs.schedule_of(sequence)
    if sub.status == "paused":  # its resume date came
        await subs.resume(ctx, sub, "resume date")
        if sub.status != "active" or sub.next_step_at > now:
            return "resumed"
    if sub.status != "active":
        sub.next_step_at = None
        return "not active"
    if sub.step_index >= len(sequence.steps):
        await subs.finish(ctx, sub, "completed")
        return "completed"
    if not in_window(now, schedule):  # late (a slow or stopped engine): wait for the window, no burst
        sub.next_step_at = next_run(now, timedelta(0), schedule)
        return "waiting"
    index, step = sub.step_index, sequence.steps[sub.step_index]
    try:
        async with ctx.session.begin_nested():  # a refused step leaves nothing behind
            outcome, fields = await run_step(ctx, sub, step)
    except APIError as exc:  # the step cannot run as things are (no email, a deleted template, ...)
        await subs.fail(ctx, sub, "step_failed", subs.api_error_text(exc))
        return "error"
    subs.record(ctx, sub, "step", step_index=index, step_type=step["type"], outcome=outcome, **fields)
    sub.step_index, sub.last_step_at = index + 1, now
    await ctx.session.flush()
    if sub.status != "active":  # the step itself met a stop rule (e.g. the lead reached the goal status)
        return outcome
    if sub.step_index >= len(sequence.steps):
        await subs.finish(ctx, sub, "completed")
    else:
        delay = timedelta(seconds=sequence.steps[sub.step_index]["delay_seconds"])
        sub.next_step_at = next_run(now, delay, schedule)
    return outcome


def _validated(schema: Any, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema.model_validate(data).model_dump()
    except ValidationError as exc:
        fields = validation_field_errors(list(exc.errors()))
        raise APIError(400, "Invalid step: " + ", ".join(sorted(fields)), fields) from None


# --- steps -------------------------------------------------------------------------------------------------
async def run_step(ctx: Ctx, sub: SequenceSubscription, step: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Run one step through the domains' own services: (outcome, the records it made)."""
    kind = step["type"]
    contact = await ctx.session.get(Contact, sub.contact_id)
    if kind == "email":
        return await _email(ctx, sub, step, contact)
    if kind == "sms":
        phone = subs.first_phone(contact)
        if not phone:
            raise field_error("contact_id", "the contact has no phone number")
        variables = await template_variables(ctx, sub.lead_id, sub.contact_id)
        text = templates.render("", step["text"], None, variables)["body_text"]
        sms = await REGISTRY["activity/sms"].service.create(ctx, _validated(SmsCreate, {
            "lead_id": sub.lead_id, "contact_id": sub.contact_id, "remote_phone": phone, "text": text,
            "status": "outbox"}))
        return "sent", {"activity_id": sms.id}
    if kind in ("call", "task"):
        text = step.get("text") or f"Call {contact.name or subs.first_phone(contact) or 'the contact'}"
        task = await REGISTRY["task"].service.create(ctx, _validated(TaskCreate, {
            "lead_id": sub.lead_id, "contact_id": sub.contact_id, "text": text[:1000],
            "type": "call" if kind == "call" else "to_do", "due_date": utcnow(),
            "assigned_to": sub.calls_assigned_to or ctx.user_id}))
        return "created", {"task_id": task.id}
    if kind == "update_lead_status":
        await REGISTRY["lead"].service.update(ctx, sub.lead_id, {"status_id": step["status_id"]})
        return "done", {}
    if kind == "assign_user":
        await REGISTRY["lead"].service.update(ctx, sub.lead_id, {"owner_id": step["user_id"]})
        return "done", {}
    raise field_error("type", f"unknown step type {kind}")


async def _email(ctx: Ctx, sub: SequenceSubscription, step: dict[str, Any], contact: Contact) -> tuple[str, dict]:
    address = subs.first_email(contact)
    if not address:
        raise field_error("contact_id", "the contact has no email address")
    if await subs.is_suppressed(ctx, address):  # unsubscribed since: its email steps stop, the rest go on
        return "skipped", {"detail": f"{address} is unsubscribed"}
    account = await ctx.session.get(ConnectedAccount, sub.sender_account_id) if sub.sender_account_id else None
    if account is None:
        raise field_error("sender_account_id", "no connected account to send from")
    template = await ctx.session.get(EmailTemplate, step["template_id"])
    if template is None:
        raise field_error("template_id", "the step's email template was deleted")
    rendered = templates.render(template.subject, template.body_text, template.body_html,
                                await template_variables(ctx, sub.lead_id, sub.contact_id))
    thread = await ctx.session.get(EmailThread, sub.thread_id) if step.get("reply_in_thread") and sub.thread_id else None
    subject = rendered["subject"]
    if thread is not None and thread.lead_id == sub.lead_id:
        previous = thread.subject or ""
        subject = previous if previous.lower().startswith("re:") else f"Re: {previous}"
    else:
        thread = None
    email = await REGISTRY["activity/email"].service.create(ctx, _validated(EmailCreate, {
        "lead_id": sub.lead_id, "contact_id": sub.contact_id, "to": [address], "sender": account.email,
        "subject": subject, "body_text": rendered["body_text"], "body_html": rendered["body_html"],
        "status": "outbox", "template_id": template.id, "thread_id": thread.id if thread else None}))
    sub.thread_id = email.thread_id
    return "sent", {"activity_id": email.id}


# --- the runners ---------------------------------------------------------------------------------------------
async def run_due(ctx: Ctx, job: Job) -> dict[str, Any]:
    """Claim and run due steps until none is due or the tick's time is up (the next tick takes over)."""
    engine: AsyncEngine = ctx.session.bind  # type: ignore[assignment]
    maker = async_sessionmaker(engine, expire_on_commit=False, sync_session_class=WorkspaceSession)
    runner = f"{job.id}:{secrets.token_hex(4)}"
    deadline = time.monotonic() + max(SETTINGS.sequence_tick_seconds * 0.9, 1.0)
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        batch = await claim(maker, runner, SETTINGS.sequence_batch)
        if not batch:
            break
        for sub_id, org_id in batch:
            try:
                outcome = await run_one(maker, runner, sub_id, org_id) or "taken"
            except Exception:  # noqa: BLE001 - one subscription's fault (a deadlock, ...): retried after the lease
                log.exception("sequence subscription %s: step failed", sub_id)
                outcome = "failed"
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


for _n in range(max(1, SETTINGS.sequence_runners)):
    periodic(f"sequences.run.{_n}", every=timedelta(seconds=SETTINGS.sequence_tick_seconds), max_attempts=1,
             timeout=max(SETTINGS.sequence_tick_seconds * 4, 120))(run_due)
