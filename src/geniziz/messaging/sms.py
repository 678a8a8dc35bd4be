"""SMS through a Twilio-compatible REST API (httpx): the connection test, the ``sms.send`` job, and the
handler that queues it when an SMS enters the outbox (or is scheduled).

At most once, as email (jobs.py): the provider keeps no idempotency key we can rely on, so the
hand-off (an ``sms_delivery`` row keyed by the send's key, and the SMS ``sending``) is committed
*before* the API call. A retry that finds the row never posts again: an outcome nobody recorded (the
worker died, the connection broke after the request went out) ends in ``error`` saying it may have
been sent. A clear "not sent" (connection refused, 429, 503, a 4xx refusal) is retried or, when
permanent, ends in ``error`` with the provider's reason.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import case, or_, select
from sqlalchemy.exc import IntegrityError

from geniziz import events
from geniziz.activities.models import Activity
from geniziz.activities.service import as_datetime, current
from geniziz.api.context import Ctx
from geniziz.api.errors import field_error
from geniziz.api.schemas import normalize_phone
from geniziz.contacts.models import Contact
from geniziz.db import new_id, utcnow
from geniziz.leads.search import keyed
from geniziz.messaging import crypto
from geniziz.messaging.models import ConnectedAccount, SmsDelivery
from geniziz.worker import enqueue, job_handler
from geniziz.worker.models import Job

SEND_JOB = "sms.send"
API_VERSION = "2010-04-01"
TIMEOUT = 20.0
QUEUED = ("outbox", "scheduled")
UNKNOWN = ("the SMS provider was given the message but its answer was lost ({why}): it may have been sent. "
           "Not resent automatically; set the status to outbox to send it again.")


@dataclass(frozen=True)
class SmsSettings:
    base_url: str
    account_sid: str
    token: str

    def url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/{API_VERSION}/Accounts/{self.account_sid}{path}"


class SmsFailure(Exception):
    """The provider (or the network) clearly did not take the message; ``permanent``: a retry would
    only repeat the refusal."""

    def __init__(self, reason: str, field: str = "sms_base_url", permanent: bool = False) -> None:
        super().__init__(reason)
        self.field = field
        self.permanent = permanent


class UnknownOutcome(Exception):
    """The request may have reached the provider, but no answer came back."""


def settings_of(account: ConnectedAccount, token: str | None = None) -> SmsSettings:
    token = token if token is not None else crypto.unseal(account.credentials).get("sms_token")
    return SmsSettings(account.sms_base_url or "", account.sms_account_sid or "", token or "")


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
        detail = body.get("message") or body.get("detail") or response.text
        code = f" (code {body['code']})" if body.get("code") else ""
    except ValueError:
        detail, code = response.text[:500], ""
    return f"{response.status_code} {detail}{code}".strip()


def _client(settings: SmsSettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(auth=(settings.account_sid, settings.token), timeout=TIMEOUT)


async def test_connection(settings: SmsSettings) -> str:
    """Fetch the account (GET Accounts/{sid}.json): its name when the credentials work."""
    try:
        async with _client(settings) as client:
            response = await client.get(settings.url(".json"))
    except httpx.HTTPError as exc:
        raise SmsFailure(f"cannot reach {settings.base_url}: {exc or type(exc).__name__}") from None
    if response.status_code in (401, 403):
        raise SmsFailure(_reason(response), "sms_token", permanent=True)
    if response.status_code == 404:
        raise SmsFailure(_reason(response), "sms_account_sid", permanent=True)
    if response.status_code != 200:
        raise SmsFailure(_reason(response))
    try:
        return str(response.json().get("friendly_name") or settings.account_sid)
    except ValueError:
        return settings.account_sid


async def post_message(settings: SmsSettings, *, to: str, sender: str, body: str, key: str) -> dict[str, Any]:
    """POST Messages.json (form-encoded To, From, Body): the provider's message, or SmsFailure /
    UnknownOutcome. ``key`` goes along as an idempotency token for providers that honour one."""
    try:
        async with _client(settings) as client:
            response = await client.post(settings.url("/Messages.json"), data={"To": to, "From": sender, "Body": body},
                                         headers={"I-Twilio-Idempotency-Token": key})
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # nothing was sent
        raise SmsFailure(f"cannot connect to {settings.base_url}: {exc or type(exc).__name__}") from None
    except httpx.HTTPError as exc:  # the request may have gone out
        raise UnknownOutcome(str(exc) or type(exc).__name__) from None
    if response.status_code in (200, 201):
        try:
            return response.json()
        except ValueError:
            return {}
    if response.status_code in (429, 503):  # throttled or unavailable: not taken, try again later
        raise SmsFailure(_reason(response))
    if response.status_code >= 500:
        raise UnknownOutcome(_reason(response))
    field = "sms_token" if response.status_code in (401, 403) else "remote_phone"
    raise SmsFailure(_reason(response), field, permanent=True)


# --- queuing ------------------------------------------------------------------------------------------
async def sms_account(ctx: Ctx, number: str | None) -> ConnectedAccount:
    """The SMS account the caller sends through: their own first, then a shared one; with ``number``,
    the one that has it."""
    accounts = (await ctx.session.scalars(select(ConnectedAccount).where(
        ConnectedAccount.kind == "sms",
        or_(ConnectedAccount.user_id == ctx.user_id, ConnectedAccount.is_shared.is_(True)))
        .order_by(case((ConnectedAccount.user_id == ctx.user_id, 0), else_=1), ConnectedAccount.id))).all()
    for account in accounts:
        if number is None or number in (account.phone_numbers or ()):
            return account
    raise field_error("local_phone", f"none of your SMS accounts (or the shared ones) has the number {number}"
                      if number else "connect an SMS account (/connected_account/ with kind sms) to send SMS")


@events.on("message.status")
async def queue_sms(ctx: Ctx, message: Any, data: dict[str, Any], old: str | None, status: str) -> None:
    if message.type != "sms" or status == old or status not in QUEUED:
        return
    run_at = as_datetime(current(message, data, "date_scheduled")) if status == "scheduled" else None
    if status == "scheduled" and run_at is None:
        raise field_error("date_scheduled", "required when the status is scheduled")
    if not current(message, data, "remote_phone"):
        raise field_error("remote_phone", "an SMS to send needs the number to send it to")
    if not current(message, data, "text"):
        raise field_error("text", "an SMS to send needs a text")
    account = await sms_account(ctx, current(message, data, "local_phone"))
    data["local_phone"] = current(message, data, "local_phone") or (account.phone_numbers or [None])[0]
    # A new key each time it is queued: a job still waiting for an earlier one stands down.
    data["send_key"] = key = f"{message.id}.{secrets.token_hex(8)}"
    data["send_error"] = None
    await enqueue(ctx, SEND_JOB, {"activity_id": message.id, "send_key": key, "account_id": account.id},
                  run_at=run_at, idempotency_key=key, owner=("activity", message.id))


async def limits_wait(ctx: Ctx, account: ConnectedAccount) -> datetime | None:
    """When the account may send its next SMS, if not now: the account's limits, over its SMS handed off."""
    now = utcnow()
    sent = list(await ctx.session.scalars(
        select(SmsDelivery.date_handed_off).where(SmsDelivery.account_id == account.id,
                                                  SmsDelivery.direction == "outbound",
                                                  SmsDelivery.date_handed_off > now - timedelta(days=1))
        .order_by(SmsDelivery.date_handed_off.desc())
        .limit(account.max_per_day)))  # the newest max_per_day decide every limit
    return account.next_send_at(sent, now)


