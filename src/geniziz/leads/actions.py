"""Lead actions beyond CRUD, each declared once for REST, OpenAPI and MCP: the lead score."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from geniziz.api.action import Action, Args, FieldsArg, Scope, joined, register_action
from geniziz.api.context import Ctx
from geniziz.leads.score import LeadScoreRead, lead_score


class LeadScoreArgs(Args):
    lead_id: str = Field(description="The lead's ID.")
    fields: FieldsArg = None


async def _score(ctx: Ctx, args: LeadScoreArgs) -> dict[str, Any]:
    return await lead_score(ctx, args.lead_id, joined(args.fields))


register_action(Action(
    name="lead_score", method="GET", path="/lead/{lead_id}/score/", input=LeadScoreArgs, output=LeadScoreRead,
    scope=Scope.READ, rate_group="read", tag="Lead", run=_score, own_tool=True,
    title="A lead's score (0-100) and the reasons behind it",
    description="Points for its status, open opportunities, recent activity and replies, less overdue tasks.",
))
