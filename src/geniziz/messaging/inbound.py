"""Inbound mail: reading a fetched message, recognising auto-replies and bounces, matching it to our
emails or a known contact, and recording it (an inbound email activity, or at least an inbound_email row).

Matching, in order: one of our Message-IDs (an email we sent, or an inbound one we stored) in
In-Reply-To, X-Microsoft-Original-Message-ID (Outlook rewrites Message-IDs), any References token, or,
for a bounce, the returned message's Message-ID: the reply joins that email's thread. Otherwise the
sender (a bounce: the failed recipient) is a known contact: a new thread on that contact's lead.
Otherwise the message is kept as ``unmatched``, with its raw bytes, and counted in the sync state.

Every inbound email activity, from IMAP or created over REST, announces ``email.received``
(``message``, ``kind``: reply | auto_reply | bounce, ``bounce``: hard | soft | None, ``resume_at``).
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select

from geniziz import events
from geniziz.activities.models import Activity
from geniziz.activities.schemas import EmailCreate
from geniziz.activities.service import as_datetime
from geniziz.api.context import Ctx
from geniziz.api.schemas import EmailAddress
from geniziz.contacts.models import Contact
from geniziz.db import new_id, utcnow
from geniziz.leads.search import keyed
from geniziz.messaging.inbound_models import InboundEmail
from geniziz.messaging.models import ConnectedAccount, EmailDelivery

_ID = re.compile(r"<[^<>\s]+>")
_ADDRESS = TypeAdapter(EmailAddress)
_AUTO_PRECEDENCE = {"auto_reply", "bulk", "junk", "list"}
MAX_RAW = 10 * 1024 * 1024  # bytes of an unmatched message kept for a later look
REMATCH_LIMIT = 200  # unmatched messages a new contact brings onto the timeline at once


# --- reading a message ------------------------------------------------------------------------------
@dataclass
class Parsed:
    message_id: str | None
    refs: list[str]  # our candidates for the thread, strongest first
    sender: str | None
    to: list[str]
    cc: list[str]
    subject: str | None
    body_text: str | None
    body_html: str | None
    date: datetime | None
    kind: str = "reply"  # reply | auto_reply | bounce
    bounce: str | None = None  # hard | soft
    failed_recipients: list[str] = field(default_factory=list)
    resume_at: datetime | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # noqa: BLE001 - a malformed header is read as absent rather than fail the message
        return ""
    return str(value or "").strip()


def _ids(value: str) -> list[str]:
    return _ID.findall(value or "")


def _addresses(message: Message, name: str) -> list[str]:
    out = []
    for _name, address in getaddresses([_header(message, name)]):
        try:
            out.append(_ADDRESS.validate_python(address))
        except ValidationError:
            continue
    return list(dict.fromkeys(out))


def _text(part: Message | None) -> str | None:
    if part is None:
        return None
    try:
        return part.get_content()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - an unknown charset: the bytes as well as they decode
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else str(payload)


def is_auto_reply(message: Message) -> bool:
    """RFC 3834 Auto-Submitted (anything but "no"), Precedence auto_reply/bulk/junk/list, X-Loop, and the
    X-Autoreply / X-Autorespond headers some responders set instead."""
    auto = _header(message, "Auto-Submitted").lower()
    if auto and not auto.startswith("no"):
        return True
    if _header(message, "Precedence").lower() in _AUTO_PRECEDENCE:
        return True
    return any(_header(message, name) for name in ("X-Loop", "X-Autoreply", "X-Autorespond"))


def _status_blocks(part: Message) -> list[Message]:
    """The field groups of a message/delivery-status part (per message, then per recipient)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    text = payload if isinstance(payload, str) else ""
    return [email.message_from_string(block.strip() + "\n") for block in re.split(r"\n\s*\n", text) if block.strip()]


