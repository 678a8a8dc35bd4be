"""Exporting leads, contacts or opportunities as CSV or JSON lines, filtered like their lists.

Rows are read in pages of ``PAGE`` by ID (keyset: every page costs the same) and written as they come,
so memory stays flat however many there are. The columns are the import's field names (``lead.name``,
``contact.email``...), so an export imports back as it is: a contact export carries its lead's columns
and recreates both. Several emails or phones go in one cell, separated by ", " (the import splits them).
``POST /export/`` runs the ``export.run`` job, which stores the file in chunks; ``GET
/export/{id}/download/`` streams them. ``geniziz export`` writes straight to a file or standard output.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select

from geniziz.api.context import Ctx
from geniziz.api.errors import APIError, validation_field_errors
from geniziz.api.resource import REGISTRY, CrudService
from geniziz.contacts.models import Contact
from geniziz.db import new_id, utcnow
from geniziz.flows.models import DataExport, DataExportChunk
from geniziz.identity.models import User
from geniziz.leads.models import Lead
from geniziz.opportunities.models import Opportunity
from geniziz.statuses.models import Pipeline, Status
from geniziz.worker.registry import enqueue

PAGE = 1000
CHUNK_BYTES = 1 << 20  # an export's file is stored in pieces of about 1 MB
EXPORT_JOB = "export.run"

LEAD_COLUMNS = ["lead.id", "lead.name", "lead.url", "lead.description", "lead.industry", "lead.status", "lead.owner",
                "lead.mrr", "lead.email", "lead.phone", "lead.address_1", "lead.address_2", "lead.city", "lead.state",
                "lead.zipcode", "lead.country", "lead.date_created"]
CONTACT_COLUMNS = ["contact.id", "contact.name", "contact.title", "contact.email", "contact.phone", "contact.url",
                   "contact.date_created"]
OPPORTUNITY_COLUMNS = ["opportunity.id", "opportunity.status", "opportunity.status_type", "opportunity.pipeline",
                       "opportunity.value", "opportunity.value_period", "opportunity.value_currency",
                       "opportunity.confidence", "opportunity.note", "opportunity.expected_close_date",
                       "opportunity.date_won", "opportunity.owner", "opportunity.date_created", "contact.id",
                       "lead.id", "lead.name"]
COLUMNS = {"lead": LEAD_COLUMNS, "contact": CONTACT_COLUMNS + LEAD_COLUMNS, "opportunity": OPPORTUNITY_COLUMNS}
MODELS: dict[str, Any] = {"lead": Lead, "contact": Contact, "opportunity": Opportunity}


def _joined(entries: list[dict[str, Any]] | None, key: str) -> str | None:
    return ", ".join(e[key] for e in entries or [] if e.get(key)) or None


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def check_filters(resource: str, filters: dict[str, Any]) -> dict[str, Any]:
    """The list's own filter model: the same names, values and messages as GET /<resource>/."""
    model = REGISTRY[resource].filters
    try:
        parsed = model.model_validate(filters)
    except ValidationError as exc:
        fields = {f"filters.{name}": why for name, why in validation_field_errors(list(exc.errors())).items()}
        raise APIError(400, "Invalid filters: " + ", ".join(sorted(fields)), fields) from None
    return {name: getattr(parsed, name) for name in model.model_fields}


class _Names:
    """Labels and emails for the IDs a page refers to, read once per export."""

    def __init__(self) -> None:
        self.statuses: dict[str, tuple[str, str | None, str | None]] = {}
        self.users: dict[str, str] = {}

    async def load(self, ctx: Ctx) -> None:
        pipelines = dict((await ctx.session.execute(select(Pipeline.id, Pipeline.name))).all())
        self.statuses = {s.id: (s.label, s.type, pipelines.get(s.pipeline_id)) for s in
                         await ctx.session.scalars(select(Status))}
        from geniziz.identity.models import Membership

        self.users = dict((await ctx.session.execute(
            select(User.id, User.email).join(Membership, Membership.user_id == User.id))).all())


def lead_row(lead: Lead, names: _Names) -> dict[str, Any]:
    address = (lead.addresses or [{}])[0]
    return {"lead.id": lead.id, "lead.name": lead.name, "lead.url": lead.url, "lead.description": lead.description,
            "lead.industry": lead.industry, "lead.status": names.statuses.get(lead.status_id, ("",))[0],
            "lead.owner": names.users.get(lead.owner_id) if lead.owner_id else None, "lead.mrr": lead.mrr,
            "lead.email": _joined(lead.emails, "email"), "lead.phone": _joined(lead.phones, "phone"),
            **{f"lead.{k}": address.get(k) for k in ("address_1", "address_2", "city", "state", "zipcode", "country")},
            "lead.date_created": _when(lead.date_created)}


def contact_row(contact: Contact) -> dict[str, Any]:
    return {"contact.id": contact.id, "contact.name": contact.name, "contact.title": contact.title,
            "contact.email": _joined(contact.emails, "email"), "contact.phone": _joined(contact.phones, "phone"),
            "contact.url": _joined(contact.urls, "url"), "contact.date_created": _when(contact.date_created)}


