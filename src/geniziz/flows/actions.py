"""The flows' actions: lead merge and move, an import's errors (REST, OpenAPI and MCP from one declaration)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from geniziz.api.action import Action, Args, FieldsArg, Scope, joined, register_action
from geniziz.api.context import Ctx
from geniziz.api.resource import REGISTRY
from geniziz.flows import jobs as _jobs  # noqa: F401 - the flows' job kinds, for the app and every worker
from geniziz.flows.imports import import_errors
from geniziz.flows.merge import merge_leads
from geniziz.flows.move import move_lead
from geniziz.flows.schemas import ImportErrors, LeadMoveRead
from geniziz.leads.schemas import LeadRead


class MergeArgs(Args):
    source: str = Field(description="The lead merged away: its records go to the destination, then it is deleted.",
                        examples=["lead ID"])
    destination: str = Field(description="The lead that stays and receives them.", examples=["lead ID"])
    fields: FieldsArg = None


async def _merge(ctx: Ctx, args: MergeArgs) -> dict[str, Any]:
    lead = REGISTRY["lead"]
    selected = lead.selected_fields(joined(args.fields))
    return lead.serialize(await merge_leads(ctx, args.source, args.destination), selected)


register_action(Action(
    name="lead_merge", method="POST", path="/lead/merge/", input=MergeArgs, output=LeadRead,
    scope=Scope.WRITE_DESTRUCTIVE, rate_group="write", tag="Lead", run=_merge,
    title="Merge a lead into another",
    description="Contacts, opportunities, tasks, activities and all else move to the destination, whose empty "
                "fields take the source's; the source is deleted. Returns the destination.",
))


class MoveArgs(Args):
    lead_id: str = Field(description="The lead to move.")
    target_organization_id: str = Field(description="A workspace you administer (you must administer this one too).")


async def _move(ctx: Ctx, args: MoveArgs) -> dict[str, Any]:
    return LeadMoveRead.model_validate(await move_lead(ctx, args.lead_id, args.target_organization_id)).model_dump(
        mode="json")


register_action(Action(
    name="lead_move", method="POST", path="/lead/{lead_id}/move/", input=MoveArgs, output=LeadMoveRead,
    scope=Scope.WRITE_DESTRUCTIVE, rate_group="write", tag="Lead", run=_move,
    title="Move a lead and all its records to another workspace",
    description="Statuses are remapped to the target's, people not in it cleared. A large lead moves as a "
                "background job (status queued, job_id).",
))


class ImportErrorsArgs(Args):
    import_id: str = Field(description="The import's ID.")
    limit: int = Field(1000, alias="_limit", ge=1, le=10000, description="Page size (1-10000).")
    skip: int = Field(0, alias="_skip", ge=0, le=10**9, description="Offset for pagination.")


async def _import_errors(ctx: Ctx, args: ImportErrorsArgs) -> dict[str, Any]:
    return await import_errors(ctx, args.import_id, args.limit, args.skip)


register_action(Action(
    name="import_errors", method="GET", path="/import/{import_id}/errors/", input=ImportErrorsArgs,
    output=ImportErrors, scope=Scope.READ, rate_group="read", tag="Import", run=_import_errors,
    csv_rows=lambda body: body["data"],
    title="The rows an import could not import, and why",
    description="By row number (the header is row 1); Accept: text/csv downloads them as CSV.",
))