def read_bounce(message: Message) -> tuple[str | None, list[str], str | None]:
    """An RFC 3464 delivery report: (hard | soft, the failed recipients, the returned message's Message-ID).
    Without a report, a message from a mailer daemon that names an SMTP status code counts too."""
    severity, recipients, original = None, [], None
    if message.get_content_type() == "multipart/report":
        for part in message.walk():
            kind = part.get_content_type()
            if kind == "message/delivery-status":
                for block in _status_blocks(part):
                    action, status = _header(block, "Action").lower(), _header(block, "Status")
                    if not action and not status:
                        continue
                    recipient = _header(block, "Final-Recipient") or _header(block, "Original-Recipient")
                    if action == "failed" and status.startswith("5"):
                        severity = "hard"
                    elif action in ("failed", "delayed") or status.startswith("4"):
                        severity = severity or "soft"
                    else:
                        continue  # delivered / relayed / expanded: not a failure
                    if recipient:
                        recipients.append(recipient.rpartition(";")[2].strip().lower())
            elif kind == "message/rfc822" and original is None:
                inner = part.get_payload()
                inner = inner[0] if isinstance(inner, list) and inner else inner
                if isinstance(inner, Message):
                    original = next(iter(_ids(_header(inner, "Message-ID"))), None)
            elif kind == "text/rfc822-headers" and original is None:
                headers = BytesHeaderParser().parsebytes((_text(part) or "").encode())
                original = next(iter(_ids(_header(headers, "Message-ID"))), None)
        if severity is None and any(p.get_content_type() == "message/delivery-status" for p in message.walk()):
            return None, [], original  # a delivery report of success
        return severity or "soft", recipients, original
    sender = _header(message, "From").lower()
    if "mailer-daemon" in sender or "postmaster@" in sender:
        body = _text(_body(message, "plain")) or ""
        code = re.search(r"\b([45])\.\d{1,3}\.\d{1,3}\b", body)
        if code or re.search(r"undeliver|delivery (status|failure)|returned mail", _header(message, "Subject"), re.I):
            original = next(iter(_ids(body[body.lower().find("message-id"):] if "message-id" in body.lower()
                                      else "")), None)
            return ("hard" if code and code.group(1) == "5" else "soft"), [], original
    return None, [], None


_MONTHS = {m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                       "dec"], start=1)}
_RETURN = re.compile(r"(?:until|back (?:on|in the office on)?|return(?:ing)?(?: to the office)? on|from)\s+"
                     r"(?:\w+day,?\s+)?(?:(\d{4})-(\d{2})-(\d{2})|([a-z]{3})[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?"
                     r"(?:\s+(\d{4}))?|(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]{3})[a-z]*\.?,?(?:\s+(\d{4}))?)", re.I)


def resume_date(text: str, now: datetime) -> datetime | None:
    """When an out-of-office says its author is back ("back on 2026-12-03", "until December 3", "returning
    on 3 Dec 2026"); None when it does not say in a form we read."""
    for match in _RETURN.finditer(text or ""):
        g = match.groups()
        try:
            if g[0]:
                day = datetime(int(g[0]), int(g[1]), int(g[2]), tzinfo=UTC)
            else:
                month = _MONTHS.get((g[3] or g[7] or "").lower()[:3])
                if month is None:
                    continue
                year, dom = g[5] or g[8], int(g[4] or g[6])
                day = datetime(int(year) if year else now.year, month, dom, tzinfo=UTC)
                if not year and day < now - timedelta(days=1):
                    day = day.replace(year=now.year + 1)
        except ValueError:
            continue
        if now - timedelta(days=1) <= day <= now + timedelta(days=366):
            return datetime.combine(day.date(), time(), UTC)
    return None


def _body(message: Message, subtype: str) -> Message | None:
    try:
        return message.get_body(preferencelist=(subtype,))  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001
        return None


def parse(raw: bytes, now: datetime | None = None) -> Parsed:
    now = now or utcnow()
    message: EmailMessage = email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[assignment]
    if not message.keys():
        raise ValueError("no headers: not an email")
    refs = (_ids(_header(message, "In-Reply-To")) + _ids(_header(message, "X-Microsoft-Original-Message-ID"))
            + list(reversed(_ids(_header(message, "References")))))
    try:
        date = parsedate_to_datetime(_header(message, "Date"))
        date = date.replace(tzinfo=UTC) if date.tzinfo is None else date.astimezone(UTC)
    except (TypeError, ValueError, IndexError):
        date = None
    sender = _addresses(message, "From")
    parsed = Parsed(
        message_id=next(iter(_ids(_header(message, "Message-ID"))), None), refs=list(dict.fromkeys(refs)),
        sender=sender[0] if sender else None, to=_addresses(message, "To"), cc=_addresses(message, "Cc"),
        subject=_header(message, "Subject")[:1000] or None, body_text=_text(_body(message, "plain")),
        body_html=_text(_body(message, "html")), date=min(date, now) if date else None)
    severity, failed, original = read_bounce(message)
    if severity:
        parsed.kind, parsed.bounce, parsed.failed_recipients = "bounce", severity, failed
        if original:
            parsed.refs.insert(0, original)
    elif is_auto_reply(message):
        parsed.kind = "auto_reply"
        parsed.resume_at = resume_date(f"{parsed.subject or ''}\n{parsed.body_text or ''}", now)
    for part in message.iter_attachments() if message.is_multipart() else ():
        if part.get_content_type() in ("message/delivery-status", "message/rfc822", "text/rfc822-headers"):
            continue
        payload = part.get_payload(decode=True)
        parsed.attachments.append({"name": (part.get_filename() or "attachment")[:500],
                                   "content_type": part.get_content_type()[:200],
                                   "size": len(payload) if isinstance(payload, bytes) else None})
    return parsed


