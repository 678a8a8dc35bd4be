"""Generated activities: the timeline's record of what happened elsewhere.

Each handler runs inside the transaction of the change that emitted the event, so its activity
commits or rolls back with that change: never missing, never duplicated.
"""

from __future__ import annotations

from typing import Any

from geniziz import events
from geniziz.activities.service import record_activities, record_activity
from geniziz.api.context import Ctx
from geniziz.statuses.models import Status


def _lead_created(ctx: Ctx, lead: Any) -> dict[str, Any]:
    return {"lead_id": lead.id, "activity_at": lead.date_created, "object_type": "lead", "object_id": lead.id,
            "source": ctx.via}


def _contact_created(ctx: Ctx, contact: Any) -> dict[str, Any]:
    return {"lead_id": contact.lead_id, "contact_id": contact.id, "activity_at": contact.date_created,
            "object_type": "contact", "object_id": contact.id, "source": ctx.via}


@events.on("lead.created")
async def lead_created(ctx: Ctx, lead: Any) -> None:
    record_activity(ctx, "created", **_lead_created(ctx, lead))


@events.on("contact.created")
async def contact_created(ctx: Ctx, contact: Any) -> None:
    record_activity(ctx, "created", **_contact_created(ctx, contact))


async def _leads_created(ctx: Ctx, leads: list[Any]) -> None:  # events.emit_many: one insert for the batch
    await record_activities(ctx, "created", [_lead_created(ctx, lead) for lead in leads])


async def _contacts_created(ctx: Ctx, contacts: list[Any]) -> None:
    await record_activities(ctx, "created", [_contact_created(ctx, contact) for contact in contacts])


lead_created.many = _leads_created  # type: ignore[attr-defined]
contact_created.many = _contacts_created  # type: ignore[attr-defined]


async def _status_fields(ctx: Ctx, old_status_id: str | None, new_status_id: str) -> dict[str, Any]:
    old = await ctx.session.get(Status, old_status_id) if old_status_id else None
    new = await ctx.session.get(Status, new_status_id)
    return {"old_status_id": old_status_id, "old_status_label": old.label if old else None,
            "new_status_id": new_status_id, "new_status_label": new.label if new else None}


@events.on("lead.status_changed")
async def lead_status_changed(ctx: Ctx, lead: Any, old_status_id: str | None, new_status_id: str) -> None:
    if old_status_id != new_status_id:
        record_activity(ctx, "status_change/lead", lead_id=lead.id,
                        **await _status_fields(ctx, old_status_id, new_status_id))


@events.on("opportunity.status_changed")
async def opportunity_status_changed(ctx: Ctx, opportunity: Any, old_status_id: str | None,
                                     new_status_id: str) -> None:
    if old_status_id != new_status_id:
        record_activity(ctx, "status_change/opportunity", lead_id=opportunity.lead_id,
                        contact_id=opportunity.contact_id, opportunity_id=opportunity.id,
                        **await _status_fields(ctx, old_status_id, new_status_id))


@events.on("task.completed")
async def task_completed(ctx: Ctx, task: Any) -> None:
    # A task from Genesy may have no lead: its completion is then on the workspace stream only.
    record_activity(ctx, "task_completed", lead_id=task.lead_id, contact_id=task.contact_id,
                    activity_at=task.date_completed, task_id=task.id, task_text=task.text)
