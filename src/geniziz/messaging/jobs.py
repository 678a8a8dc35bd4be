"""Sending an email: the ``email.send`` job, enqueued when an email enters the outbox.

Steps, each its own transaction so that SQLite's single writer is never held across the network:
1. read: is this send still wanted (same Message-ID, still queued), which account, within its limits?
2. SMTP: connect, EHLO, (STARTTLS), AUTH, MAIL FROM, RCPT TO; nothing is handed over yet, so any
   failure here is retried with backoff, and after the last attempt the email is ``error``;
3. hand-off, committed *before* DATA: an ``email_delivery`` row keyed by the Message-ID (unique) and
   the email ``sending``; a retry that finds the row never sends again;
4. DATA, then ``sent`` (with the date) committed at once. A refusal in DATA is a clear "not sent"
   (retried, or ``error`` when permanent); a connection lost during DATA, or a crash after step 3,
   is an unknown outcome: the email becomes ``error`` saying so, and is not resent automatically.
So a Message-ID reaches the SMTP server at most once; a message is never lost silently.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from geniziz.activities.models import Activity
from geniziz.activities.service import refresh_thread
from geniziz.api.context import Ctx
from geniziz.db import new_id, utcnow
from geniziz.messaging import smtp
from geniziz.messaging.handlers import SEND_JOB
from geniziz.messaging.models import ConnectedAccount, EmailDelivery
from geniziz.messaging.sent_folder import APPEND_JOB
from geniziz.messaging.public import list_unsubscribe
from geniziz.messaging.service import account_settings
from geniziz.messaging.suppression import suppressed
from geniziz.worker import enqueue, job_handler
from geniziz.worker.models import Job

QUEUED = ("outbox", "scheduled")
UNKNOWN = ("the connection to the SMTP server was lost after the message was handed over ({why}): it may "
           "have been delivered (Message-ID {mid}). Not resent automatically; set the status to outbox to send "
           "it again.")


async def _activity(ctx: Ctx, job: Job) -> Activity | None:
    """The email, as locked now, if this job's send is still the one wanted."""
    activity = (await ctx.session.scalars(select(Activity).where(Activity.id == job.payload["activity_id"])
                                          .execution_options(populate_existing=True).with_for_update())).first()
    if activity is None or (activity.data or {}).get("message_id") != job.payload["message_id"]:
        return None
    return activity


def _set(activity: Activity, status: str, **fields: Any) -> None:
    activity.status = status
    activity.data = {**(activity.data or {}), **fields}  # a new dict, so the JSON column is seen as changed
    activity.date_updated = utcnow()


async def limits_wait(ctx: Ctx, account: ConnectedAccount) -> datetime | None:
    """When the account may send next, if not now: per rolling 24 h, per rolling hour, minimum gap."""
    now = utcnow()
    sent = list(await ctx.session.scalars(
        select(EmailDelivery.date_handed_off).where(EmailDelivery.account_id == account.id,
                                                    EmailDelivery.date_handed_off > now - timedelta(days=1))
        .order_by(EmailDelivery.date_handed_off.desc())
        .limit(account.max_per_day)))  # the newest max_per_day decide every limit
    return account.next_send_at(sent, now)


async def _wait(ctx: Ctx, job: Job, until: datetime) -> dict[str, Any]:
    """Over a limit: the send waits in a new job (this one then succeeds); it is never dropped."""
    await enqueue(ctx, SEND_JOB, job.payload, run_at=until, owner=("activity", job.payload["activity_id"]),
                  idempotency_key=f"{job.payload['message_id']}@{until.isoformat()}")
    return {"waiting_until": until.isoformat()}


async def _settle(ctx: Ctx, activity: Activity, delivery: EmailDelivery) -> dict[str, Any]:
    """A retry that finds the hand-off: never send again; an outcome nobody recorded is unknown."""
    if delivery.state == "handed_off":
        delivery.state, delivery.reply = "unknown", "the attempt that handed it over stopped before DATA's answer"
        if activity.status == "sending":
            _set(activity, "error", send_error=UNKNOWN.format(why="its worker stopped", mid=delivery.message_id))
        await ctx.session.commit()
    return {"outcome": delivery.state, "message_id": delivery.message_id}


def _message(activity: Activity, account: ConnectedAccount) -> tuple[Any, list[str]]:
    data = activity.data or {}
    message = smtp.build_message(
        message_id=data["message_id"], sender=account.email, display_name=account.display_name,
        to=data.get("to") or [], cc=data.get("cc") or [], subject=data.get("subject"),
        body_text=data.get("body_text"), body_html=data.get("body_html"), date=format_datetime(utcnow()),
        # Mail sent in bulk (sequences set the flag) carries the one-click unsubscribe link for its first recipient.
        list_unsubscribe=list_unsubscribe(activity.organization_id, data["to"][0], account.email)
        if data.get("list_unsubscribe") and data.get("to") else None)
    recipients = list(dict.fromkeys([*(data.get("to") or []), *(data.get("cc") or []), *(data.get("bcc") or [])]))
    return message, recipients


