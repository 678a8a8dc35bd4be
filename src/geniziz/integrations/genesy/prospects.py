"""Genesy's prospect export and sync: contacts, companies (Geniziz leads) and the links between them.

Genesy's own IDs (`externalId`) are kept in ExternalRef, never used as ours, and make every batch
idempotent: a record Genesy already knows is answered, not created again. Otherwise a contact is
matched by email, then LinkedIn URL; a company by domain, then LinkedIn URL, then name. Records are
created and changed through the contact and lead services, as REST does.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Text, cast, func

from geniziz.api.context import Ctx
from geniziz.api.resource import REGISTRY, Resource
from geniziz.api.schemas import normalize_email, normalize_phone
from geniziz.contacts.models import Contact
from geniziz.integrations.genesy import schemas
from geniziz.integrations.genesy.refs import create_once, link, linked, one
from geniziz.integrations.genesy.service import genesy_names, resolve_owner
from geniziz.leads.models import Lead

CONTACT_SOURCE = "genesy:contact"
COMPANY_SOURCE = "genesy:company"
# Leads have no field for a LinkedIn page; LinkedIn's URL is that company's ID in another system.
LINKEDIN_COMPANY_SOURCE = "linkedin:company"
# Genesy's name for each contact or lead field, for error messages.
_NAMES = {"emails": "email", "phones": "phone", "urls": "linkedinUrl", "url": "domain", "owner_id": "ownerId"}


def _contacts() -> Resource:
    # Looked up when called: importing a domain's resources here would register them out of order.
    return REGISTRY["contact"]


def _leads() -> Resource:
    return REGISTRY["lead"]


# --- normalizing ------------------------------------------------------------------------------------
def url_key(url: str | None) -> str | None:
    """"https://www.LinkedIn.com/in/Jane/?trk=x" -> "linkedin.com/in/jane": comparable URLs."""
    if not url or not url.strip():
        return None
    key = re.sub(r"^[a-z][a-z0-9+.-]*://", "", url.strip().lower()).split("?")[0].split("#")[0].rstrip("/")
    host, _, path = key.partition("/")
    host = host.removeprefix("www.")
    if host.endswith(".linkedin.com"):  # country and mobile sub-domains
        host = "linkedin.com"
    return f"{host}/{path}" if path else host


def domain_key(value: str | None) -> str | None:
    """"https://www.Acme.com/about" -> "acme.com"."""
    key = url_key(value)
    return key.split("/")[0].split(":")[0].rstrip(".") or None if key else None


def _valid(normalize: Any, value: str | None) -> str | None:
    # Prospect data is often rough: a value Geniziz cannot store (an unreadable phone) is left out
    # rather than failing the whole batch.
    try:
        return normalize(value) if value else None
    except ValueError:
        return None


def _parse(resource: Resource, data: dict[str, Any], where: str, *, partial: bool) -> dict[str, Any]:
    """Validate with the resource's own create (or partial update) schema, as REST does."""
    schema = resource.update_schema if partial else resource.create_schema
    with genesy_names(_NAMES, f"{where}."):
        return resource.parse(schema, data).model_dump(exclude_unset=partial)


# --- matching -----------------------------------------------------------------------------------------
async def find_contact(ctx: Ctx, email: str | None, linkedin: str | None) -> Contact | None:
    service = _contacts().service
    if email:
        query = service.filter(ctx, service.query(ctx), {"email": email})
        if found := (await ctx.session.scalars(query.order_by(Contact.id).limit(1))).first():
            return found
    if linkedin:
        # Narrow in SQL on the URLs' text, then compare normalized URLs.
        query = service.query(ctx).where(func.lower(cast(Contact.urls, Text)).contains(linkedin, autoescape=True))
        for contact in await ctx.session.scalars(query.order_by(Contact.id).limit(50)):
            if any(url_key(entry["url"]) == linkedin for entry in contact.urls or []):
                return contact
    return None


async def find_company(ctx: Ctx, domain: str | None, linkedin: str | None, name: str | None) -> Lead | None:
    service = _leads().service
    if domain:
        query = service.query(ctx).where(func.lower(Lead.url).contains(domain, autoescape=True))
        for lead in (await ctx.session.scalars(query.order_by(Lead.id).limit(50))).unique():
            if domain_key(lead.url) == domain:
                return lead
    if found := await linked(ctx, _leads(), LINKEDIN_COMPANY_SOURCE, linkedin):
        return found
    if name:
        query = service.query(ctx).where(func.lower(Lead.name) == name.lower())
        return (await ctx.session.scalars(query.order_by(Lead.id).limit(1))).unique().first()
    return None


