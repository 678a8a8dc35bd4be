"""Lead and opportunity statuses, and the pipelines opportunity statuses belong to."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import ColumnElement, Label, Select, bindparam, func, select

from geniziz.api.context import Ctx
from geniziz.api.errors import APIError
from geniziz.api.resource import CrudService, Ref
from geniziz.db import new_id
from geniziz.identity.models import Organization
from geniziz.statuses.models import STATUS_KINDS, Pipeline, Status

DEFAULT_LEAD_STATUSES = ("Potential", "Bad Fit", "Qualified", "Customer")
DEFAULT_PIPELINE = ("Sales", (("Active", "active"), ("Won", "won"), ("Lost", "lost")))


class StatusService(CrudService[Status]):
    model = Status
    prefix = "stat"
    kind: str

    def base_query(self) -> Select:
        return super().base_query().where(Status.kind == self.kind)

    def order_by(self) -> tuple[Any, ...]:
        return (Status.id.asc(),)  # statuses are listed in the order they were defined (pipeline order)

    async def apply(self, ctx: Ctx, obj: Status, data: dict[str, Any], *, creating: bool) -> None:
        obj.kind = self.kind
        await super().apply(ctx, obj, data, creating=creating)

    async def before_delete(self, ctx: Ctx, obj: Status) -> None:
        from geniziz.leads.models import Lead
        from geniziz.opportunities.models import Opportunity

        holder = Lead if self.kind == "lead" else Opportunity
        in_use = await ctx.session.scalar(select(func.count()).select_from(holder).where(holder.status_id == obj.id))
        if in_use:
            raise APIError(400, f"This status is used by {in_use} {holder.__tablename__} record(s); move them "
                                "to another status first", {"id": "status in use"})
        if self.kind == "lead":
            # Counted under the workspace's lock: two deletes at once cannot both leave the other as the last.
            await lock_workspace(ctx)
            remaining = await ctx.session.scalar(select(func.count()).select_from(Status).where(Status.kind == "lead"))
            if remaining <= 1:
                raise APIError(400, "A workspace needs at least one lead status", {"id": "last lead status"})


class LeadStatusService(StatusService):
    kind = "lead"
    label = "lead status"


class OpportunityStatusService(StatusService):
    kind = "opportunity"
    label = "opportunity status"
    refs = {"pipeline_id": Ref(Pipeline, "pipeline")}

    async def apply(self, ctx: Ctx, obj: Status, data: dict[str, Any], *, creating: bool) -> None:
        if creating and not data.get("pipeline_id"):
            data["pipeline_id"] = await ctx.session.scalar(
                select(Pipeline.id).order_by(Pipeline.id).limit(1))
            if data["pipeline_id"] is None:
                raise APIError(400, "Create a pipeline first", {"pipeline_id": "no pipeline in this workspace"})
        await super().apply(ctx, obj, data, creating=creating)


class PipelineService(CrudService[Pipeline]):
    model = Pipeline
    prefix = "pipe"
    label = "pipeline"

    def order_by(self) -> tuple[Any, ...]:
        return (Pipeline.id.asc(),)

    async def before_delete(self, ctx: Ctx, obj: Pipeline) -> None:
        from geniziz.opportunities.models import Opportunity

        in_use = await ctx.session.scalar(select(func.count()).select_from(Opportunity).where(
            Opportunity.pipeline_id == obj.id))
        if in_use:
            raise APIError(400, f"This pipeline has {in_use} opportunities; move them first", {"id": "pipeline in use"})


async def lock_workspace(ctx: Ctx) -> None:
    """Serialize checks that span a workspace's rows ("at least one ..."). FOR NO KEY UPDATE: the
    foreign-key share locks of concurrent inserts in the workspace do not wait for it."""
    await ctx.session.execute(select(Organization.id).where(Organization.id == ctx.org_id)
                              .with_for_update(key_share=True))


# Built once: building it cost as much CPU as running it (about 0.3 ms of every create).
_FIRST_STATUS = select(Status.id).where(Status.kind == bindparam("kind")).order_by(Status.id).limit(1)


# The first status of each kind, as the write being handled read them in its own transaction (a record's
# write reads them with the custom fields' version, in one statement: custom/definitions.py), with that
# transaction's session: other sessions (a task started meanwhile) read their own.
_READ: ContextVar[tuple[Any, dict[str, str | None]] | None] = ContextVar("first_statuses", default=None)


def first_status_columns(organization_id: ColumnElement[Any]) -> list[Label[Any]]:
    """The first status of each kind of the workspace ``organization_id`` names, labelled by kind."""
    status = Status.__table__
    return [select(status.c.id).where(status.c.organization_id == organization_id, status.c.kind == kind)
            .order_by(status.c.id).limit(1).scalar_subquery().label(kind) for kind in STATUS_KINDS]


@contextmanager
def first_statuses_read(ctx: Ctx, found: dict[str, str | None] | None) -> Iterator[None]:
    """While the write that read ``found`` (by ``first_status_columns``) runs, ``first_status`` answers from
    it (None: it reads them itself)."""
    token = _READ.set(None if found is None else (ctx.session, found))
    try:
        yield
    finally:
        _READ.reset(token)


async def first_status(ctx: Ctx, kind: str) -> str:
    """The default status for a new lead or opportunity: the first one defined."""
    known = _READ.get()
    if known is not None and known[0] is ctx.session:
        status_id = known[1][kind]
    else:
        status_id = await ctx.session.scalar(_FIRST_STATUS, {"kind": kind})
    if status_id is None:
        raise APIError(400, f"This workspace has no {kind} status; create one first", {"status_id": f"no {kind} status"})
    return status_id


async def create_default_statuses(session: Any, organization_id: str, user_id: str | None) -> None:
    """A new workspace starts with the usual lead statuses and a "Sales" pipeline."""
    common = {"organization_id": organization_id, "created_by": user_id, "updated_by": user_id}
    for label in DEFAULT_LEAD_STATUSES:
        session.add(Status(id=new_id("stat"), kind="lead", label=label, **common))
    name, statuses = DEFAULT_PIPELINE
    pipeline = Pipeline(id=new_id("pipe"), name=name, **common)
    session.add(pipeline)
    for label, status_type in statuses:
        session.add(Status(id=new_id("stat"), kind="opportunity", label=label, type=status_type,
                           pipeline_id=pipeline.id, **common))
    await session.flush()
