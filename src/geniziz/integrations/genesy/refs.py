"""Other systems' IDs for our records (ExternalRef): Genesy's IDs never enter Geniziz's ID space."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from geniziz.api.context import Ctx
from geniziz.api.errors import APIError
from geniziz.api.resource import Resource
from geniziz.db import new_id
from geniziz.integrations.models import ExternalRef


async def linked(ctx: Ctx, resource: Resource, source: str, external_id: str | None) -> Any:
    """The record another system's ID was linked to, if it is still in this workspace."""
    if not external_id:
        return None
    record_id = await ctx.session.scalar(select(ExternalRef.record_id).where(
        ExternalRef.source == source, ExternalRef.external_id == external_id))
    return await one(ctx, resource, record_id) if record_id else None


MAX_LENGTH = ExternalRef.external_id.type.length


def _keeps(external_id: str | None) -> bool:
    # A key longer than the column (a freak URL) identifies nothing worth keeping.
    return bool(external_id) and len(external_id) <= MAX_LENGTH  # type: ignore[arg-type]


def _insert(ctx: Ctx, source: str, external_id: str, record_id: str) -> Any:
    insert = pg_insert if ctx.session.bind.dialect.name == "postgresql" else sqlite_insert
    return insert(ExternalRef).values(id=new_id("xref"), organization_id=ctx.org_id, source=source,
                                      external_id=external_id, record_id=record_id)


_KEY = ["organization_id", "source", "external_id"]


async def link(ctx: Ctx, source: str, external_id: str | None, record_id: str) -> None:
    if not _keeps(external_id):
        return
    # An upsert, so two requests linking the same ID at once cannot collide on the unique key.
    await ctx.session.execute(_insert(ctx, source, external_id, record_id)  # type: ignore[arg-type]
                              .on_conflict_do_update(index_elements=_KEY, set_={"record_id": record_id}))


class _Lost(Exception):
    """Another request linked the external ID first: undo what this one created."""


async def create_once(ctx: Ctx, resource: Resource, source: str, external_id: str | None,
                      create: Callable[[], Awaitable[Any]]) -> Any:
    """The record another system's ID names, created by ``create`` if there is none: once, however many
    requests race. The unique key on external_ref decides: each racer creates in a savepoint and claims
    the ID; a loser rolls its record back and answers the winner's."""
    if found := await linked(ctx, resource, source, external_id):
        return found
    if not _keeps(external_id):
        return await create()
    try:
        async with ctx.session.begin_nested():
            record = await create()
            if await _claim(ctx, resource, source, external_id, record.id):  # type: ignore[arg-type]
                return record
            raise _Lost
    except _Lost:
        pass
    if found := await linked(ctx, resource, source, external_id):
        return found
    raise APIError(409, "Conflict: this record was created and deleted meanwhile; retry")


async def _claim(ctx: Ctx, resource: Resource, source: str, external_id: str, record_id: str) -> bool:
    """Link the ID to ``record_id`` unless it names another live record. On PostgreSQL the insert waits
    for a racer's uncommitted link, then sees it."""
    if (await ctx.session.execute(_insert(ctx, source, external_id, record_id)
                                  .on_conflict_do_nothing(index_elements=_KEY).returning(ExternalRef.id))).first():
        return True
    where = (ExternalRef.source == source, ExternalRef.external_id == external_id)
    current = await ctx.session.scalar(select(ExternalRef.record_id).where(*where))
    if current is None or await one(ctx, resource, current) is not None:
        return False
    # The link names a record since deleted: take it over, unless a racer just did (then 0 rows match).
    taken = await ctx.session.execute(update(ExternalRef).where(*where, ExternalRef.record_id == current)
                                      .values(record_id=record_id).execution_options(synchronize_session=False))
    return taken.rowcount == 1


async def one(ctx: Ctx, resource: Resource, record_id: str, *, for_update: bool = False) -> Any:
    """The resource's record with this ID in the caller's workspace, or None; ``for_update`` locks it
    (and reloads it) so that a read-modify-write cannot lose a concurrent change."""
    service = resource.service
    query = service.query(ctx).where(service.model.id == record_id)
    if for_update:
        query = query.with_for_update(of=service.model).execution_options(populate_existing=True)
    return (await ctx.session.scalars(query)).unique().first()