# --- contacts -------------------------------------------------------------------------------------------
async def _known_contact(ctx: Ctx, item: schemas.ContactIn) -> Contact | None:
    return (await linked(ctx, _contacts(), CONTACT_SOURCE, item.external_id)
            or await find_contact(ctx, _valid(normalize_email, item.email), url_key(item.linkedin_url)))


def _contact_input(item: schemas.ContactFields, contact: Contact | None = None) -> dict[str, Any]:
    """The contact resource's input for what Genesy sent; new addresses join the contact's existing ones."""
    data: dict[str, Any] = {}
    if name := " ".join(part for part in (item.first_name, item.last_name) if part):
        data["name"] = name
    if item.title:
        data["title"] = item.title
    for field, key, value, kind, same in (
        ("emails", "email", _valid(normalize_email, item.email), "office", str.lower),
        ("phones", "phone", _valid(normalize_phone, item.phone), "mobile", str),
        ("urls", "url", item.linkedin_url or None, "linkedin", url_key),
    ):
        current = list(getattr(contact, field) or []) if contact else []
        if value and all(same(entry[key]) != same(value) for entry in current):
            data[field] = [{key: value, "type": kind}, *current]
    return data


def _contact_properties(contact: Contact) -> dict[str, Any]:
    linkedin = next((u["url"] for u in contact.urls or [] if url_key(u["url"]).startswith("linkedin.com/")), None)
    return {
        "name": contact.name, "title": contact.title,
        "email": contact.emails[0]["email"] if contact.emails else None,
        "phone": contact.phones[0]["phone"] if contact.phones else None,
        "linkedinUrl": linkedin, "companyId": contact.lead_id,
    }


async def _company_lead(ctx: Ctx, item: schemas.ContactIn, owner: str | None, where: str) -> str | None:
    """The lead a new contact goes on: its company's, found or created. None: a lead of its own."""
    domain = domain_key(item.domain)
    if not (item.company or domain):
        return None
    lead = await find_company(ctx, domain, None, item.company)
    if lead is None:
        lead = await _create_lead(ctx, schemas.CompanyFields(name=item.company, domain=domain, owner_id=owner),
                                  where)
    return lead.id


async def create_contacts(ctx: Ctx, items: list[schemas.ContactIn]) -> list[dict[str, Any]]:
    results = []
    for i, item in enumerate(items):
        where = f"contacts.{i}"
        owner = await resolve_owner(ctx, item.owner_id, f"{where}.ownerId") if item.owner_id else None
        contact = await _known_contact(ctx, item)
        if contact is None:
            async def create(item: schemas.ContactIn = item, owner: str | None = owner, where: str = where) -> Contact:
                data = {**_contact_input(item), "lead_id": await _company_lead(ctx, item, owner, where)}
                return await _contacts().service.create(ctx, _parse(_contacts(), data, where, partial=False))

            contact = await create_once(ctx, _contacts(), CONTACT_SOURCE, item.external_id, create)
        await link(ctx, CONTACT_SOURCE, item.external_id, contact.id)
        results.append({"externalId": item.external_id, "crmId": contact.id})
    return results


async def sync_contacts(ctx: Ctx, items: list[schemas.ContactIn]) -> list[dict[str, Any]]:
    results = []
    for item in items:
        if contact := await _known_contact(ctx, item):
            await link(ctx, CONTACT_SOURCE, item.external_id, contact.id)
            results.append({"externalId": item.external_id, "crmId": contact.id,
                            "properties": _contact_properties(contact)})
    return results


async def update_contacts(ctx: Ctx, items: list[schemas.ContactUpdateIn]) -> dict[str, Any]:
    results, errors = [], []
    for i, item in enumerate(items):
        # Locked before reading: the new addresses join those a concurrent update just added.
        contact = await one(ctx, _contacts(), item.crm_id, for_update=True)
        if contact is None:
            errors.append({"crmId": item.crm_id, "error": "Contact not found"})
            continue
        if data := _contact_input(item, contact):
            await _contacts().service.update(ctx, contact.id, _parse(_contacts(), data, f"contacts.{i}", partial=True))
        await link(ctx, CONTACT_SOURCE, item.external_id, contact.id)
        results.append({"crmId": contact.id, "externalId": item.external_id})
    return {"results": results, **({"errors": errors} if errors else {})}


