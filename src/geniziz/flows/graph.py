"""What hangs off a lead, read from the SQLAlchemy metadata, so that a table added later is carried by
merge and move without a change here.

- A record *belongs to* a lead when deleting the lead would delete it: a chain of ``ON DELETE CASCADE``
  foreign keys from the lead (contacts, opportunities and their line items, tasks, activities, email
  threads, and any later table with such a key: custom object instances, subscriptions, conversations).
- A record that deleting the lead would only *detach* (``ON DELETE SET NULL``: an email delivery's
  activity) is not the lead's: it stays where it is (a move detaches it).
- A column that holds a record's ID without a foreign key opts in through its column info:
  ``mapped_column(..., info={"refers_to": "*"})`` for any record's ID (``ExternalRef.record_id``).
- Only workspace-owned tables (with an ``organization_id`` column) take part; every statement below
  goes through a mapped class, so the session's workspace scoping applies to it (geniziz.db).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Table, select
from sqlalchemy.orm import InstrumentedAttribute

from geniziz.api.context import Ctx
from geniziz.db import WORKSPACE, Base

CHUNK = 500  # IDs per IN (...): well under SQLite's and asyncpg's parameter limits
ANY_RECORD = "*"


@dataclass(frozen=True)
class Link:
    """A column of ``table`` holding IDs of ``target``'s records (None: of any record)."""

    table: Table
    column: Column[Any]
    target: Table | None
    ondelete: str  # CASCADE, SET NULL, RESTRICT, NO ACTION ("" for a column without a foreign key)

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column.name}"


@dataclass
class Graph:
    lead: Table
    tables: list[Table] = field(default_factory=list)  # the lead's table first, then in dependency order
    owning: dict[Table, list[Link]] = field(default_factory=dict)  # how each table's rows hang off the lead
    detaching: list[Link] = field(default_factory=list)  # SET NULL keys into the graph: detached on a move
    blocking: list[Link] = field(default_factory=list)  # RESTRICT / NO ACTION keys into the graph
    by_id: list[Link] = field(default_factory=list)  # columns holding any record's ID, without a key


def owned(table: Table) -> bool:
    return WORKSPACE in table.c


def _mapped() -> dict[Table, type]:
    return {m.local_table: m.class_ for m in Base.registry.mappers if not m.inherits}


def attr(table: Table, column: Column[Any] | str) -> InstrumentedAttribute[Any]:
    """The mapped attribute of a column: statements built on it are scoped to the workspace."""
    cls = _mapped()[table]
    column = table.c[column] if isinstance(column, str) else column
    return getattr(cls, cls.__mapper__.get_property_by_column(column).key)  # type: ignore[attr-defined]


def entity(table: Table) -> type:
    return _mapped()[table]


def links() -> list[Link]:
    """Every reference held by a workspace-owned table: foreign keys, and ``refers_to`` columns."""
    out = []
    for table in Base.metadata.sorted_tables:
        if not owned(table) or table not in _mapped():
            continue
        for column in table.c:
            for key in column.foreign_keys:
                out.append(Link(table, column, key.column.table, (key.ondelete or "NO ACTION").upper()))
            if column.info.get("refers_to") == ANY_RECORD:
                out.append(Link(table, column, None, ""))
    return out


def lead_graph() -> Graph:
    from geniziz.leads.models import Lead

    every = links()
    graph = Graph(lead=Lead.__table__)  # type: ignore[arg-type]
    members = {graph.lead}
    for table in Base.metadata.sorted_tables:  # dependency order: a table comes after those it refers to
        if table is graph.lead or not owned(table) or table not in _mapped():
            continue
        owning = [link for link in every if link.table is table and link.target in members
                  and link.ondelete == "CASCADE"]
        if owning:
            members.add(table)
            graph.owning[table] = owning
    graph.tables = [t for t in Base.metadata.sorted_tables if t in members]
    for link in every:
        if link.target is None:
            graph.by_id.append(link)
        elif link.target in members and link not in graph.owning.get(link.table, ()):
            if link.ondelete == "SET NULL":
                graph.detaching.append(link)
            elif link.ondelete != "CASCADE":
                graph.blocking.append(link)
    return graph


def chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


async def collect(ctx: Ctx, graph: Graph, lead_id: str) -> dict[Table, list[str]]:
    """The IDs of every record of the lead, per table (the lead's own table holds the lead)."""
    found: dict[Table, list[str]] = {graph.lead: [lead_id]}
    for table in graph.tables[1:]:
        ids: set[str] = set()
        for link in graph.owning[table]:
            parents = found.get(link.target, [])  # type: ignore[arg-type]
            for chunk in chunks(parents):
                ids.update(await ctx.session.scalars(
                    select(attr(table, "id")).where(attr(table, link.column).in_(chunk))))
        found[table] = sorted(ids)
    return found
