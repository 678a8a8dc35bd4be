"""The one entrance: every HTTP request, whichever surface it is for (REST, MCP, Genesy), passes here.

Before routing, the gateway gives each request an ID, tidies its path (``//`` from a base URL entered
with a trailing slash; the surface's trailing-slash convention), refuses bodies over the size limit,
authenticates the key (counting failed attempts per client address), and counts the request against
the key's and the workspace's rate limits. After routing, it turns any unhandled exception into a 500
that carries the request ID. Each surface says only where its key comes from and how its errors look.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geniziz.api.auth import Principal, key_from_basic
from geniziz.api.errors import APIError, validation_field_errors
from geniziz.api.ratelimit import RateLimiter, Verdict, endpoint_group

if TYPE_CHECKING:
    from geniziz.identity.keys import KeyResolver

log = logging.getLogger("geniziz")

# Where a surface looks for the caller's key: (header name, secret) candidates, best first.
FindKeys = Callable[[Headers], Iterable[tuple[str, str]]]
# A surface's last word on a resolved key: None to accept, or why it is refused (e.g. the wrong header).
CheckKey = Callable[[Principal, str], Awaitable[str | None]]
# A surface's error shape: (status, message, field errors, extra body fields) -> response body.
ErrorBody = Callable[[int, str, dict[str, str], dict[str, Any]], dict[str, Any]]


def envelope(status: int, message: str, field_errors: dict[str, str], extra: dict[str, Any]) -> dict[str, Any]:
    """The REST (and MCP) error envelope: ``{"error": message, "field-errors": {...}}``."""
    return {"error": message, "field-errors": field_errors, **extra}


@dataclass(frozen=True)
class Surface:
    """One door into Geniziz: where it lives, where its key comes from and how it answers errors."""

    name: str  # "api", "mcp", "genesy": recorded as Ctx.via on what its requests change
    prefix: str
    find_keys: FindKeys
    error_body: ErrorBody = envelope
    slash: Literal["add", "strip", "keep"] = "keep"
    unauthorized: str = "Authentication required"
    www_authenticate: str | None = None
    check_key: CheckKey | None = None
    public_paths: frozenset[str] = frozenset()
    json_bodies_only: bool = False  # refuse non-JSON request bodies with 415
    # No key at all (links in emails, providers' webhooks): its routes check a signature themselves,
    # and every request counts against its client address.
    public: bool = False
    rate_group: Callable[[str, str, bytes], str] = endpoint_group

    def owns(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")

    def normalize(self, path: str) -> str:
        if self.slash == "add" and not path.endswith("/") and not path.endswith(".json"):
            return path + "/"
        if self.slash == "strip" and path.endswith("/") and len(path) > len(self.prefix) + 1:
            return path.rstrip("/")
        return path

    def error(self, status: int, message: str, field_errors: dict[str, str] | None = None,
              headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
        return JSONResponse(self.error_body(status, message, field_errors or {}, extra), status_code=status,
                            headers=headers)

    def api_error(self, exc: APIError) -> JSONResponse:
        extra = {k: v for k, v in exc.extra.items() if k != "headers"}
        return self.error(exc.status, exc.message, exc.field_errors, exc.extra.get("headers"), **extra)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body too large: the limit is {limit} bytes")


_SLASHES = re.compile(r"/{2,}")

# Request IDs are unique, not secret (responses and logs show them): a random tag per process and a counter.
# secrets.token_hex per request was a system call each time (3% of a lead read).
_request_ids = itertools.count()
_process_tag = secrets.token_hex(4)


def _new_process_tag() -> None:
    global _process_tag
    _process_tag = secrets.token_hex(4)


os.register_at_fork(after_in_child=_new_process_tag)  # a forked worker counts under a tag of its own


def next_request_id() -> str:
    """16 hex digits, as before: the process's tag, then its count of requests."""
    return f"{_process_tag}{next(_request_ids) & 0xFFFFFFFF:08x}"


