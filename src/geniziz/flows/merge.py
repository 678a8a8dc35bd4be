"""Merging two leads of one workspace: everything of the source goes to the destination, then the source goes.

In the caller's unit of work, so all of it commits or none of it does:
1. both leads are locked (in ID order, so two merges of the same pair in opposite directions cannot
   deadlock: the second waits, then finds its source or destination gone);
2. every reference to the source (each foreign key to ``lead.id`` in the metadata, and each column
   marked ``refers_to``: Genesy's external IDs) is repointed to the destination; where a unique key
   would then hold twice, the destination's row is kept and the source's dropped;
3. empty fields of the destination take the source's values; list fields (emails, phones, addresses)
   are united without duplicates; JSON objects (custom field values) are united, the destination's
   values winning;
4. the source is deleted and a ``lead_merge`` activity on the destination records what moved.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import aliased

from geniziz import events
from geniziz.activities.service import record_activity
from geniziz.api.context import Ctx
from geniziz.api.errors import APIError
from geniziz.db import looks_like_id
from geniziz.flows.graph import Link, attr, entity, links
from geniziz.leads.models import Lead
from geniziz.leads.service import LeadService, refresh_search_text

# Lead columns a merge never copies: identity, bookkeeping, derived.
KEPT = frozenset({"id", "organization_id", "date_created", "date_updated", "created_by", "updated_by",
                  "search_text", "status_id"})


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _key(entry: Any) -> str:
    """What makes two list entries the same: the address or number, else the whole entry."""
    if isinstance(entry, dict):
        for name in ("email", "phone", "url"):
            if isinstance(entry.get(name), str):
                return f"{name}:{entry[name].strip().lower()}"
        return json.dumps({k: v for k, v in entry.items() if v not in (None, "")}, sort_keys=True).lower()
    return json.dumps(entry, sort_keys=True)


def unite(destination: list[Any], source: list[Any]) -> list[Any]:
    seen = {_key(entry) for entry in destination}
    out = list(destination)
    for entry in source:
        if _key(entry) not in seen:
            seen.add(_key(entry))
            out.append(entry)
    return out


def merged_fields(destination: Lead, source: Lead) -> dict[str, Any]:
    """The destination's new values: its own, filled and united with the source's."""
    changes: dict[str, Any] = {}
    for column in Lead.__table__.c:
        name = column.key
        if name in KEPT:
            continue
        mine, theirs = getattr(destination, name), getattr(source, name)
        if _empty(theirs):
            continue
        if isinstance(mine, list) and isinstance(theirs, list):
            value: Any = unite(mine, theirs)
        elif isinstance(mine, dict) and isinstance(theirs, dict):
            value = {**theirs, **mine}
        elif _empty(mine):
            value = theirs
        else:
            continue
        if value != mine:
            changes[name] = value
    return changes


def references_to_leads() -> list[Link]:
    return [link for link in links() if link.target is None or link.target.name == Lead.__tablename__]


async def _lock(ctx: Ctx, source_id: str, destination_id: str) -> tuple[Lead, Lead]:
    errors = {}
    for field, value in (("source", source_id), ("destination", destination_id)):
        if not looks_like_id(value):
            errors[field] = f"No lead with ID {value} in this workspace"
    if not errors and source_id == destination_id:
        raise APIError(400, "A lead cannot be merged into itself", {"destination": "the same lead as source"})
    found = {} if errors else {lead.id: lead for lead in await ctx.session.scalars(
        select(Lead).where(Lead.id.in_(sorted({source_id, destination_id}))).order_by(Lead.id)
        .with_for_update().execution_options(populate_existing=True))}
    for field, value in (("source", source_id), ("destination", destination_id)):
        if value not in found:
            errors.setdefault(field, f"No lead with ID {value} in this workspace")
    if errors:
        raise APIError(400, "Lead not found: " + ", ".join(sorted(errors)), errors)
    return found[source_id], found[destination_id]


async def _repoint(ctx: Ctx, link: Link, source_id: str, destination_id: str) -> int:
    """Move the source's rows of one reference to the destination; a unique key that would then hold
    twice keeps the destination's row."""
    cls, column = entity(link.table), attr(link.table, link.column)
    for unique in _unique_keys(link):
        twin = aliased(cls)
        same = [getattr(twin, attr(link.table, other).key) == attr(link.table, other) for other in unique]
        await ctx.session.execute(
            delete(cls).where(column == source_id, exists().where(
                getattr(twin, column.key) == destination_id, *same))
            .execution_options(synchronize_session=False))
    moved = await ctx.session.execute(update(cls).where(column == source_id).values({column.key: destination_id})
                                      .execution_options(synchronize_session=False))
    return moved.rowcount or 0


def _unique_keys(link: Link) -> list[list[str]]:
    """The other columns of each unique key that includes the link's column."""
    keys = [list(c.columns) for c in link.table.constraints if getattr(c, "columns", None) is not None
            and type(c).__name__ == "UniqueConstraint"]
    keys += [list(index.columns) for index in link.table.indexes if index.unique]
    return [[c.name for c in key if c is not link.column] for key in keys if link.column in key]


async def merge_leads(ctx: Ctx, source_id: str, destination_id: str) -> Lead:
    source, destination = await _lock(ctx, source_id, destination_id)
    source_name = source.name
    changes = merged_fields(destination, source)
    moved: dict[str, int] = {}
    for link in references_to_leads():
        if link.table.name == Lead.__tablename__:
            continue
        count = await _repoint(ctx, link, source_id, destination_id)
        if count:
            moved[link.table.name] = moved.get(link.table.name, 0) + count
    await ctx.session.delete(source)
    await ctx.session.flush()
    if changes:
        await LeadService().update(ctx, destination_id, changes)  # owner checked, status events as usual
    await refresh_search_text(ctx, destination_id)  # its new contacts' names, emails and phones
    record_activity(ctx, "lead_merge", lead_id=destination_id, source_lead_id=source_id,
                    source_lead_name=source_name, moved=moved, fields_filled=sorted(changes))
    await ctx.session.flush()
    await events.emit(ctx, "lead.merged", source_id=source_id, destination_id=destination_id, moved=moved)
    return await LeadService().get(ctx, destination_id, refresh=True)
