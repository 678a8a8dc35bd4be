"""Contacts: E.164 phones and normalized emails, a lead of their own when none is given."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select

from geniziz import events
from geniziz.api.context import Ctx
from geniziz.api.errors import field_error
from geniziz.api.resource import CrudService, Ref
from geniziz.api.schemas import normalize_email, normalize_phone
from geniziz.contacts.models import Contact
from geniziz.custom.records import CustomValues
from geniziz.leads.models import Lead
from geniziz.leads.search import keyed
from geniziz.leads.service import LeadService, refresh_search_text


def _keys(values: list[str]) -> str:
    return "|" + "".join(f"{v.lower()}|" for v in values)


class ContactService(CustomValues, CrudService[Contact]):
    model = Contact
    object_type = "contact"
    prefix = "cont"
    label = "contact"
    refs = {"lead_id": Ref(Lead, "lead")}

    def filter(self, ctx: Ctx, query: Select, filters: dict[str, Any]) -> Select:
        # Exact matches on the normalized form, whatever way the caller wrote the address or number.
        for name, normalize in (("email", normalize_email), ("phone", normalize_phone)):
            value = filters.pop(name, None)
            if value:
                try:
                    value = normalize(value)
                except ValueError as exc:
                    raise field_error(name, str(exc)) from None
                query = keyed(ctx, query, Contact, name, value.lower())  # contact_key's B-tree: leads/search.py
        return super().filter(ctx, query, filters)

    async def apply(self, ctx: Ctx, obj: Contact, data: dict[str, Any], *, creating: bool) -> None:
        previous_lead = None if creating else obj.lead_id
        if creating and not data.get("lead_id"):
            lead = await LeadService().create(ctx, {"name": _lead_name(data)})
            data["lead_id"] = lead.id
        await super().apply(ctx, obj, data, creating=creating)
        obj.email_keys = _keys([e["email"] for e in obj.emails or []])
        obj.phone_keys = _keys([p["phone"] for p in obj.phones or []])
        if previous_lead and previous_lead != obj.lead_id:
            await ctx.session.flush()
            await refresh_search_text(ctx, previous_lead)

    async def after_create(self, ctx: Ctx, obj: Contact) -> None:
        await refresh_search_text(ctx, obj.lead_id)
        await events.emit(ctx, "contact.created", contact=obj)

    async def update(self, ctx: Ctx, record_id: str, data: dict[str, Any]) -> Contact:
        obj = await super().update(ctx, record_id, data)
        await refresh_search_text(ctx, obj.lead_id)
        return obj

    async def delete(self, ctx: Ctx, record_id: str) -> None:
        lead_id = (await self.get(ctx, record_id)).lead_id
        await super().delete(ctx, record_id)
        await refresh_search_text(ctx, lead_id)


def _lead_name(data: dict[str, Any]) -> str:
    if data.get("name"):
        return data["name"]
    if data.get("emails"):
        return data["emails"][0]["email"]
    if data.get("phones"):
        return data["phones"][0]["phone"]
    return "Unnamed contact"


async def lead_of_contact(ctx: Ctx, contact_id: str | None, lead_id: str | None, field: str = "contact_id") -> str | None:
    """The lead a record goes on, given an optional contact: the contact must be on that lead.

    With only a contact, the record goes on the contact's lead. The session only finds contacts of
    the caller's workspace.
    """
    if not contact_id:
        return lead_id
    contact = await ctx.session.get(Contact, contact_id)
    if contact is None:
        raise field_error(field, f"No contact with ID {contact_id} in this workspace")
    if lead_id and contact.lead_id != lead_id:
        raise field_error(field, "this contact belongs to another lead")
    return contact.lead_id
