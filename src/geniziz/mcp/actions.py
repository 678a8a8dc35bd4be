"""Task-specific tools: what an agent does most, in one call. Each goes through the resources and
services REST uses (named by resource, never by internals), so rules and errors are the same."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from geniziz.api.context import Ctx
from geniziz.leads.score import lead_score as score_lead
from geniziz.mcp.catalog import mcp_resource
from geniziz.mcp.scopes import Scope
from geniziz.mcp.search import search as search_records
from geniziz.mcp.tools import Args, FieldsArg, joined, tool


class SearchArgs(Args):
    query: str = Field(min_length=1, max_length=200, description="A name, email address, phone number or URL, "
                                                                 "or part of one.")
    limit: int = Field(10, alias="_limit", ge=1, le=50, description="How many results (1-50, default 10).")


@tool("search", Scope.READ, SearchArgs, description=(
    "Find leads and contacts by name, email, phone or URL. Results are ranked: exact matches first, then "
    "prefixes, then partial matches. Each result says what matched; a contact comes with its lead "
    "(id, name, url, status_id). Answers {\"query\", \"data\": [{\"type\": \"lead\"|\"contact\", \"match\", "
    "\"matched_on\", \"lead\", \"contact\"}], \"has_more\"}."))
async def search(ctx: Ctx, args: SearchArgs) -> dict[str, Any]:
    return await search_records(ctx, args.query, args.limit)


class LeadScoreArgs(Args):
    lead_id: str = Field(description="The lead's ID.")
    fields: FieldsArg = None


@tool("lead_score", Scope.READ, LeadScoreArgs, description=(
    "Score a lead from 0 to 100 and give the reasons: its status, its open opportunities' value and "
    "confidence, how recent and how frequent its activity is, inbound replies, and overdue tasks. The "
    "reasons' points add up to the score. Same as GET /api/v1/lead/{id}/score/."))
async def lead_score(ctx: Ctx, args: LeadScoreArgs) -> dict[str, Any]:
    return await score_lead(ctx, args.lead_id, joined(args.fields))


class LogActivityArgs(Args):
    type: Literal["note", "call"] = Field("note", description="What to log.")
    lead_id: str | None = Field(None, description="The lead; may be left out when contact_id is given.")
    contact_id: str | None = Field(None, description="The contact it was with (optional).")
    note: str | None = Field(None, description="What was said or done, in plain text.")
    fields: dict[str, Any] = Field(default_factory=dict, description=(
        "Other fields of that activity type, e.g. for a call {\"direction\": \"inbound\", \"duration\": 300, "
        "\"disposition\": \"answered\"} (see create_record for activity/note and activity/call)."))


@tool("log_activity", Scope.WRITE_SAFE, LogActivityArgs, description=(
    "Log a note or a call on a lead in one step, and return the new activity (as activity/note or "
    "activity/call records are returned)."))
async def log_activity(ctx: Ctx, args: LogActivityArgs) -> dict[str, Any]:
    res = mcp_resource(f"activity/{args.type}")
    given = {"lead_id": args.lead_id, "contact_id": args.contact_id, "note": args.note}
    body = {**args.fields, **{name: value for name, value in given.items() if value is not None}}
    return await res.create(ctx, res.parse(res.create_schema, body))


class CompleteTaskArgs(Args):
    task_id: str = Field(description="The task's ID.")
    fields: FieldsArg = None


@tool("complete_task", Scope.WRITE_SAFE, CompleteTaskArgs, description=(
    "Mark a task complete (date_completed is recorded once) and return it. Completing a completed task "
    "changes nothing."))
async def complete_task(ctx: Ctx, args: CompleteTaskArgs) -> dict[str, Any]:
    res = mcp_resource("task")
    return await res.update(ctx, args.task_id, res.parse(res.update_schema, {"is_complete": True}),
                            joined(args.fields))