# --- sending --------------------------------------------------------------------------------------------
def _set(activity: Activity, status: str, **fields: Any) -> None:
    activity.status = status
    activity.data = {**(activity.data or {}), **fields}  # a new dict, so the JSON column is seen as changed
    activity.date_updated = utcnow()


async def _activity(ctx: Ctx, job: Job) -> Activity | None:
    """The SMS, locked, if this job's send is still the one wanted."""
    activity = (await ctx.session.scalars(select(Activity).where(Activity.id == job.payload["activity_id"])
                                          .execution_options(populate_existing=True).with_for_update())).first()
    if activity is None or (activity.data or {}).get("send_key") != job.payload["send_key"]:
        return None
    return activity


@job_handler(SEND_JOB, max_attempts=8, timeout=120)
async def send_sms(ctx: Ctx, job: Job) -> dict[str, Any]:
    key = job.payload["send_key"]
    # 1. Still wanted, and not handed over by an earlier attempt?
    activity = await _activity(ctx, job)
    if activity is None:
        return {"skipped": "the SMS was changed or deleted since it was queued"}
    delivery = await ctx.session.scalar(select(SmsDelivery).where(SmsDelivery.send_key == key))
    if delivery is not None:
        if delivery.state == "handed_off":  # the attempt that handed it over never recorded the outcome
            delivery.state, delivery.reply = "unknown", "the attempt that handed it over stopped"
            if activity.status == "sending":
                _set(activity, "error", send_error=UNKNOWN.format(why="its worker stopped"))
        return {"outcome": delivery.state}
    if activity.status not in QUEUED:
        return {"skipped": f"the SMS is {activity.status}"}
    account = (await ctx.session.scalars(select(ConnectedAccount).where(  # locked: limits count one send at a time
        ConnectedAccount.id == job.payload["account_id"]).with_for_update())).first()
    if account is None:
        _set(activity, "error", send_error="its connected account was deleted")
        return {"error": "no account"}
    if until := await limits_wait(ctx, account):  # over the account's limits: the send waits, never dropped
        await enqueue(ctx, SEND_JOB, job.payload, run_at=until, owner=("activity", activity.id),
                      idempotency_key=f"{key}@{until.isoformat()}")
        return {"waiting_until": until.isoformat()}
    data = activity.data or {}
    settings = settings_of(account)
    # 2. The hand-off, committed before the call: from here on, never twice.
    delivery = SmsDelivery(id=new_id("sdlv"), organization_id=activity.organization_id, send_key=key,
                           direction="outbound", activity_id=activity.id, account_id=account.id,
                           state="handed_off", date_handed_off=utcnow())
    ctx.session.add(delivery)
    _set(activity, "sending")
    try:
        await ctx.session.commit()
    except IntegrityError:  # another attempt handed this key over
        await ctx.session.rollback()
        return {"skipped": "already handed over by another attempt"}
    # 3. The call.
    try:
        sent = await post_message(settings, to=data["remote_phone"], sender=data["local_phone"],
                                  body=data.get("text") or "", key=key)
    except UnknownOutcome as exc:
        delivery.state, delivery.reply = "unknown", str(exc)
        _set(activity, "error", send_error=UNKNOWN.format(why=exc))
        return {"outcome": "unknown", "reason": str(exc)}
    except SmsFailure as exc:  # clearly not sent: the hand-off did not happen
        await ctx.session.delete(delivery)
        if exc.permanent or job.attempts >= job.max_attempts:
            _set(activity, "error", send_error=str(exc))
            return {"error": str(exc)}
        _set(activity, "outbox")
        await ctx.session.commit()
        raise
    now = utcnow()
    delivery.state, delivery.provider_sid = "sent", str(sent.get("sid") or "") or None
    delivery.reply = str(sent.get("status") or "")
    _set(activity, "sent", date_sent=now.isoformat(), send_error=None, provider_sid=delivery.provider_sid)
    activity.activity_at = now
    return {"outcome": "sent", "sid": delivery.provider_sid}