# --- companies ------------------------------------------------------------------------------------------
async def _known_company(ctx: Ctx, item: schemas.CompanyIn) -> Lead | None:
    return (await linked(ctx, _leads(), COMPANY_SOURCE, item.external_id)
            or await find_company(ctx, domain_key(item.domain), url_key(item.linkedin_url), item.name))


async def _lead_input(ctx: Ctx, item: schemas.CompanyFields, where: str, lead: Lead | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {key: getattr(item, key) for key in ("name", "industry", "description")
                            if getattr(item, key)}
    domain = domain_key(item.domain)
    if domain and domain != domain_key(lead.url if lead else None):
        data["url"] = f"https://{domain}"
    if item.owner_id:
        data["owner_id"] = await resolve_owner(ctx, item.owner_id, f"{where}.ownerId")
    return data


async def _create_lead(ctx: Ctx, item: schemas.CompanyFields, where: str) -> Lead:
    data = await _lead_input(ctx, item, where)
    data.setdefault("name", domain_key(item.domain) or "Unnamed company")
    return await _leads().service.create(ctx, _parse(_leads(), data, where, partial=False))


def _company_properties(lead: Lead) -> dict[str, Any]:
    return {"name": lead.name, "domain": domain_key(lead.url), "industry": lead.industry,
            "description": lead.description, "ownerId": lead.owner_id}


async def _link_company(ctx: Ctx, item: schemas.CompanyFields, external_id: str | None, lead_id: str) -> None:
    await link(ctx, COMPANY_SOURCE, external_id, lead_id)
    await link(ctx, LINKEDIN_COMPANY_SOURCE, url_key(item.linkedin_url), lead_id)


async def create_companies(ctx: Ctx, items: list[schemas.CompanyIn]) -> list[dict[str, Any]]:
    results = []
    for i, item in enumerate(items):
        lead = await _known_company(ctx, item) or await create_once(
            ctx, _leads(), COMPANY_SOURCE, item.external_id,
            lambda item=item, i=i: _create_lead(ctx, item, f"companies.{i}"))
        await _link_company(ctx, item, item.external_id, lead.id)
        results.append({"externalId": item.external_id, "crmId": lead.id})
    return results


async def sync_companies(ctx: Ctx, items: list[schemas.CompanyIn]) -> list[dict[str, Any]]:
    results = []
    for item in items:
        if lead := await _known_company(ctx, item):
            await _link_company(ctx, item, item.external_id, lead.id)
            results.append({"externalId": item.external_id, "crmId": lead.id, "properties": _company_properties(lead)})
    return results


async def update_companies(ctx: Ctx, items: list[schemas.CompanyUpdateIn]) -> dict[str, Any]:
    results, errors = [], []
    for i, item in enumerate(items):
        lead = await one(ctx, _leads(), item.crm_id, for_update=True)  # locked before reading, as for contacts
        if lead is None:
            errors.append({"crmId": item.crm_id, "error": "Company not found"})
            continue
        where = f"companies.{i}"
        if data := await _lead_input(ctx, item, where, lead):
            await _leads().service.update(ctx, lead.id, _parse(_leads(), data, where, partial=True))
        await _link_company(ctx, item, item.external_id, lead.id)
        results.append({"crmId": lead.id, "externalId": item.external_id})
    return {"results": results, **({"errors": errors} if errors else {})}


# --- associations ---------------------------------------------------------------------------------------
async def associate(ctx: Ctx, items: list[schemas.AssociationIn]) -> dict[str, Any]:
    """Put each contact on its company's lead; a contact already there counts as linked."""
    created, errors = 0, []
    for item in items:
        contact = await one(ctx, _contacts(), item.contact_crm_id)
        lead = await one(ctx, _leads(), item.company_crm_id)
        if contact is None or lead is None:
            errors.append({"contactCRMId": item.contact_crm_id, "companyCRMId": item.company_crm_id,
                           "error": "Contact not found" if contact is None else "Company not found"})
            continue
        if contact.lead_id != lead.id:
            await _contacts().service.update(ctx, contact.id, {"lead_id": lead.id})
        created += 1
    return {"success": created > 0 or not errors, "created": created, **({"errors": errors} if errors else {})}
