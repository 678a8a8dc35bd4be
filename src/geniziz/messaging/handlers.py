"""An email entering the outbox (or scheduled) gets its Message-ID and a send job, in the same transaction."""

from __future__ import annotations

import secrets
from typing import Any

from geniziz import events
from geniziz.activities.service import as_datetime, current
from geniziz.api.context import Ctx
from geniziz.api.errors import field_error
from geniziz.messaging.service import sending_account
from geniziz.messaging.suppression import suppressed
from geniziz.worker import enqueue

SEND_JOB = "email.send"


def new_message_id(activity_id: str, sender: str) -> str:
    """Ours, unique per send: the activity's ID and a random part, at the sender's domain."""
    return f"<{activity_id}.{secrets.token_hex(8)}@{sender.rpartition('@')[2] or 'geniziz.invalid'}>"


@events.on("message.status")
async def queue_email(ctx: Ctx, message: Any, data: dict[str, Any], old: str | None, status: str) -> None:
    if message.type != "email" or status == old or status not in ("outbox", "scheduled"):
        return
    run_at = as_datetime(current(message, data, "date_scheduled")) if status == "scheduled" else None
    if status == "scheduled" and run_at is None:
        return  # the email service answers that date_scheduled is required
    if not (current(message, data, "to") or current(message, data, "cc") or current(message, data, "bcc")):
        raise field_error("to", "an email to send needs at least one recipient")
    for field in ("to", "cc", "bcc"):
        if stopped := await suppressed(ctx, current(message, data, field) or ()):
            raise field_error(field, f"unsubscribed (on the suppression list): {', '.join(stopped)}")
    account = await sending_account(ctx, current(message, data, "sender"))
    data["sender"] = account.email
    # A new Message-ID each time the email is queued: a job still waiting for an earlier one sees the
    # change and stands down, so re-queuing never sends twice.
    data["message_id"] = message_id = new_message_id(message.id, account.email)
    data["send_error"] = None
    await enqueue(ctx, SEND_JOB, {"activity_id": message.id, "message_id": message_id, "account_id": account.id},
                  run_at=run_at, idempotency_key=message_id, owner=("activity", message.id))