def opportunity_row(o: Opportunity, lead: Lead | None, names: _Names) -> dict[str, Any]:
    label, kind, pipeline = names.statuses.get(o.status_id, ("", None, None))
    return {"opportunity.id": o.id, "opportunity.status": label, "opportunity.status_type": kind or "active",
            "opportunity.pipeline": pipeline, "opportunity.value": o.value, "opportunity.value_period": o.value_period,
            "opportunity.value_currency": o.value_currency, "opportunity.confidence": o.confidence,
            "opportunity.note": o.note, "opportunity.expected_close_date": _when(o.expected_close_date),
            "opportunity.date_won": _when(o.date_won), "opportunity.owner": names.users.get(o.owner_id or ""),
            "opportunity.date_created": _when(o.date_created), "contact.id": o.contact_id, "lead.id": o.lead_id,
            "lead.name": lead.name if lead else None}


async def export_rows(ctx: Ctx, resource: str, filters: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """Every matching record as a flat row, oldest first, a page at a time."""
    if resource not in MODELS:
        raise APIError(400, "Invalid resource", {"resource": "lead, contact or opportunity"})
    model, service = MODELS[resource], REGISTRY[resource].service
    wanted = check_filters(resource, filters)
    names = _Names()
    await names.load(ctx)
    after = ""
    while True:
        query = service.filter(ctx, select(model), dict(wanted))  # a copy: filters may pop what they read
        page = list(await ctx.session.scalars(query.where(model.id > after).order_by(model.id).limit(PAGE)))
        if not page:
            return
        leads: dict[str, Lead] = {}
        if resource != "lead":
            ids = sorted({r.lead_id for r in page})
            leads = {lead.id: lead for lead in await ctx.session.scalars(select(Lead).where(Lead.id.in_(ids)))}
        for record in page:
            if resource == "lead":
                yield lead_row(record, names)
            elif resource == "contact":
                yield {**contact_row(record), **lead_row(leads[record.lead_id], names)}
            else:
                yield opportunity_row(record, leads.get(record.lead_id), names)
        after = page[-1].id
        ctx.session.expunge_all()  # a page at a time in memory


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (dict, list)) else value


async def write_export(ctx: Ctx, resource: str, fmt: str, filters: dict[str, Any],
                       write: Callable[[str], Any]) -> int:
    """Write the export's text through ``write`` (a file's, or a chunk buffer's); returns the rows written."""
    if fmt not in ("csv", "jsonl"):
        raise APIError(400, "Invalid format", {"format": "csv or jsonl"})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS.get(resource, []), lineterminator="\n", extrasaction="ignore")
    if fmt == "csv":
        writer.writeheader()
    rows = 0
    async for row in export_rows(ctx, resource, filters):
        if fmt == "csv":
            writer.writerow({k: _cell(v) for k, v in row.items()})
        else:
            buffer.write(json.dumps({k: v for k, v in row.items() if v is not None}) + "\n")
        rows += 1
        if buffer.tell() >= CHUNK_BYTES // 4:
            await _flush(buffer, write)
    await _flush(buffer, write)
    return rows


async def _flush(buffer: io.StringIO, write: Callable[[str], Any]) -> None:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    if text:
        result = write(text)
        if hasattr(result, "__await__"):
            await result


# --- the export resource and its job -------------------------------------------------------------------------
class ExportService(CrudService[DataExport]):
    model = DataExport
    prefix = "expt"
    label = "export"

    async def create(self, ctx: Ctx, data: dict[str, Any]) -> DataExport:
        check_filters(data["resource"], data["filters"])
        record = self.new(ctx)
        record.resource, record.format, record.filters = data["resource"], data["format"], data["filters"]
        record.status, record.rows, record.size_bytes = "queued", 0, 0
        ctx.session.add(record)
        await ctx.session.flush()
        record.job_id = await enqueue(ctx, EXPORT_JOB, {"export_id": record.id}, owner=record,
                                      idempotency_key=f"export:{record.id}")
        await ctx.session.flush()
        return record


async def run_export(ctx: Ctx, export_id: str) -> dict[str, Any]:
    """The job, in one transaction: the file's chunks and the export's status commit together."""
    record = await ctx.session.get(DataExport, export_id)
    if record is None or record.status in ("succeeded", "failed"):
        return {"export_id": export_id, "status": record.status if record else "gone"}
    await ctx.session.execute(delete(DataExportChunk).where(DataExportChunk.export_id == export_id))
    pending = io.StringIO()
    state = {"seq": 0, "size": 0}

    async def store(text: str | None = None) -> None:
        if text:
            pending.write(text)
        if pending.tell() >= CHUNK_BYTES or (text is None and pending.tell()):
            content = pending.getvalue()
            pending.seek(0)
            pending.truncate()
            ctx.session.add(DataExportChunk(id=new_id("expc"), organization_id=ctx.org_id, export_id=export_id,
                                            seq=state["seq"], content=content, created_by=ctx.user_id,
                                            updated_by=ctx.user_id))
            await ctx.session.flush()
            state["seq"] += 1
            state["size"] += len(content.encode())

    resource, fmt, filters = record.resource, record.format, record.filters
    rows = await write_export(ctx, resource, fmt, filters, store)
    await store(None)
    record = await ctx.session.get(DataExport, export_id)
    assert record is not None
    record.status, record.rows, record.size_bytes, record.date_finished = "succeeded", rows, state["size"], utcnow()
    return {"export_id": export_id, "rows": rows, "size_bytes": state["size"]}
