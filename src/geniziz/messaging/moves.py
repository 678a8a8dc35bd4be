"""A lead with messages waiting to be sent stays where it is.

An email or SMS in the outbox (or scheduled, or being handed to the provider) has a send job in the
lead's workspace and leaves through an account of that workspace; moved, its job would find nothing and
the message would sit in the outbox of a workspace that cannot send it. So ``lead.moving`` refuses, naming
the messages: send them, or set them back to draft, and move then.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from geniziz import events
from geniziz.activities.models import Activity
from geniziz.api.errors import APIError
from geniziz.flows.graph import chunks

WAITING = ("outbox", "scheduled", "sending")


@events.on("lead.moving")
async def refuse_while_sending(ctx: Any, move: Any) -> None:
    activities = next((ids for table, ids in move.records.items() if table.name == Activity.__tablename__), [])
    waiting: list[str] = []
    for chunk in chunks(activities):
        waiting += await ctx.session.scalars(select(Activity.id).where(
            Activity.id.in_(chunk), Activity.type.in_(("email", "sms")), Activity.status.in_(WAITING)))
    if waiting:
        shown = ", ".join(sorted(waiting)[:5]) + (" ..." if len(waiting) > 5 else "")
        raise APIError(400, f"Cannot move: {len(waiting)} message(s) of this lead are waiting to be sent ({shown}); "
                            "let them go or set them back to draft first",
                       {"target_organization_id": f"{len(waiting)} message(s) of this lead are waiting to be sent"})