async def _give_up(ctx: Ctx, job: Job, reason: str) -> None:
    activity = await _activity(ctx, job)
    if activity is not None and activity.status in (*QUEUED, "sending"):
        _set(activity, "error", send_error=reason)
        await ctx.session.commit()


@job_handler(SEND_JOB, max_attempts=8, timeout=180)
async def send_email(ctx: Ctx, job: Job) -> dict[str, Any]:
    message_id = job.payload["message_id"]
    # 1. Still wanted?
    activity = await _activity(ctx, job)
    if activity is None:
        return {"skipped": "the email was changed or deleted since it was queued"}
    delivery = await ctx.session.scalar(select(EmailDelivery).where(EmailDelivery.message_id == message_id))
    if delivery is not None:
        return await _settle(ctx, activity, delivery)
    if activity.status not in QUEUED:
        return {"skipped": f"the email is {activity.status}"}
    # An address may have joined the suppression list since the email was queued.
    data = activity.data or {}
    if stopped := await suppressed(ctx, [*(data.get("to") or ()), *(data.get("cc") or ()), *(data.get("bcc") or ())]):
        _set(activity, "error", send_error=f"unsubscribed since it was queued: {', '.join(stopped)}")
        return {"error": "unsubscribed"}
    account = await ctx.session.get(ConnectedAccount, job.payload["account_id"])
    if account is None:
        _set(activity, "error", send_error="its connected account was deleted")
        return {"error": "no account"}
    if until := await limits_wait(ctx, account):
        return await _wait(ctx, job, until)
    settings = account_settings(account)
    message, recipients = _message(activity, account)
    account_id, sender = account.id, account.email
    await ctx.session.commit()  # read only: let SQLite's writer go while we talk to the server

    try:
        async with smtp.session(settings) as client:
            # 2. Envelope: nothing is handed over yet.
            accepted = await smtp.envelope(client, sender, recipients)
            # 3. The hand-off, committed before DATA (limits checked again under the account's lock).
            activity = await _activity(ctx, job)
            if activity is None or activity.status not in QUEUED:
                return {"skipped": "the email was changed while connecting"}
            account = (await ctx.session.scalars(
                select(ConnectedAccount).where(ConnectedAccount.id == account_id)
                .execution_options(populate_existing=True).with_for_update())).one()
            if until := await limits_wait(ctx, account):
                result = await _wait(ctx, job, until)
                await ctx.session.commit()
                return result
            delivery = EmailDelivery(id=new_id("edlv"), organization_id=activity.organization_id,
                                     message_id=message_id, activity_id=activity.id, account_id=account_id,
                                     state="handed_off", date_handed_off=utcnow())
            ctx.session.add(delivery)
            _set(activity, "sending")
            try:
                await ctx.session.commit()
            except IntegrityError:  # another attempt handed this Message-ID over: never twice
                await ctx.session.rollback()
                return {"skipped": "already handed over by another attempt"}
            # 4. DATA.
            try:
                reply = await smtp.data(client, message)
            except smtp.UnknownOutcome as exc:
                delivery.state, delivery.reply = "unknown", str(exc)
                _set(activity, "error", send_error=UNKNOWN.format(why=exc, mid=message_id))
                await ctx.session.commit()
                return {"outcome": "unknown", "reason": str(exc)}
            except smtp.SmtpFailure:  # the server clearly refused: the hand-off did not happen
                await ctx.session.delete(delivery)
                _set(activity, "outbox")
                await ctx.session.commit()
                raise
            now = utcnow()
            delivery.state, delivery.reply = "sent", reply
            _set(activity, "sent", date_sent=now.isoformat(), send_error=None,
                 refused_recipients=sorted(set(recipients) - set(accepted)) or None)
            activity.activity_at = now
            await refresh_thread(ctx, activity.thread_id)
            if account.imap_host:  # a copy in the Sent folder, as a mail client keeps one
                await enqueue(ctx, APPEND_JOB, {**job.payload, "activity_id": activity.id}, owner=activity,
                              idempotency_key=f"sent-copy:{message_id}")
            await ctx.session.commit()
            return {"outcome": "sent", "message_id": message_id, "reply": reply}
    except smtp.SmtpFailure as exc:
        await ctx.session.rollback()
        if exc.permanent or job.attempts >= job.max_attempts:
            await _give_up(ctx, job, str(exc))
        if exc.permanent:
            return {"error": str(exc)}
        raise