class Gateway:
    """ASGI middleware in front of the whole app (see the module docstring)."""

    def __init__(self, app: ASGIApp, surfaces: list[Surface], fallback: Surface, resolver: KeyResolver,
                 limiter: RateLimiter, max_body_bytes: int) -> None:
        self.app = app
        self.surfaces = surfaces
        self.fallback = fallback  # answers for paths no surface owns (404s in the REST envelope)
        self.resolver = resolver
        self.limiter = limiter
        self.max_body_bytes = max_body_bytes

    def surface_of(self, path: str) -> Surface:
        return next((s for s in self.surfaces if s.owns(path)), self.fallback)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = next_request_id()
        path = _SLASHES.sub("/", scope["path"])
        surface = self.surface_of(path)
        path = surface.normalize(path)
        if path != scope["path"]:
            scope["path"], scope["raw_path"] = path, path.encode()
        state = scope.setdefault("state", {})
        state.update(request_id=request_id, surface=surface, via=surface.name)

        headers_out = {"X-Request-ID": request_id}
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []),
                                      *((k.lower().encode(), v.encode()) for k, v in headers_out.items())]
            await send(message)

        try:
            if surface.owns(path) and path not in surface.public_paths:
                state["principal"] = await self._admit(surface, scope, headers_out)
            receive = self._limit_body(scope, receive)
        except APIError as exc:
            await surface.api_error(exc)(scope, receive, send_with_headers)
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("Unhandled error in %s %s [request %s]", scope["method"], path, request_id)
            if not started:
                await surface.error(500, f"Internal server error (request {request_id})")(
                    scope, receive, send_with_headers)

    async def _admit(self, surface: Surface, scope: Scope, headers_out: dict[str, str]) -> Principal | None:
        """Authenticate and rate-limit one request; raise APIError (401, 413, 415, 429) to refuse it."""
        headers = Headers(scope=scope)
        if surface.public:
            client = f"anonymous:{(scope.get('client') or ('unknown',))[0]}"
            self._refuse_if_over(await self.limiter.hit("write", client, client), headers_out)
            return None
        principal, refusal = None, None
        for header, secret in surface.find_keys(headers):
            principal = await self.resolver.resolve(secret)
            if principal is not None and surface.check_key is not None:
                refusal = await surface.check_key(principal, header)
                principal = None if refusal else principal
            if principal is not None:
                break
        if principal is None:
            # Failed attempts are counted per client address, which also slows down key guessing.
            client = f"anonymous:{(scope.get('client') or ('unknown',))[0]}"
            self._refuse_if_over(await self.limiter.hit("read", client, client), headers_out)
            auth = {"WWW-Authenticate": surface.www_authenticate} if surface.www_authenticate else None
            raise APIError(401, refusal or surface.unauthorized, headers=auth)

        group = surface.rate_group(scope["method"], scope["path"], scope.get("query_string", b""))
        self._refuse_if_over(await self.limiter.hit(group, principal.api_key_id, principal.organization_id),
                             headers_out)

        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body_bytes:
            raise APIError(413, f"Request body too large: the limit is {self.max_body_bytes} bytes")
        if surface.json_bodies_only and scope["method"] in ("POST", "PUT", "PATCH") and _has_body(headers):
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != "application/json" and not content_type.endswith("+json"):
                raise APIError(415, "Send request bodies as JSON (Content-Type: application/json)")
        return principal

    @staticmethod
    def _refuse_if_over(verdict: Verdict, headers_out: dict[str, str]) -> None:
        headers_out.update(verdict.headers())
        if not verdict.allowed:
            raise APIError(429, f"Rate limit exceeded: retry in {verdict.reset} seconds", rate_reset=verdict.reset)

    def _limit_body(self, scope: Scope, receive: Receive) -> Receive:
        """Count a streamed body as it arrives: a body without Content-Length may not exceed the limit either."""
        limit, received = self.max_body_bytes, 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        return limited


def _has_body(headers: Headers) -> bool:
    return headers.get("content-length", "0") not in ("0", "") or "transfer-encoding" in headers


