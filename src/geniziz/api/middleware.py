"""The outer layer of /api/v1: request IDs, slash-less paths, content types, auth and rate limits.

It runs before routing, so every response (including 404s for unknown paths and 405s) is
authenticated, counted and carries the rate-limit headers.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geniziz.api.auth import KeyResolver, key_from_basic
from geniziz.api.ratelimit import RateLimiter, endpoint_group

API_PREFIX = "/api/v1"
PUBLIC_PATHS = {f"{API_PREFIX}/openapi.json", f"{API_PREFIX}/docs/", f"{API_PREFIX}/redoc/",
                f"{API_PREFIX}/docs/oauth2-redirect/"}


def _json_error(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> tuple[bytes, list]:
    body = json.dumps({"error": message, "field-errors": {}, **extra}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return body, raw


async def _send_error(send: Send, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
    body, raw = _json_error(status, message, headers, **extra)
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class ApiGatewayMiddleware:
    def __init__(self, app: ASGIApp, resolver: KeyResolver, limiter: RateLimiter) -> None:
        self.app = app
        self.resolver = resolver
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        path: str = scope["path"]
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            await self.app(scope, receive, send)
            return

        # Every reference path ends with a slash; accept the same path without it, without a redirect.
        if not path.endswith("/") and not path.endswith(".json"):
            path = path + "/"
            scope["path"] = path
            scope["raw_path"] = path.encode()

        extra_headers: dict[str, str] = {"X-Request-ID": request_id}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    (k.lower().encode(), v.encode()) for k, v in extra_headers.items()]
            await send(message)

        if path in PUBLIC_PATHS:
            await self.app(scope, receive, send_with_headers)
            return

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        principal = await self.resolver.resolve(key_from_basic(headers.get("authorization")))
        if principal is None:
            # Failed attempts are counted per client address, which also slows down key guessing.
            client = (scope.get("client") or ("unknown",))[0]
            verdict = await self.limiter.hit("read", f"anonymous:{client}", f"anonymous:{client}")
            extra_headers.update(verdict.headers())
            if not verdict.allowed:
                await _send_error(send_with_headers, 429, f"Rate limit exceeded: retry in {verdict.reset} seconds",
                                  rate_reset=verdict.reset)
                return
            await _send_error(send_with_headers, 401, "Authentication required: send your API key as the "
                              "HTTP Basic username with an empty password",
                              {"WWW-Authenticate": 'Basic realm="Geniziz"'})
            return
        state["principal"] = principal

        method = scope["method"]
        verdict = await self.limiter.hit(endpoint_group(method, path, scope.get("query_string", b"")),
                                         principal.api_key_id, principal.organization_id)
        extra_headers.update(verdict.headers())
        if not verdict.allowed:
            await _send_error(send_with_headers, 429, f"Rate limit exceeded: retry in {verdict.reset} seconds",
                              rate_reset=verdict.reset)
            return

        if method in ("POST", "PUT", "PATCH") and _has_body(headers):
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != "application/json" and not content_type.endswith("+json"):
                await _send_error(send_with_headers, 415, "Send request bodies as JSON "
                                  "(Content-Type: application/json)")
                return

        await self.app(scope, receive, send_with_headers)


def _has_body(headers: dict[str, str]) -> bool:
    return headers.get("content-length", "0") not in ("0", "") or "transfer-encoding" in headers