# --- matching and recording -------------------------------------------------------------------------
async def _known_ids(ctx: Ctx, ids: list[str], row_id: str) -> tuple[set[str], dict[str, str], dict[str, str | None]]:
    """For these Message-IDs, in two statements: which we sent, the email activity each one is, and which
    were received and stored before, by another row than this one (with their activity, if any)."""
    sent: set[str] = set()
    activities: dict[str, str] = {}
    stored: dict[str, str | None] = {}
    for message_id, activity_id in await ctx.session.execute(
            select(EmailDelivery.message_id, EmailDelivery.activity_id).where(EmailDelivery.message_id.in_(ids))):
        sent.add(message_id)
        if activity_id:
            activities.setdefault(message_id, activity_id)
    for message_id, activity_id, outcome in await ctx.session.execute(
            select(InboundEmail.message_id, InboundEmail.activity_id, InboundEmail.outcome).where(
                InboundEmail.message_id.in_(ids), InboundEmail.id != row_id,
                InboundEmail.outcome.in_(("activity", "own", "unmatched")))):
        stored.setdefault(message_id, activity_id)
        if activity_id:
            activities.setdefault(message_id, activity_id)
    return sent, activities, stored


async def _contact(ctx: Ctx, addresses: list[str], lead_id: str | None = None) -> Contact | None:
    """A contact with one of these addresses (on this lead when given); the newest when several have it."""
    for address in addresses:
        query = keyed(ctx, select(Contact), Contact, "email", address.lower())
        if lead_id:
            query = query.where(Contact.lead_id == lead_id)
        contact = (await ctx.session.scalars(query.order_by(Contact.id.desc()).limit(1))).first()
        if contact is not None:
            return contact
    return None


def _email_fields(parsed: Parsed) -> dict[str, Any]:
    """The activity's client-visible fields, through the email schema (HTML sanitized, sizes checked)."""
    values: dict[str, Any] = {
        "direction": "inbound", "status": "inbox", "subject": parsed.subject, "sender": parsed.sender,
        "to": parsed.to[:100], "cc": parsed.cc[:100], "attachments": parsed.attachments[:50],
        "body_text": (parsed.body_text or "")[:100_000] or None,
        "body_html": (parsed.body_html or "")[:500_000] or None,
    }
    values = {name: value for name, value in values.items() if value not in (None, [])}
    return EmailCreate.model_validate(values).model_dump(exclude_unset=True)


async def ingest(ctx: Ctx, account: ConnectedAccount, folder: str, uidvalidity: int, uid: int,
                 raw: bytes) -> InboundEmail:
    """Record one fetched message (in the caller's transaction): never raises for a bad message, which
    is stored with outcome ``error`` and the reason."""
    row = InboundEmail(id=new_id("inml"), organization_id=ctx.org_id, account_id=account.id, folder=folder,
                       uidvalidity=uidvalidity, uid=uid, created_by=ctx.user_id, updated_by=ctx.user_id)
    try:
        parsed = parse(raw)
    except Exception as exc:  # noqa: BLE001 - an unreadable message is kept, with why
        row.outcome, row.error, row.raw = "error", f"cannot parse: {type(exc).__name__}: {exc}"[:2000], raw[:MAX_RAW]
        ctx.session.add(row)
        return row
    row.message_id = parsed.message_id[:300] if parsed.message_id else None
    row.sender = parsed.sender.lower()[:320] if parsed.sender else None
    row.subject, row.kind, row.bounce = parsed.subject, parsed.kind, parsed.bounce
    try:
        async with ctx.session.begin_nested():
            await _record(ctx, account, parsed, row)
    except Exception as exc:  # noqa: BLE001 - kept with the reason, and counted in the sync state
        row.outcome, row.activity_id = "error", None
        row.error, row.raw = f"{type(exc).__name__}: {exc}"[:2000], raw[:MAX_RAW]
    if row.outcome == "unmatched":
        row.raw = raw[:MAX_RAW]
    ctx.session.add(row)
    return row


