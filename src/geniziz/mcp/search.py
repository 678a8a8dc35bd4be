"""Free-text search over leads and contacts (name, email, phone, URL), ranked: exact matches first.

The database narrows the candidates with the same workspace-scoped, indexed matches the lead and
contact lists use (leads/search.py: the lead's search text, the contact's name, email and phone
keys and URLs); ranking happens here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, func

from geniziz.api.context import Ctx
from geniziz.api.errors import field_error
from geniziz.api.resource import REGISTRY
from geniziz.api.schemas import normalize_phone
from geniziz.contacts.models import Contact
from geniziz.leads.models import Lead
from geniziz.leads.search import matching

CANDIDATES = 200  # per kind, newest first; ranking picks from these
EXACT, PREFIX, PARTIAL = 3, 2, 1
GRADES = {EXACT: "exact", PREFIX: "prefix", PARTIAL: "partial"}
FIELD_ORDER = ("name", "email", "phone", "url")  # ties: a name match first
LEAD_SUMMARY = {"id", "name", "url", "status_id"}
_PHONE_CHARS = re.compile(r"^[\d\s()+.\-]+$")


def _bare_url(value: str) -> str:
    """https://www.Acme.example/ -> acme.example: how URLs compare."""
    return re.sub(r"^(?:[a-z][a-z0-9+.-]*://)?(?:www\.)?", "", value.strip().lower()).rstrip("/")


@dataclass(frozen=True)
class Needle:
    text: str  # lower-cased query
    phone: str | None  # E.164, when the query reads as a phone number
    digits: str | None  # its digits, for partial phone matches
    url: str | None  # bare URL, when the query looks like one

    @classmethod
    def parse(cls, query: str) -> Needle:
        text = query.strip().lower()
        if not text:
            raise field_error("query", "may not be empty")
        phone = digits = None
        if _PHONE_CHARS.match(text) and len(only := re.sub(r"\D", "", text)) >= 4:
            digits = only
            try:
                phone = normalize_phone(text)
            except ValueError:
                pass
        url = _bare_url(text) if "." in text and " " not in text and "@" not in text else None
        return cls(text, phone, digits, url)

    def terms(self) -> list[str]:
        return list(dict.fromkeys(t for t in (self.text, self.phone, self.digits, self.url) if t))


def _grade_text(value: str | None, needle: str) -> int:
    if not value:
        return 0
    value = value.lower()
    if value == needle:
        return EXACT
    if value.startswith(needle) or any(word.startswith(needle) for word in value.split()):
        return PREFIX
    return PARTIAL if needle in value else 0


def _grade_phone(phone: str, needle: Needle) -> int:
    if needle.phone and phone == needle.phone:
        return EXACT
    return PARTIAL if needle.digits and needle.digits in phone else _grade_text(phone, needle.text)


def _grade_url(url: str | None, needle: Needle) -> int:
    return _grade_text(_bare_url(url), needle.url) if url and needle.url else _grade_text(url, needle.text)


def _best(candidates: list[tuple[str, int]]) -> tuple[int, str]:
    """The best (grade, field) of a record; among equal grades, the field that comes first in FIELD_ORDER."""
    grade, _, name = max(((g, -FIELD_ORDER.index(f), f) for f, g in candidates), default=(0, 0, "name"))
    return grade, name


def _grade_record(name: str | None, emails: list[dict], phones: list[dict], urls: list[str | None],
                  needle: Needle) -> tuple[int, str]:
    return _best([("name", _grade_text(name, needle.text))]
                 + [("email", _grade_text(e["email"], needle.text)) for e in emails or []]
                 + [("phone", _grade_phone(p["phone"], needle)) for p in phones or []]
                 + [("url", _grade_url(u, needle)) for u in urls])


async def search(ctx: Ctx, query: str, limit: int) -> dict[str, Any]:
    needle = Needle.parse(query)
    terms = needle.terms()
    lead_resource, contact_resource = REGISTRY["lead"], REGISTRY["contact"]

    # Each condition is served by an index (leads/search.py); terms under 3 characters scan.
    lead_query = matching(ctx, lead_resource.service.query(ctx), Lead, [(Lead.search_text, t) for t in terms])
    leads = list((await ctx.session.scalars(lead_query.order_by(Lead.id.desc()).limit(CANDIDATES))).unique())

    conditions: list[tuple[Any, str, Any]] = [(Contact.email_keys, t, Contact.email_keys) for t in terms]
    conditions.append((func.lower(Contact.name), needle.text, Contact.name))
    conditions += [(Contact.phone_keys, t, Contact.phone_keys) for t in (needle.phone, needle.digits) if t]
    if needle.url:  # contact URLs (e.g. LinkedIn) are only in their JSON list
        conditions.append((func.lower(cast(Contact.urls, String)), needle.url, Contact.urls))
    contact_query = matching(ctx, contact_resource.service.query(ctx), Contact, conditions)
    contacts = list(await ctx.session.scalars(contact_query.order_by(Contact.id.desc()).limit(CANDIDATES)))

    hits: list[tuple[int, int, str, Any]] = []  # (grade, kind order, field, record)
    for lead in leads:
        grade, matched = _grade_record(lead.name, lead.emails, lead.phones, [lead.url], needle)
        if grade:  # a lead found only through its contacts comes as those contacts' lead
            hits.append((grade, 0, matched, lead))
    for contact in contacts:
        grade, matched = _grade_record(contact.name, contact.emails, contact.phones,
                                       [u.get("url") for u in contact.urls or []], needle)
        if grade:
            hits.append((grade, 1, matched, contact))
    hits.sort(key=lambda h: (-h[0], h[1], FIELD_ORDER.index(h[2]), _newest(h[3].id)))
    page = hits[:limit]

    lead_ids = {h[3].lead_id for h in page if h[1] == 1}
    parents = {lead.id: lead for lead in (await ctx.session.scalars(
        lead_resource.service.query(ctx).where(Lead.id.in_(lead_ids)))).unique()} if lead_ids else {}
    data = []
    for grade, kind, matched, record in page:
        item: dict[str, Any] = {"type": "lead" if kind == 0 else "contact", "match": GRADES[grade],
                                "matched_on": matched}
        if kind == 0:
            item["lead"] = lead_resource.serialize(record)
        else:
            item["contact"] = contact_resource.serialize(record)
            item["lead"] = lead_resource.serialize(parents[record.lead_id], LEAD_SUMMARY)
        data.append(item)
    return {"query": query, "data": data, "has_more": len(hits) > limit}


def _newest(record_id: str) -> tuple[int, ...]:
    # IDs are time-ordered; sorting on the negated code points puts the newest first.
    return tuple(-ord(ch) for ch in record_id)
