"""Leads: default status, owner checks, the `query` search text, and status-change events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload

from geniziz import events
from geniziz.api.context import Ctx
from geniziz.api.resource import CrudService, Ref
from geniziz.identity.refs import MemberRef
from geniziz.contacts.models import Contact
from geniziz.custom.records import CustomValues
from geniziz.leads.models import Lead
from geniziz.leads.search import matching, probed
from geniziz.statuses.models import Status
from geniziz.statuses.service import first_status


# The lead's own fields that search_text reads.
SEARCHED_FIELDS = frozenset({"name", "url", "emails", "phones"})


def search_text(lead: Lead, contacts: list[Contact]) -> str:
    parts: list[str] = [lead.name or "", lead.url or ""]
    parts += [e["email"] for e in lead.emails or []] + [p["phone"] for p in lead.phones or []]
    for contact in contacts:
        parts.append(contact.name or "")
        parts += [e["email"] for e in contact.emails or []] + [p["phone"] for p in contact.phones or []]
    return " ".join(p for p in parts if p).lower()


async def refresh_search_text(ctx: Ctx, lead_id: str) -> None:
    """Recompute a lead's search text after one of its contacts changed.

    The lead is locked first (FOR NO KEY UPDATE, which the contacts' foreign-key share locks do not
    block), so of two writers to one lead's contacts the second reads after the first committed."""
    lead = (await ctx.session.scalars(select(Lead).where(Lead.id == lead_id).with_for_update(key_share=True)
                                      .execution_options(populate_existing=True))).first()
    if lead is None:
        return
    contacts = list(await ctx.session.scalars(select(Contact).where(Contact.lead_id == lead_id)))
    lead.search_text = search_text(lead, contacts)


class LeadService(CustomValues, CrudService[Lead]):
    model = Lead
    object_type = "lead"
    prefix = "lead"
    label = "lead"
    refs = {
        "status_id": Ref(Status, "lead status", Status.kind == "lead"),
        "owner_id": MemberRef(),
    }
    empty_when_created = frozenset({"contacts"})  # a lead's contacts are created after it
    read_as_rows, embedded = True, "contacts"  # reads and pages with their contacts: api/rows.py

    def load_options(self) -> tuple[Any, ...]:
        return (joinedload(Lead.contacts),)

    def filter(self, ctx: Ctx, query: Select, filters: dict[str, Any]) -> Select:
        text = (filters.pop("query", None) or "").strip().lower()
        if text:  # served by an index: see leads/search.py
            query = matching(ctx, query, Lead, [(Lead.search_text, text)])
        return super().filter(ctx, query, filters)

    async def ids_for_rows(self, ctx: Ctx, ids: Select) -> Select | None:
        return await super().ids_for_rows(ctx, await probed(ctx, ids))  # a search's FTS probe, done now

    async def apply(self, ctx: Ctx, obj: Lead, data: dict[str, Any], *, creating: bool) -> None:
        old_status = None if creating else obj.status_id
        if creating and not data.get("status_id"):
            data["status_id"] = await first_status(ctx, "lead")
        await super().apply(ctx, obj, data, creating=creating)
        if creating or data.keys() & SEARCHED_FIELDS:  # other changes leave the search text as it is
            contacts = [] if creating else list(await ctx.session.scalars(
                select(Contact).where(Contact.lead_id == obj.id)))
            obj.search_text = search_text(obj, contacts)
        if not creating and obj.status_id != old_status:
            await events.emit(ctx, "lead.status_changed", lead=obj, old_status_id=old_status,
                              new_status_id=obj.status_id)

    async def after_create(self, ctx: Ctx, obj: Lead) -> None:
        await events.emit(ctx, "lead.created", lead=obj)
