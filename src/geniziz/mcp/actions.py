"""Task-specific tools: what an agent does most, in one call. Each goes through the resources and
services REST uses (named by resource, never by internals), so rules and errors are the same.

They stay MCP-only rather than ``Action``s: log_activity and complete_task are shortcuts for REST
operations that exist already (POST /activity/note/ or /activity/call/, PUT /task/{id}/), and the
specification has no search endpoint (REST searches with ``GET /lead/?query=``), so a REST route for
any of them would add API surface the specification does not have. Actions (e.g. the lead score)
get their tools in ``tools.py``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from geniziz.api.context import Ctx
from geniziz.mcp.catalog import mcp_resource
from geniziz.mcp.scopes import Scope
from geniziz.mcp.search import search as search_records
from geniziz.mcp.tools import Args, FieldsArg, joined, tool


class SearchArgs(Args):
    query: str = Field(min_length=1, max_length=200, description="Name, email, phone or URL, or part of one.")
    limit: int = Field(10, alias="_limit", ge=1, le=50, description="1-50, default 10.")


@tool("search", Scope.READ, SearchArgs, description=(
    "Find leads and contacts by name, email, phone or URL, best matches first; a contact comes with its lead."))
async def search(ctx: Ctx, args: SearchArgs) -> dict[str, Any]:
    return await search_records(ctx, args.query, args.limit)


class LogActivityArgs(Args):
    type: Literal["note", "call"] = "note"
    lead_id: str | None = Field(None, description="Optional when contact_id is given.")
    contact_id: str | None = None
    note: str | None = Field(None, description="Plain text.")
    fields: dict[str, Any] = Field(default_factory=dict, description="Other activity/note or activity/call fields.")


@tool("log_activity", Scope.WRITE_SAFE, LogActivityArgs, description=(
    "Log a note or a call on a lead; returns the activity."))
async def log_activity(ctx: Ctx, args: LogActivityArgs) -> dict[str, Any]:
    res = mcp_resource(f"activity/{args.type}")
    given = {"lead_id": args.lead_id, "contact_id": args.contact_id, "note": args.note}
    body = {**args.fields, **{name: value for name, value in given.items() if value is not None}}
    return await res.create(ctx, res.parse(res.create_schema, body))


class CompleteTaskArgs(Args):
    task_id: str
    fields: FieldsArg = None


@tool("complete_task", Scope.WRITE_SAFE, CompleteTaskArgs, description=(
    "Mark a task complete (again changes nothing); returns it."))
async def complete_task(ctx: Ctx, args: CompleteTaskArgs) -> dict[str, Any]:
    res = mcp_resource("task")
    return await res.update(ctx, args.task_id, res.parse(res.update_schema, {"is_complete": True}),
                            joined(args.fields))


class SendEmailArgs(Args):
    # Short on purpose (every agent reads it): create_record on activity/email takes every other field.
    contact_id: str | None = Field(None, description="The recipient; `to` defaults to its first email.")
    conversation_id: str | None = Field(None, description="Or reply in this conversation.")
    to: list[str] | None = None
    cc: list[str] | None = None
    subject: str | None = None
    body_text: str | None = None
    sender: str | None = Field(None, description="Your account's address (default: your first).")
    send: bool = Field(False, description="true sends now; else a draft for a human to review.")


@tool("send_email", Scope.WRITE_SAFE, SendEmailArgs, description=(
    "Write an email to a contact: a draft unless send is true; returns the email activity."))
async def send_email(ctx: Ctx, args: SendEmailArgs) -> dict[str, Any]:
    from geniziz.messaging.conversations import add_message, first_email

    fields = args.model_dump(include={"to", "cc", "subject", "body_text", "sender"}, exclude_none=True)
    fields["status"] = "outbox" if args.send else "draft"
    if args.conversation_id:
        return await add_message(ctx, args.conversation_id, {"type": "email", **fields})
    if not fields.get("to") and (address := await first_email(ctx, args.contact_id)):
        fields["to"] = [address]
    res = mcp_resource("activity/email")
    body = {"contact_id": args.contact_id, **fields}
    return await res.create(ctx, res.parse(res.create_schema, {k: v for k, v in body.items() if v is not None}))
