"""Test-only (loaded through GENIZIZ_JOB_MODULES): each ``email.received`` leaves a note on the lead, written
in the same transaction, so the tests can see the event fired, once, with what."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geniziz import events
from geniziz.activities.service import record_activity


@events.on("email.received")
async def note_it(ctx: Any, message: Any, kind: str, bounce: str | None, resume_at: datetime | None) -> None:
    back = resume_at.date().isoformat() if resume_at else None
    record_activity(ctx, "note", lead_id=message.lead_id, note=f"email.received {message.id} {kind} {bounce} {back}")
