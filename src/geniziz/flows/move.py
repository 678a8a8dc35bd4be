"""Moving a lead, with everything of it, to another workspace the caller administers.

Records keep their IDs (they are unique across workspaces); each changes workspace with one UPDATE per
table and chunk of IDs, all in one transaction, so a failure anywhere leaves the lead wholly where it
was. What the lead's records refer to outside the lead is remapped first, while they are still in the
source workspace (see README, "Lead merge and move", for the rules as a table):

- the workspace itself: the target;
- lead and opportunity statuses: the target's status of the same label (and type), else its default
  (the first defined); an opportunity's pipeline follows its status;
- people (owner, assignee, author): kept when a member of the target, else cleared (the mover, for a
  column that may not be empty); created_by/updated_by are history and stay;
- any other workspace-level record (a custom activity type, a template, a sequence...): the target's
  record of the same name or label, else cleared; when the column may not be empty, the move is refused
  (400 naming it) so nothing is lost;
- records of the lead's kinds outside the lead (a contact of another lead): cleared, or refused.
Rows of other records that point into the lead with ON DELETE SET NULL (an email delivery's activity)
are detached, as deleting the lead would; other systems' IDs (external refs) go along, unless the
target already links the same external ID. Other domains adjust what only they understand (custom
field values in JSON) on the ``lead.moving`` event, before anything changes workspace.

A lead with more records than GENIZIZ_LEAD_MOVE_INLINE_RECORDS moves as a ``lead.move`` job (still
one transaction), whose status the caller follows at GET /job/{id}/.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, delete, exists, select, update
from sqlalchemy.orm import aliased

from geniziz import events
from geniziz.api.context import Ctx
from geniziz.api.errors import APIError, field_error
from geniziz.config import get_settings
from geniziz.db import WORKSPACE, looks_like_id
from geniziz.flows.graph import Graph, Link, attr, chunks, collect, entity, lead_graph, links, owned
from geniziz.identity.models import Membership
from geniziz.leads.models import Lead
from geniziz.leads.service import LeadService
from geniziz.statuses.models import Status
from geniziz.worker.models import Job
from geniziz.worker.registry import enqueue

MOVE_JOB = "lead.move"
HISTORY = frozenset({"created_by", "updated_by"})  # who did what stays true in any workspace
FIELD = "target_organization_id"


@dataclass
class Move:
    ctx: Ctx
    lead_id: str
    target: str
    graph: Graph
    records: dict[Table, list[str]]
    remapped: dict[str, dict[str, str | None]] = field(default_factory=dict)
    cleared: dict[str, int] = field(default_factory=dict)
    detached: dict[str, int] = field(default_factory=dict)

    def size(self) -> int:
        return sum(len(ids) for ids in self.records.values())

    async def in_target(self, query: Any) -> Any:
        """A read in the target workspace (the session is the source's)."""
        return await self.ctx.session.execute(query.execution_options(all_workspaces=True))


# A rule finds, for each value of a column, the columns to set in the target: {old: {column: new}}.
Rule = Callable[[Move, list[str]], Awaitable[dict[str, dict[str, Any]]]]


async def _lead_status(move: Move, old: list[str]) -> dict[str, dict[str, Any]]:
    return await _statuses(move, old, "lead", "status_id")


async def _opportunity_status(move: Move, old: list[str]) -> dict[str, dict[str, Any]]:
    return await _statuses(move, old, "opportunity", "status_id", "pipeline_id")


async def _statuses(move: Move, old: list[str], kind: str, column: str,
                    pipeline_column: str | None = None) -> dict[str, dict[str, Any]]:
    theirs = list((await move.in_target(select(Status).where(
        Status.organization_id == move.target, Status.kind == kind).order_by(Status.id))).scalars())
    if not theirs:
        raise field_error(FIELD, f"the target workspace has no {kind} status")
    mine = {s.id: s for s in await move.ctx.session.scalars(select(Status).where(Status.id.in_(old)))}
    out = {}
    for status_id in old:
        status = mine.get(status_id)
        same = [s for s in theirs if status and s.label.lower() == status.label.lower()]
        best = next((s for s in same if s.type == status.type), same[0] if same else theirs[0])  # type: ignore[union-attr]
        out[status_id] = {column: best.id} | ({pipeline_column: best.pipeline_id} if pipeline_column else {})
    return out


# Declared rules, by "table.column"; None: set by another rule (an opportunity's pipeline follows its status).
RULES: dict[str, Rule | None] = {
    "lead.status_id": _lead_status,
    "opportunity.status_id": _opportunity_status,
    "opportunity.pipeline_id": None,
}


async def _members(move: Move, old: list[str]) -> set[str]:
    return set((await move.in_target(select(Membership.user_id).where(
        Membership.organization_id == move.target, Membership.user_id.in_(old)))).scalars())


async def _same_name(move: Move, link: Link, old: list[str]) -> dict[str, str | None]:
    """The target's record of the same name (or label) for each, if the referenced table has one."""
    table = link.target
    assert table is not None
    name = next((c for c in ("name", "label") if c in table.c), None)
    if name is None:
        return {}
    ours = dict((await move.ctx.session.execute(
        select(attr(table, "id"), attr(table, name)).where(attr(table, "id").in_(old)))).all())
    wanted = {str(value).lower() for value in ours.values() if value}
    theirs: dict[str, str] = {}
    for record_id, value in (await move.in_target(
            select(attr(table, "id"), attr(table, name)).where(attr(table, WORKSPACE) == move.target)
            .order_by(attr(table, "id")))).all():
        if value and str(value).lower() in wanted:
            theirs.setdefault(str(value).lower(), record_id)
    return {record_id: theirs.get(str(value).lower()) for record_id, value in ours.items() if value}


async def _remap(move: Move, link: Link) -> None:
    """Give one column of the lead's records its value in the target workspace."""
    ids = move.records[link.table]
    column = attr(link.table, link.column)
    old: set[str] = set()
    for chunk in chunks(ids):
        old.update(v for v in await move.ctx.session.scalars(
            select(column).where(attr(link.table, "id").in_(chunk), column.is_not(None)).distinct()) if v)
    if not old:
        return
    values = sorted(old)
    target = link.target
    assert target is not None
    if link.name in RULES:
        rule = RULES[link.name]
        if rule is None:
            return
        plan = await rule(move, values)
    elif target.name == "user":
        members = await _members(move, values)
        replacement = None if link.column.nullable else move.ctx.user_id
        plan = {value: {link.column.key: value if value in members else replacement} for value in values}
    elif not owned(target):
        return  # a record shared by every workspace
    elif target in move.records:  # a record of the lead's kinds: only those of this lead come along
        carried = set(move.records[target])
        plan = {value: {link.column.key: value if value in carried else None} for value in values}
    else:
        found = await _same_name(move, link, values)
        plan = {value: {link.column.key: found.get(value)} for value in values}
    for value, assignments in plan.items():
        if assignments.get(link.column.key) == value:
            continue  # stays as it is
        if any(new is None and not link.table.c[name].nullable for name, new in assignments.items()):
            raise APIError(400, f"Cannot move: {link.name} refers to a record the target workspace has no "
                                f"equivalent of ({value}); create one of the same name there first",
                           {FIELD: f"{link.name} {value} has no equivalent in the target workspace"})
        count = 0
        for chunk in chunks(ids):
            done = await move.ctx.session.execute(
                update(entity(link.table)).where(attr(link.table, "id").in_(chunk), column == value)
                .values({attr(link.table, name).key: new for name, new in assignments.items()})
                .execution_options(synchronize_session=False))
            count += done.rowcount or 0
        for name, new in assignments.items():
            if new is None:
                key = f"{link.table.name}.{name}"
                move.cleared[key] = move.cleared.get(key, 0) + count
            else:
                move.remapped.setdefault(f"{link.table.name}.{name}", {})[value] = new


async def _detach(move: Move, link: Link) -> None:
    """A record outside the lead that points into it with ON DELETE SET NULL lets go, as on a delete."""
    column = attr(link.table, link.column)
    mine = set(move.records.get(link.table, ()))
    for chunk in chunks(move.records[link.target]):  # type: ignore[index]
        query = update(entity(link.table)).where(column.in_(chunk))
        if mine:
            query = query.where(attr(link.table, "id").not_in(sorted(mine)))
        done = await move.ctx.session.execute(query.values({column.key: None})
                                              .execution_options(synchronize_session=False))
        if done.rowcount:
            move.detached[link.name] = move.detached.get(link.name, 0) + done.rowcount


async def _refuse_if_held(move: Move, link: Link) -> None:
    column = attr(link.table, link.column)
    mine = set(move.records.get(link.table, ()))
    for chunk in chunks(move.records[link.target]):  # type: ignore[index]
        holders = set(await move.ctx.session.scalars(select(attr(link.table, "id")).where(column.in_(chunk))))
        if holders - mine:
            raise APIError(400, f"Cannot move: {link.table.name} records outside this lead refer to it",
                           {FIELD: f"{link.name} holds records of this lead"})


async def _external_ids(move: Move, link: Link) -> list[str]:
    """Rows holding the ID of any of the lead's records; those whose key the target already has are
    dropped (the target's link wins)."""
    every = sorted({record_id for ids in move.records.values() for record_id in ids})
    cls, column = entity(link.table), attr(link.table, link.column)
    rows: list[str] = []
    for chunk in chunks(every):
        rows += await move.ctx.session.scalars(select(attr(link.table, "id")).where(column.in_(chunk)))
    for unique in _keys_with_workspace(link.table):
        twin = aliased(cls)
        same = [getattr(twin, attr(link.table, c).key) == attr(link.table, c) for c in unique]
        for chunk in chunks(rows):
            await move.ctx.session.execute(
                delete(cls).where(attr(link.table, "id").in_(chunk), exists().where(
                    getattr(twin, WORKSPACE) == move.target, *same))
                .execution_options(synchronize_session=False, all_workspaces=True))
    kept = []
    for chunk in chunks(rows):
        kept += await move.ctx.session.scalars(select(attr(link.table, "id")).where(attr(link.table, "id").in_(chunk)))
    return sorted(kept)


def _keys_with_workspace(table: Table) -> list[list[str]]:
    keys = [list(c.columns) for c in table.constraints if type(c).__name__ == "UniqueConstraint"]
    keys += [list(index.columns) for index in table.indexes if index.unique]
    return [[c.name for c in key if c.name != WORKSPACE] for key in keys if any(c.name == WORKSPACE for c in key)]


# --- the move --------------------------------------------------------------------------------------
async def check_target(ctx: Ctx, target: str) -> None:
    """The caller must be an admin here (the principal says so) and in the target."""
    ctx.require_admin()
    if target == ctx.org_id:
        raise field_error(FIELD, "the lead is already in this workspace")
    role = None
    if looks_like_id(target):
        role = await ctx.session.scalar(select(Membership.role).where(
            Membership.organization_id == target, Membership.user_id == ctx.user_id)
            .execution_options(all_workspaces=True))  # the caller's own membership elsewhere
    if role != "admin":
        raise field_error(FIELD, "not a workspace you administer")


async def plan_move(ctx: Ctx, lead_id: str, target: str) -> Move:
    graph = lead_graph()
    return Move(ctx, lead_id, target, graph, await collect(ctx, graph, lead_id))


async def apply_move(move: Move) -> dict[str, Any]:
    graph, records = move.graph, move.records
    for link in graph.blocking:
        await _refuse_if_held(move, link)
    every = links()
    for table in graph.tables:
        for link in every:
            if link.table is table and link.target is not None and link.column.name not in HISTORY | {WORKSPACE}:
                await _remap(move, link)
    await events.emit(move.ctx, "lead.moving", move=move)
    for link in graph.detaching:
        await _detach(move, link)
    extra = {link.table: await _external_ids(move, link) for link in graph.by_id if owned(link.table)}
    moved: dict[str, int] = {}
    for table, ids in [*records.items(), *extra.items()]:
        for chunk in chunks(ids):
            done = await move.ctx.session.execute(
                update(entity(table)).where(attr(table, "id").in_(chunk)).values({WORKSPACE: move.target})
                .execution_options(synchronize_session=False))
            moved[table.name] = moved.get(table.name, 0) + (done.rowcount or 0)
    await move.ctx.session.flush()
    await events.emit(move.ctx, "lead.moved", lead_id=move.lead_id, source_organization_id=move.ctx.org_id,
                      target_organization_id=move.target, moved=moved)
    return {"lead_id": move.lead_id, "organization_id": move.target, "status": "moved", "job_id": None,
            "moved": {name: n for name, n in moved.items() if n}, "remapped": move.remapped,
            "cleared": move.cleared, "detached": move.detached}


async def move_lead(ctx: Ctx, lead_id: str, target: str) -> dict[str, Any]:
    """POST /lead/{id}/move/: at once, or as a job for a lead with a large history."""
    await LeadService().get(ctx, lead_id, for_update=True)  # 404 outside the workspace; holds the lead
    await check_target(ctx, target)
    move = await plan_move(ctx, lead_id, target)
    if move.size() <= get_settings().lead_move_inline_records:
        return await apply_move(move)
    # One move per lead at a time: a repeat while it waits answers the same job (the lead's lock orders them).
    job_id = await ctx.session.scalar(select(Job.id).where(
        Job.kind == MOVE_JOB, Job.owner_id == lead_id, Job.status.in_(("queued", "running"))))
    if job_id is None:
        job_id = await enqueue(ctx, MOVE_JOB, {"lead_id": lead_id, FIELD: target}, owner=("lead", lead_id))
    return {"lead_id": lead_id, "organization_id": ctx.org_id, "status": "queued", "job_id": job_id,
            "moved": {}, "remapped": {}, "cleared": {}, "detached": {}}


async def run_move_job(ctx: Ctx, lead_id: str, target: str) -> dict[str, Any]:
    """The job: the same move, once the caller is still an admin of both workspaces."""
    if await ctx.session.scalar(select(Lead.id).where(Lead.id == lead_id).with_for_update()) is None:
        return {"lead_id": lead_id, "status": "gone"}
    role = await ctx.session.scalar(select(Membership.role).where(Membership.user_id == ctx.user_id))
    if role != "admin":
        return {"lead_id": lead_id, "status": "refused", "error": "the mover is no longer an admin here"}
    try:
        await check_target(ctx, target)
        async with ctx.session.begin_nested():  # a refusal half-way undoes what was done before it
            return await apply_move(await plan_move(ctx, lead_id, target))
    except APIError as exc:  # final: retrying would refuse again
        return {"lead_id": lead_id, "status": "refused", "error": exc.message, "field-errors": exc.field_errors}
