"""Tasks: assignment, completion (and its event), and due-date filters."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select

from geniziz import events
from geniziz.api.context import Ctx
from geniziz.api.resource import CrudService, Ref
from geniziz.identity.refs import MemberRef
from geniziz.contacts.models import Contact
from geniziz.contacts.service import lead_of_contact
from geniziz.db import utcnow
from geniziz.leads.models import Lead
from geniziz.tasks.models import Task


class TaskService(CrudService[Task]):
    model = Task
    prefix = "task"
    label = "task"
    refs = {"lead_id": Ref(Lead, "lead"), "contact_id": Ref(Contact, "contact"), "assigned_to": MemberRef()}

    def filter(self, ctx: Ctx, query: Select, filters: dict[str, Any]) -> Select:
        after, before = filters.pop("due_date__gte", None), filters.pop("due_date__lte", None)
        if after is not None:
            query = query.where(Task.due_date >= after)
        if before is not None:
            query = query.where(Task.due_date <= before)
        return super().filter(ctx, query, filters)

    async def apply(self, ctx: Ctx, obj: Task, data: dict[str, Any], *, creating: bool) -> None:
        if "contact_id" in data or "lead_id" in data:
            data["lead_id"] = await lead_of_contact(ctx, data.get("contact_id", obj.contact_id),
                                                    data.get("lead_id", obj.lead_id))
        if creating and not data.get("assigned_to"):
            data["assigned_to"] = ctx.user_id
        was_complete = bool(obj.is_complete)
        await super().apply(ctx, obj, data, creating=creating)
        obj.is_complete = bool(obj.is_complete)
        if obj.is_complete and not was_complete:
            obj.date_completed = utcnow()
            await ctx.session.flush()
            await events.emit(ctx, "task.completed", task=obj)
        elif not obj.is_complete:
            obj.date_completed = None
