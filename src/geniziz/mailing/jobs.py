"""Pushing an export: the ``mailing_export.step`` job, one step at a time.

A step is one call to the platform: push the next batch of pending contacts, or poll an import the
platform runs in the background (Brevo, Klaviyo). Each step
1. reads what to do (the export, the next batch, or the import to poll) and commits, so no SQLite
   write lock is held while the platform answers;
2. calls the platform;
3. records the outcome (contacts pushed, failed, or submitted with the platform's job ID; the export's
   counters) and enqueues the next step, in the transaction the worker commits with this job's success.
So progress is durable step by step: a worker killed mid-export loses at most the step in flight, which
the next worker runs again (pushes are upserts by address, so a repeat adds no one twice), and an
import already submitted is polled, never submitted again. A 429 waits the platform's hint (the next
step is due then); a refusal of the whole call (bad key, unknown list) fails the export; anything else is
retried with backoff and fails the export after the last attempt.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from geniziz.api.context import Ctx
from geniziz.config import get_settings
from geniziz.contacts.models import Contact
from geniziz.db import utcnow
from geniziz.leads.models import Lead
from geniziz.mailing import outbound
from geniziz.mailing.adapters import PLATFORMS, Adapter, Person, Polled, Pushed
from geniziz.mailing.models import MailingConnection, MailingExport, MailingExportMember as Member
from geniziz.mailing.service import STEP_JOB, connection_of
from geniziz.messaging import templates
from geniziz.messaging.suppression import suppressed
from geniziz.statuses.models import Status
from geniziz.worker import enqueue, job_handler
from geniziz.worker.models import Job


def _value(source: str, contact: Contact, lead: Lead, status: str | None, variables: dict[str, Any]) -> Any:
    kind, _, name = source.partition(".")
    if kind == "contact":
        return variables.get(name)
    if name == "status":
        return status
    return getattr(lead, name, None)


async def _people(ctx: Ctx, export: MailingExport, size: int) -> tuple[list[Person], dict[str, str]]:
    """The next pending contacts as pushed, and the ones to skip (deleted or unsubscribed since the count)."""
    rows = (await ctx.session.execute(
        select(Member.email, Contact, Lead, Status.label)
        .outerjoin(Contact, Contact.id == Member.contact_id).outerjoin(Lead, Lead.id == Contact.lead_id)
        .outerjoin(Status, Status.id == Lead.status_id)
        .where(Member.export_id == export.id, Member.state == "pending").order_by(Member.email).limit(size))).all()
    stopped = {address.lower() for address in await suppressed(ctx, [row[0] for row in rows])}
    people, skips = [], {}
    mapping = export.config.get("fields") or {}
    for email, contact, lead, status in rows:
        if contact is None or lead is None:
            skips[email] = "the contact was deleted before it was pushed"
            continue
        if email in stopped:
            skips[email] = "unsubscribed since the export was created"
            continue
        variables = templates.contact_vars(contact)
        fields = {key: value for key, source in mapping.items()
                  if (value := _value(source, contact, lead, status, variables)) is not None}
        people.append(Person(email=email, first_name=variables["first_name"], last_name=variables["last_name"],
                             company=lead.name, fields=fields))
    return people, skips


async def _settle(ctx: Ctx, export: MailingExport, emails: list[str], failures: dict[str, str],
                  state_from: str) -> None:
    """Contacts of a finished call: failed (with the platform's reason) or pushed."""
    failed = [email for email in emails if email in failures]
    for email in failed:
        await ctx.session.execute(update(Member).where(Member.export_id == export.id, Member.email == email)
                                  .values(state="failed", error=failures[email]))
    pushed = set(emails) - set(failed)
    for start in range(0, len(emails), 500):
        chunk = [email for email in emails[start:start + 500] if email in pushed]
        if chunk:
            await ctx.session.execute(update(Member).where(Member.export_id == export.id, Member.email.in_(chunk),
                                                           Member.state == state_from).values(state="pushed", error=None))
    export.pushed += len(pushed)
    export.failed += len(failed)


async def _next(ctx: Ctx, export: MailingExport, delay: float = 0.0) -> None:
    export.step += 1
    run_at = utcnow() + timedelta(seconds=delay) if delay else None
    export.next_attempt_at = run_at
    await enqueue(ctx, STEP_JOB, {"export_id": export.id, "step": export.step}, run_at=run_at, owner=export,
                  idempotency_key=f"{export.id}:{export.step}", max_attempts=8)


def _finish(export: MailingExport, status: str, error: str | None = None) -> None:
    export.status, export.error, export.date_finished, export.next_attempt_at = status, error, utcnow(), None


async def _load(ctx: Ctx, job: Job) -> MailingExport | None:
    export = (await ctx.session.scalars(select(MailingExport).where(MailingExport.id == job.payload["export_id"])
                                        .execution_options(populate_existing=True).with_for_update())).first()
    if export is None or export.status in ("done", "failed") or export.step != job.payload["step"]:
        return None  # gone, finished, or this step already ran (its successor is queued)
    return export


@job_handler(STEP_JOB, max_attempts=8, timeout=300)
async def export_step(ctx: Ctx, job: Job) -> dict[str, Any]:
    # 1. What to do.
    export = await _load(ctx, job)
    if export is None:
        return {"skipped": "nothing to do for this step"}
    adapter = PLATFORMS[export.platform]
    record = await ctx.session.get(MailingConnection, export.connection_id) if export.connection_id else None
    if record is None:
        _finish(export, "failed", f"the {adapter.title} connection was deleted")
        return {"error": "no connection"}
    if export.status == "queued":
        export.status, export.date_started = "running", utcnow()
    conn = connection_of(record)
    batch = await ctx.session.scalar(select(Member.batch).where(Member.export_id == export.id,
                                                                Member.state == "submitted").limit(1))
    people: list[Person] = []
    if batch is None:
        people, skips = await _people(ctx, export, export.config.get("batch_size") or adapter.max_batch)
        for email, why in skips.items():
            await ctx.session.execute(update(Member).where(Member.export_id == export.id, Member.email == email)
                                      .values(state="skipped", error=why))
        export.skipped += len(skips)
        if not people:
            if skips:  # a batch of skips only: go on with the next one
                await _next(ctx, export)
                return {"skipped": len(skips)}
            _finish(export, "done")
            return {"done": True, "pushed": export.pushed, "failed": export.failed}
    list_id, options = export.config["list_id"], export.config
    await ctx.session.commit()  # let SQLite's writer go while the platform answers

    # 2. The call.
    try:
        if batch is not None:
            outcome: Pushed | Polled = await adapter.poll(conn, batch)
        else:
            outcome = await adapter.push(conn, list_id, people, options)
    except outbound.RateLimited as exc:
        export = await _load(ctx, job)
        if export is not None:
            export.error = f"{adapter.title} rate limit: waiting {exc.wait:g} s"
            await _next(ctx, export, exc.wait)
        return {"rate_limited": exc.wait}
    except (outbound.PlatformError, outbound.HostRefused) as exc:
        permanent = isinstance(exc, outbound.HostRefused) or exc.permanent
        if permanent or job.attempts >= job.max_attempts:
            export = await _load(ctx, job)
            if export is not None:
                _finish(export, "failed", f"{adapter.title}: {exc}")
            return {"error": str(exc)}
        raise

    # 3. The outcome, with the next step.
    export = await _load(ctx, job)
    if export is None:
        return {"skipped": "the export changed during the call"}
    return await _record(ctx, export, adapter, batch, people, outcome)


async def _record(ctx: Ctx, export: MailingExport, adapter: Adapter, batch: str | None, people: list[Person],
                  outcome: Pushed | Polled) -> dict[str, Any]:
    export.error = None
    if isinstance(outcome, Polled):
        if not outcome.done:
            await _next(ctx, export, get_settings().mailing_poll_seconds)
            return {"polled": batch, "done": False}
        emails = list(await ctx.session.scalars(select(Member.email).where(
            Member.export_id == export.id, Member.state == "submitted", Member.batch == batch)))
        failures = dict.fromkeys(emails, outcome.error) if outcome.error else outcome.failures
        await _settle(ctx, export, emails, failures, "submitted")
        await _next(ctx, export)
        return {"polled": batch, "done": True, "failed": sum(email in failures for email in emails)}
    emails = [person.email for person in people]
    if outcome.job_id is not None:  # an import the platform runs: poll it next
        for start in range(0, len(emails), 500):
            await ctx.session.execute(update(Member).where(
                Member.export_id == export.id, Member.email.in_(emails[start:start + 500]), Member.state == "pending")
                .values(state="submitted", batch=outcome.job_id))
        await _next(ctx, export, get_settings().mailing_poll_seconds)
        return {"submitted": len(emails), "job_id": outcome.job_id}
    await _settle(ctx, export, emails, outcome.failures, "pending")
    await _next(ctx, export)
    return {"pushed": len(emails) - len(outcome.failures), "failed": len(outcome.failures)}

