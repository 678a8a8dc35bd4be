"""/mcp over streamable HTTP. The gateway has authenticated and rate-limited the request (MCP's surface,
below); here only MCP's own rules remain: POST only, and the Geniziz-Scope header (400 if invalid).

Stateless: every POST carries its key and scope and is served on its own, so any server process
can answer any request and nothing is kept between them. Responses are plain JSON (no SSE stream).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from geniziz.api.auth import key_from_basic, key_from_bearer
from geniziz.api.errors import APIError
from geniziz.api.gateway import Surface
from geniziz.db import Database
from geniziz.mcp.scopes import SCOPE_HEADER, from_header
from geniziz.mcp.server import build_server

PATHS = ("/mcp", "/mcp/")


def _keys(headers: Headers) -> Iterable[tuple[str, str]]:
    authorization = headers.get("authorization")
    key = key_from_basic(authorization) or key_from_bearer(authorization)
    return [("authorization", key)] if key else []


SURFACE = Surface(
    name="mcp", prefix="/mcp", find_keys=_keys,
    unauthorized="Authentication required: send your API key as a Bearer token (Authorization: Bearer KEY) "
                 "or as the HTTP Basic username with an empty password",
    www_authenticate='Bearer realm="Geniziz", Basic realm="Geniziz"',
    # Tool calls count as writes: one budget covers reads and writes, which a single POST can be.
    rate_group=lambda _method, _path, _query: "write",
)


class McpEndpoint:
    """The ASGI app behind /mcp and /mcp/."""

    def __init__(self, db: Database) -> None:
        self.manager = StreamableHTTPSessionManager(build_server(db), json_response=True, stateless=True)

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """The SDK's task group, for the app's lifespan."""
        async with self.manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            # Stateless: no stream to open with GET (the SDK would hold it open, empty), no session to DELETE.
            response = SURFACE.error(405, f"{scope['method']} is not allowed on /mcp/: send MCP messages with POST",
                                     headers={"Allow": "POST"})
            await response(scope, receive, send)
            return
        try:
            scope["state"]["mcp_scope"] = from_header(Headers(scope=scope).get(SCOPE_HEADER))
        except APIError as exc:
            await SURFACE.api_error(exc)(scope, receive, send)
            return
        await self.manager.handle_request(scope, receive, send)


def mount(app: FastAPI) -> McpEndpoint:
    """Serve MCP at /mcp and /mcp/ (both, no redirect); run ``endpoint.run()`` in the app's lifespan."""
    endpoint = McpEndpoint(app.state.db)
    for path in PATHS:
        app.add_route(path, endpoint, include_in_schema=False)  # type: ignore[arg-type]
    return endpoint