# --- receiving (the provider's webhook, geniziz.messaging.public) ------------------------------------------
def _e164(number: str) -> str:
    try:
        return normalize_phone(number)
    except ValueError:
        return number.strip()


async def receive(ctx: Ctx, account_id: str, form: dict[str, str]) -> Activity | None:
    """Store an inbound SMS once per provider message SID: an inbound SMS activity on the contact that has
    the sender's number (announcing ``sms.received``), or, when no contact has it, an ``unmatched``
    delivery row keeping the text, so nothing received is dropped silently."""
    sid = form["MessageSid"]
    delivery = SmsDelivery(id=new_id("sdlv"), organization_id=ctx.org_id, send_key=f"in:{sid}", direction="inbound",
                           account_id=account_id, state="received", date_handed_off=utcnow(), provider_sid=sid)
    try:
        async with ctx.session.begin_nested():  # the provider repeats a webhook it got no answer to
            ctx.session.add(delivery)
    except IntegrityError:
        return None
    remote, local, text = _e164(form["From"]), _e164(form["To"]), form.get("Body") or ""
    contact = (await ctx.session.scalars(keyed(ctx, select(Contact), Contact, "phone", remote.lower())
                                         .order_by(Contact.id.desc()).limit(1))).first()
    if contact is None:
        delivery.state, delivery.reply = "unmatched", f"from {remote} to {local}: {text}"
        return None
    from geniziz.activities.resources import sms as sms_resource  # the activities domain's own service

    activity = await sms_resource.service.create(ctx, {
        "lead_id": contact.lead_id, "contact_id": contact.id, "direction": "inbound", "status": "inbox",
        "local_phone": local, "remote_phone": remote, "text": text, "provider_sid": sid})
    delivery.activity_id = activity.id
    await ctx.session.flush()
    await events.emit(ctx, "sms.received", message=activity)
    return activity