async def _record(ctx: Ctx, account: ConnectedAccount, parsed: Parsed, row: InboundEmail) -> None:
    mine = [parsed.message_id] if parsed.message_id else []
    sent, activities, stored = await _known_ids(ctx, mine + parsed.refs, row.id)
    if parsed.message_id in sent:
        row.outcome = "own"  # a copy of an email we sent (its Sent-folder copy, or a list echo)
        return
    if parsed.message_id in stored:  # another folder or account of the workspace, or a folder resynced
        row.outcome, row.activity_id = "duplicate", stored[parsed.message_id]
        return
    # The email of ours (sent, or received and stored) that the strongest reference names.
    original = None
    for ref in parsed.refs:
        if ref in activities and (original := await ctx.session.get(Activity, activities[ref])) is not None:
            break
    fields = _email_fields(parsed)
    if original is not None and original.lead_id:
        contact = await _contact(ctx, [a for a in [parsed.sender] if a], original.lead_id)
        fields.update(lead_id=original.lead_id, thread_id=original.thread_id,
                      contact_id=contact.id if contact else original.contact_id)
    else:
        contact = await _contact(ctx, parsed.failed_recipients if parsed.kind == "bounce"
                                 else [a for a in [parsed.sender] if a])
        if contact is None:
            row.outcome = "unmatched"
            return
        fields.update(lead_id=contact.lead_id, contact_id=contact.id)
    fields.update(activity_at=parsed.date or utcnow(), user_id=account.user_id, message_id=parsed.message_id,
                  inbound_kind=parsed.kind, bounce=parsed.bounce,
                  resume_at=parsed.resume_at.isoformat() if parsed.resume_at else None)
    from geniziz.activities.resources import email as email_resource  # the activities domain's own service

    activity = await email_resource.service.create(ctx, fields)
    row.outcome, row.activity_id = "activity", activity.id


@events.on("contact.created")
async def match_earlier_mail(ctx: Ctx, contact: Any) -> None:
    """Mail kept as unmatched from this contact's addresses joins the timeline now that they are known."""
    addresses = sorted({entry["email"].lower() for entry in contact.emails or [] if entry.get("email")})
    if not addresses:
        return
    rows = list(await ctx.session.scalars(select(InboundEmail).where(
        InboundEmail.sender.in_(addresses), InboundEmail.outcome == "unmatched").order_by(InboundEmail.id)
        .limit(REMATCH_LIMIT)))
    for row in rows:
        account = await ctx.session.get(ConnectedAccount, row.account_id)
        try:
            async with ctx.session.begin_nested():
                await _record(ctx, account, parse(row.raw or b""), row)
        except Exception:  # noqa: BLE001 - it stays unmatched (and kept): the contact is created regardless
            continue
        if row.outcome != "unmatched":
            row.raw, row.date_updated = None, utcnow()


async def _match_earlier_mail_many(ctx: Ctx, contacts: list[Any]) -> None:
    """match_earlier_mail for many new contacts (an import's batch): one query says which have mail waiting."""
    senders: set[str] = set()
    addresses = sorted({entry["email"].lower() for contact in contacts for entry in contact.emails or []
                        if entry.get("email")})
    for start in range(0, len(addresses), 1000):
        senders.update(await ctx.session.scalars(select(InboundEmail.sender).where(
            InboundEmail.sender.in_(addresses[start:start + 1000]), InboundEmail.outcome == "unmatched")))
    for contact in contacts:
        if any(entry.get("email") and entry["email"].lower() in senders for entry in contact.emails or []):
            await match_earlier_mail(ctx, contact)


match_earlier_mail.many = _match_earlier_mail_many  # type: ignore[attr-defined]  # events.emit_many


@events.on("activity.created")
async def announce_inbound_email(ctx: Ctx, activity: Any) -> None:
    """One place announces every inbound email, whether IMAP sync or a client created it."""
    if activity.type != "email" or activity.direction != "inbound":
        return
    data = activity.data or {}
    await events.emit(ctx, "email.received", message=activity, kind=data.get("inbound_kind") or "reply",
                      bounce=data.get("bounce"), resume_at=as_datetime(data.get("resume_at")))
