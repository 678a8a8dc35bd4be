"""Other systems' IDs for our records (ExternalRef): Genesy's IDs never enter Geniziz's ID space."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from geniziz.api.context import Ctx
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


async def link(ctx: Ctx, source: str, external_id: str | None, record_id: str) -> None:
    # A key longer than the column (a freak URL) identifies nothing worth keeping.
    if not external_id or len(external_id) > MAX_LENGTH:
        return
    # An upsert, so two requests linking the same ID at once cannot collide on the unique key.
    insert = pg_insert if ctx.session.bind.dialect.name == "postgresql" else sqlite_insert
    await ctx.session.execute(insert(ExternalRef).values(
        id=new_id("xref"), organization_id=ctx.org_id, source=source, external_id=external_id, record_id=record_id,
    ).on_conflict_do_update(index_elements=["organization_id", "source", "external_id"],
                            set_={"record_id": record_id}))


async def one(ctx: Ctx, resource: Resource, record_id: str) -> Any:
    """The resource's record with this ID in the caller's workspace, or None."""
    service = resource.service
    return (await ctx.session.scalars(service.query(ctx).where(service.model.id == record_id))).first()
