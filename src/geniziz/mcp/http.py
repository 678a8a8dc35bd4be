"""/mcp over streamable HTTP: authenticate (401) and read Geniziz-Scope (400) before the SDK sees the request.

Stateless: every POST carries its key and scope and is served on its own, so any server process
can answer any request and nothing is kept between them. Responses are plain JSON (no SSE stream).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

from geniziz.api.auth import KeyResolver, key_from_basic, key_from_bearer
from geniziz.api.errors import APIError, error_response
from geniziz.api.ratelimit import RateLimiter
from geniziz.db import Database
from geniziz.mcp.scopes import SCOPE_HEADER
from geniziz.mcp.scopes import Scope as McpScope
from geniziz.mcp.server import build_server

PATHS = ("/mcp", "/mcp/")


class McpEndpoint:
    """The ASGI app behind /mcp and /mcp/."""

    def __init__(self, db: Database, resolver: KeyResolver, limiter: RateLimiter) -> None:
        self.resolver = resolver
        self.limiter = limiter
        self.manager = StreamableHTTPSessionManager(build_server(db), json_response=True, stateless=True)

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """The SDK's task group, for the app's lifespan."""
        async with self.manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        authorization = headers.get("authorization")
        principal = await self.resolver.resolve(key_from_basic(authorization) or key_from_bearer(authorization))
        if principal is None:
            response = error_response(
                401, "Authentication required: send your API key as a Bearer token (Authorization: Bearer KEY) "
                     "or as the HTTP Basic username with an empty password",
                headers={"WWW-Authenticate": 'Bearer realm="Geniziz", Basic realm="Geniziz"'})
            await response(scope, receive, send)
            return
        if scope["method"] != "POST":
            # Stateless: no stream to open with GET (the SDK would hold it open, empty), no session to DELETE.
            response = error_response(405, f"{scope['method']} is not allowed on /mcp/: send MCP messages with POST",
                                      headers={"Allow": "POST"})
            await response(scope, receive, send)
            return
        try:
            mcp_scope = McpScope.from_header(headers.get(SCOPE_HEADER))
        except APIError as exc:
            await error_response(exc.status, exc.message, exc.field_errors)(scope, receive, send)
            return
        # Tool calls count as writes: one budget covers reads and writes, which a single POST can be.
        verdict = await self.limiter.hit("write", principal.api_key_id, principal.organization_id)
        if not verdict.allowed:
            await error_response(429, f"Rate limit exceeded: retry in {verdict.reset} seconds",
                                 headers=verdict.headers(), rate_reset=verdict.reset)(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["principal"], state["mcp_scope"] = principal, mcp_scope
        await self.manager.handle_request(scope, receive, _with_headers(send, verdict.headers()))


def _with_headers(send: Send, headers: dict[str, str]) -> Send:
    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []),
                                  *((k.lower().encode(), v.encode()) for k, v in headers.items())]
        await send(message)

    return sender


def mount(app: FastAPI) -> McpEndpoint:
    """Serve MCP at /mcp and /mcp/ (both, no redirect); run ``endpoint.run()`` in the app's lifespan."""
    endpoint = McpEndpoint(app.state.db, app.state.key_resolver, app.state.rate_limiter)
    for path in PATHS:
        app.add_route(path, endpoint, include_in_schema=False)  # type: ignore[arg-type]
    return endpoint
