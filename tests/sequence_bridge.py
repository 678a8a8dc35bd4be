"""Test-only stand-ins for events other branches emit (loaded by the test server through
GENIZIZ_JOB_MODULES=tests.sequence_bridge), so the sequences' stop rules run through the real server:

- an inbound email created over REST (status inbox) emits ``email.received`` kind "reply", as the
  IMAP branch's messaging/inbound.py does (skipped here once that module exists);
- a note "emit email.received <kind> <hard|soft|-> <resume ISO|-> <email activity ID>" emits that
  event for the email (auto-replies and bounces come from the IMAP sync, which these tests lack);
- a note "emit email.unsubscribed <address>" emits the suppression list's event;
- an inbound SMS created over REST emits ``sms.received``, as the SMS branch does.
"""

from __future__ import annotations

import importlib.util
from datetime import datetime
from typing import Any

from sqlalchemy import select

from geniziz import events
from geniziz.activities.models import Activity

REAL_INBOUND = importlib.util.find_spec("geniziz.messaging.inbound") is not None


@events.on("activity.created")
async def bridge(ctx: Any, activity: Any) -> None:
    data = activity.data or {}
    if activity.type == "email" and activity.status == "inbox" and not REAL_INBOUND:
        await events.emit(ctx, "email.received", message=activity, kind="reply", bounce=None, resume_at=None)
    elif activity.type == "sms" and activity.status == "inbox":
        await events.emit(ctx, "sms.received", message=activity)
    elif activity.type == "note" and (data.get("note") or "").startswith("emit "):
        words = data["note"].split()
        if words[1] == "email.unsubscribed":
            await events.emit(ctx, "email.unsubscribed", email=words[2].lower(), source="test")
        elif words[1] == "email.received":
            kind, bounce, resume, email_id = words[2:6]
            message = (await ctx.session.scalars(select(Activity).where(Activity.id == email_id))).one()
            await events.emit(ctx, "email.received", message=message, kind=kind,
                              bounce=None if bounce == "-" else bounce,
                              resume_at=None if resume == "-" else datetime.fromisoformat(resume))