# --- the error handlers every surface shares --------------------------------------------------------------
def surface_of(request: Request) -> Surface:
    surface = request.scope.get("state", {}).get("surface")
    if surface is None:  # only when the app runs without the gateway
        raise RuntimeError("request did not come through the gateway")
    return surface


_MISSING_KEY = re.compile(r'Key \((\w+)\)=\(([^)]*)\) is not present in table "(\w+)"')


def database_refusal(exc: BaseException) -> APIError | None:
    """The 4xx for what the database refused because of a concurrent request, or None for a real fault.
    A unique key is a 409 (the other request created it first); a reference to a record deleted
    meanwhile is a 400 naming the field (PostgreSQL says which; SQLite serializes writers, so it rarely
    gets here); a deadlock or serialization failure is a 409 to retry; a connection pool (or SQLite's
    writer lock) busy past its timeout is a 503 to retry."""
    if isinstance(exc, PoolTimeout) or (isinstance(exc, OperationalError) and "database is locked" in str(exc)):
        # Overload, not a fault: every connection (or SQLite's one writer) stayed busy past the timeout.
        return APIError(503, "Busy: the server is handling too many requests; retry shortly",
                        headers={"Retry-After": "1"})
    if not isinstance(exc, DBAPIError) or exc.orig is None:
        return None
    cause = exc.orig.__cause__ or exc.orig  # asyncpg's exception, with sqlstate and detail
    code, text = getattr(cause, "sqlstate", None), str(exc.orig)
    if code in ("40001", "40P01"):
        return APIError(409, "Conflict: a concurrent change got in the way; retry")
    if not isinstance(exc, IntegrityError):
        return None
    if code == "23505" or "UNIQUE constraint" in text:
        return APIError(409, "Conflict: another request just created the same record; read it or retry")
    if code == "23503" or "FOREIGN KEY constraint" in text:
        if match := _MISSING_KEY.search(getattr(cause, "detail", None) or ""):
            field, value, table = match.groups()
            why = f"No {table.replace('_', ' ')} with ID {value} in this workspace (deleted meanwhile)"
            return APIError(400, f"Invalid reference: {field}", {field: why})
        return APIError(409, "Conflict: a record this change refers to, or that refers to it, changed "
                             "meanwhile; retry")
    return APIError(400, "Invalid request: the database refused this change")


def install_error_handlers(app: Any) -> None:
    """Client errors in the error shape of the surface the request came through."""
    @app.exception_handler(SQLAlchemyError)
    async def _database_refusal(request: Request, exc: SQLAlchemyError) -> Response:
        if (refusal := database_refusal(exc)) is None:
            raise exc  # a fault: the gateway logs it and answers 500
        return surface_of(request).api_error(refusal)

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> Response:
        return surface_of(request).api_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> Response:
        fields = validation_field_errors(list(exc.errors()))
        message = fields.get("body") if "body" in fields and len(fields) == 1 else None
        return surface_of(request).error(400, message or "Invalid request: " + ", ".join(sorted(fields)), fields)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405 and detail == "Method Not Allowed":
            detail = f"{request.method} is not allowed on {request.url.path}"
        return surface_of(request).error(exc.status_code, detail or "Error", headers=getattr(exc, "headers", None))


# --- the REST API's surface --------------------------------------------------------------------------------
API_PREFIX = "/api/v1"

REST = Surface(
    name="api", prefix=API_PREFIX, slash="add", json_bodies_only=True,
    # HTTP Basic: the key is the username, the password empty.
    find_keys=lambda headers: [("authorization", key)] if (key := key_from_basic(headers.get("authorization"))) else [],
    unauthorized="Authentication required: send your API key as the HTTP Basic username with an empty password",
    www_authenticate='Basic realm="Geniziz"',
    public_paths=frozenset({f"{API_PREFIX}/openapi.json", f"{API_PREFIX}/docs/", f"{API_PREFIX}/redoc/",
                            f"{API_PREFIX}/docs/oauth2-redirect/"}),
)
