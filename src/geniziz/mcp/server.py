"""The MCP server (the SDK's low-level ``Server``): tools/list and tools/call for the caller's scope.

The HTTP layer (``http.py``) has already authenticated the request and read its scope; both ride
on the request's ASGI state, which the SDK hands to each handler as ``ctx.request``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mcp import types
from mcp.server import Server
from mcp.server.context import ServerRequestContext

from geniziz import __version__
from geniziz.api.auth import Principal
from geniziz.api.context import unit_of_work
from geniziz.api.errors import APIError
from geniziz.api.gateway import database_refusal
from geniziz.db import Database
from geniziz.mcp import actions  # noqa: F401 - registers the task-specific tools
from geniziz.mcp.scopes import Scope
from geniziz.mcp.tools import TOOLS, parse_args

log = logging.getLogger("geniziz.mcp")

INSTRUCTIONS = (
    "Geniziz is a sales CRM. Leads (companies) have contacts, opportunities, tasks and activities. Use search "
    "to find a lead or contact by name, email, phone or URL; the generic tools (list_records, get_record, "
    "create_record, update_record, delete_record) reach every resource named in their resource enum. Before "
    "filtering or writing a resource, call describe_resource for its fields, filters, body fields (* = "
    "required) and an example. Records and errors are those of the Geniziz REST API; money is in cents. The "
    "Geniziz-Scope header of this connection decides which tools you have: read, write_safe (create and "
    "update) or write_destructive (delete)."
)


def caller(ctx: ServerRequestContext[Any, Any]) -> tuple[Principal, Scope]:
    state = ctx.request.scope.get("state", {}) if ctx.request is not None else {}
    if "principal" not in state:  # only reachable if the app were mounted without McpEndpoint
        raise RuntimeError("MCP request without an authenticated principal")
    return state["principal"], state["mcp_scope"]


def _result(body: dict[str, Any], *, error: bool = False) -> types.CallToolResult:
    text = json.dumps(body, ensure_ascii=False)
    return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=body, is_error=error)


def _refusal(message: str, **field_errors: str) -> types.CallToolResult:
    return _result(APIError(400, message, field_errors).body(), error=True)


async def call_tool(db: Database, principal: Principal, scope: Scope, name: str,
                    arguments: dict[str, Any]) -> types.CallToolResult:
    """Run one tool in its own transaction: a read session for reading tools, a write session otherwise."""
    tool = TOOLS.get(name)
    if tool is None:
        return _refusal(f"Unknown tool {name!r}; the tools are: {', '.join(TOOLS)}")
    if not scope.allows(tool.scope):
        return _refusal(f"The tool {name} needs the {tool.scope.value} scope; this connection has "
                        f"{scope.value} (send the header Geniziz-Scope: {tool.scope.value})")
    try:
        args = parse_args(tool.args, arguments)
        # The unit commits when the tool returns cleanly and rolls back whatever an error left.
        async with unit_of_work(db, principal, via="mcp", write=tool.scope is not Scope.READ,
                                may_destroy=scope.allows(Scope.WRITE_DESTRUCTIVE)) as ctx:
            result = await tool.run(ctx, args)
        return _result(result)
    except APIError as exc:
        return _result(exc.body(), error=True)
    except Exception as exc:
        if refusal := database_refusal(exc):  # a race the database settled: the same 4xx as REST
            return _result(refusal.body(), error=True)
        # The same words as the REST handler, so the test suite's fault check sees MCP faults too.
        log.exception("Unhandled error in MCP tool %s", name)
        return _result({"error": "Internal server error", "field-errors": {}}, error=True)


def build_server(db: Database) -> Server[Any]:
    async def list_tools(ctx: ServerRequestContext[Any, Any],
                         _params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        _, scope = caller(ctx)
        return types.ListToolsResult(tools=[t.definition() for t in TOOLS.values() if scope.allows(t.scope)])

    async def on_call_tool(ctx: ServerRequestContext[Any, Any],
                           params: types.CallToolRequestParams) -> types.CallToolResult:
        principal, scope = caller(ctx)
        return await call_tool(db, principal, scope, params.name, params.arguments or {})

    return Server("geniziz", version=__version__, title="Geniziz CRM", instructions=INSTRUCTIONS,
                  on_list_tools=list_tools, on_call_tool=on_call_tool)
