"""A copy of each sent email in the account's Sent folder (IMAP APPEND), as a mail client keeps one.

Queued in the transaction that marks the email sent, for accounts that receive mail. Servers that
save what their SMTP relays (Gmail) already have it, and a retried attempt may have appended it: so
the job first searches the folder for the Message-ID and appends only when it is not there.
"""

from __future__ import annotations

from email.utils import format_datetime
from typing import Any

from geniziz.activities.models import Activity
from geniziz.activities.service import as_datetime
from geniziz.api.context import Ctx
from geniziz.db import utcnow
from geniziz.messaging import imap, smtp
from geniziz.messaging.models import ConnectedAccount
from geniziz.messaging.service import account_imap_settings
from geniziz.worker import job_handler

APPEND_JOB = "email.append_sent"


@job_handler(APPEND_JOB, max_attempts=5, timeout=120)
async def append_sent(ctx: Ctx, job: Any) -> dict[str, Any]:
    activity = await ctx.session.get(Activity, job.payload["activity_id"])
    account = await ctx.session.get(ConnectedAccount, job.payload["account_id"])
    data = (activity.data or {}) if activity is not None else {}
    settings = account_imap_settings(account) if account is not None else None
    if settings is None or data.get("message_id") != job.payload["message_id"]:
        return {"skipped": "the email or its account changed"}
    message_id = data["message_id"]
    message = smtp.build_message(
        message_id=message_id, sender=account.email, display_name=account.display_name,
        to=data.get("to") or [], cc=data.get("cc") or [], subject=data.get("subject"), body_text=data.get("body_text"),
        body_html=data.get("body_html"), date=format_datetime(as_datetime(data.get("date_sent")) or utcnow()))
    if data.get("bcc"):
        message["Bcc"] = ", ".join(data["bcc"])  # the sender's own copy shows whom it was blind-copied to
    await ctx.session.commit()  # nothing to write: no transaction held while IMAP answers
    async with imap.open_mailbox(settings) as mailbox:
        folder = await imap.run(mailbox.sent_folder) or "Sent"
        await imap.run(mailbox.select, folder)
        if await imap.run(mailbox.has_message_id, message_id):
            return {"folder": folder, "appended": False}
        await imap.run(mailbox.append, folder, message.as_bytes())
    return {"folder": folder, "appended": True}
