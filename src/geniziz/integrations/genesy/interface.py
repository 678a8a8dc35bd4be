"""The endpoints Genesy calls, mounted at /genesy as a sub-application of their own.

Being its own app gives the interface Genesy's conventions without touching the main API's:
errors are `{"error", "message"}`, paths have no trailing slash (one is accepted), and the API key
comes in a header each workspace names (`X-API-Key` by default) instead of HTTP Basic.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from geniziz import __version__
from geniziz.api.auth import KEY_PREFIX, Principal
from geniziz.api.context import Ctx
from geniziz.api.errors import APIError, validation_field_errors
from geniziz.api.ratelimit import endpoint_group
from geniziz.integrations.genesy import activities, prospects, schemas, service
from geniziz.integrations.genesy.settings import BASE_PATH, DEFAULT_HEADER, HeaderCache

log = logging.getLogger("geniziz")


# --- auth ---------------------------------------------------------------------------------------------
async def authenticate(request: Request) -> Principal:
    """The key's principal, if it came in the header its workspace chose for Genesy.

    The workspace (so the header name) is only known once a key is resolved, so every header whose
    value looks like a Geniziz key is tried; lookups are cached like the main API's.
    """
    state = request.app.state
    misplaced = None
    for name, value in request.headers.items():
        secret = value.strip()
        if not secret.startswith(KEY_PREFIX):
            continue
        principal = await state.key_resolver.resolve(secret)
        if principal is None:
            continue
        expected = await state.genesy_headers.header(principal.organization_id)
        if expected.lower() != name:
            misplaced = expected
            continue
        verdict = await state.rate_limiter.hit(endpoint_group(request.method, request.url.path, b""),
                                                  principal.api_key_id, principal.organization_id)
        if not verdict.allowed:
            raise APIError(429, "Rate limit exceeded", detail=f"Retry in {verdict.reset} seconds",
                           headers=verdict.headers())
        return principal
    if misplaced:
        raise APIError(401, "Unauthorized", detail=f"This workspace expects its API key in the {misplaced} header")
    raise APIError(401, "Unauthorized", detail=f"Missing or invalid API key: send a Geniziz API key in the "
                                               f"{DEFAULT_HEADER} header (or the header your workspace configured)")


def _ctx(write: bool) -> Any:
    async def dependency(request: Request) -> AsyncIterator[Ctx]:
        principal = await authenticate(request)
        db = request.app.state.db
        async with (db.write_session if write else db.read_session)() as session:
            yield Ctx(session, principal, via="genesy")

    return dependency


Reader = Annotated[Ctx, Depends(_ctx(write=False))]
Writer = Annotated[Ctx, Depends(_ctx(write=True))]


# --- errors: {"error": "...", "message": "..."} ----------------------------------------------------------
_REASONS = {400: "Invalid request", 401: "Unauthorized", 404: "Not found", 405: "Method not allowed",
            429: "Rate limit exceeded", 500: "Internal server error"}


def _error(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)


def _invalid(fields: dict[str, str]) -> JSONResponse:
    return _error(400, _REASONS[400], "; ".join(f"{name}: {why}" for name, why in fields.items()))


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_request: Request, exc: APIError) -> JSONResponse:
        if exc.field_errors:
            return _invalid(exc.field_errors)
        return _error(exc.status, exc.message, exc.extra.get("detail", exc.message), exc.extra.get("headers"))

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _invalid(validation_field_errors(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 405:
            return _error(405, _REASONS[405], f"{request.method} is not allowed on {request.url.path}")
        return _error(exc.status_code, _REASONS.get(exc.status_code, "Error"),
                      f"No such endpoint: {request.method} {request.url.path}")

    @app.exception_handler(Exception)
    async def _server_fault(request: Request, exc: Exception) -> JSONResponse:
        request_id = request.scope.get("state", {}).get("request_id", "-")
        log.exception("Unhandled error in %s %s [request %s]", request.method, request.url.path, request_id)
        return _error(500, _REASONS[500], f"Request {request_id} failed; it has been logged",
                      {"X-Request-ID": request_id})


class _NoTrailingSlash:
    """Genesy's paths have no trailing slash; serve the same path with one, without a redirect."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.endswith("/") and len(path) > len(scope.get("root_path", "")) + 1:
                scope = {**scope, "path": path.rstrip("/"), "raw_path": path.rstrip("/").encode()}
        await self.app(scope, receive, send)


# --- endpoints -------------------------------------------------------------------------------------------
def create_genesy_app() -> FastAPI:
    app = FastAPI(title="Geniziz: Genesy custom-CRM interface", version=__version__, docs_url=None,
                  redoc_url=None, openapi_url="/openapi.json",
                  description="The endpoints Genesy calls on a custom CRM. Send a Geniziz API key in "
                              "X-API-Key (or the header your workspace configured). Errors are "
                              '`{"error": ..., "message": ...}`.')
    _install_error_handlers(app)
    app.add_middleware(_NoTrailingSlash)

    @app.get("/health", summary="Connection check")
    async def health(_principal: Annotated[Principal, Depends(authenticate)]) -> dict[str, str]:
        return {"status": "ok"}

    # Tasks. The fixed /tasks/batch paths come before /tasks/{task_id}.
    @app.post("/tasks/batch", summary="Get tasks by ID (unknown IDs are left out)")
    async def get_tasks(body: schemas.TaskIds, ctx: Reader) -> list[dict[str, Any]]:
        return await service.get_tasks(ctx, body.ids)

    @app.patch("/tasks/batch", summary="Complete (or reopen) tasks by ID, all or none")
    async def complete_tasks(body: schemas.TaskBatchComplete, ctx: Writer) -> list[dict[str, Any]]:
        return await service.complete_tasks(ctx, body.ids, body.completed)

    @app.post("/tasks", status_code=201, summary="Create a task")
    async def create_task(body: schemas.TaskCreateIn, ctx: Writer) -> dict[str, Any]:
        return await service.create_task(ctx, body)

    @app.get("/tasks/{task_id}", summary="Get a task")
    async def get_task(task_id: str, ctx: Reader) -> dict[str, Any]:
        return await service.get_task(ctx, task_id)

    @app.patch("/tasks/{task_id}", summary="Update a task: completed, or any other task field")
    async def update_task(task_id: str, body: schemas.TaskIn, ctx: Writer) -> dict[str, Any]:
        return await service.update_task(ctx, task_id, body)

    # Prospects: batch create, sync (find) and update of contacts and companies, and their links.
    @app.post("/contacts", summary="Create contacts (idempotent per externalId)")
    async def create_contacts(body: schemas.ContactsIn, ctx: Writer) -> dict[str, Any]:
        return {"results": await prospects.create_contacts(ctx, body.contacts)}

    @app.post("/contacts/sync", summary="Find contacts by email, then LinkedIn URL")
    async def sync_contacts(body: schemas.ContactsIn, ctx: Writer) -> dict[str, Any]:
        return {"results": await prospects.sync_contacts(ctx, body.contacts)}

    @app.put("/contacts", summary="Update contacts by crmId")
    async def update_contacts(body: schemas.ContactUpdatesIn, ctx: Writer) -> dict[str, Any]:
        return await prospects.update_contacts(ctx, body.contacts)

    @app.post("/companies", summary="Create companies (Geniziz leads; idempotent per externalId)")
    async def create_companies(body: schemas.CompaniesIn, ctx: Writer) -> dict[str, Any]:
        return {"results": await prospects.create_companies(ctx, body.companies)}

    @app.post("/companies/sync", summary="Find companies by domain, then LinkedIn URL, then name")
    async def sync_companies(body: schemas.CompaniesIn, ctx: Writer) -> dict[str, Any]:
        return {"results": await prospects.sync_companies(ctx, body.companies)}

    @app.put("/companies", summary="Update companies by crmId")
    async def update_companies(body: schemas.CompanyUpdatesIn, ctx: Writer) -> dict[str, Any]:
        return await prospects.update_companies(ctx, body.companies)

    @app.post("/associations", summary="Put contacts on their companies' leads")
    async def associate(body: schemas.AssociationsIn, ctx: Writer) -> dict[str, Any]:
        return await prospects.associate(ctx, body.associations)

    @app.post("/activities", status_code=201, summary="Log a conversation activity (email, LinkedIn message, ...)")
    async def create_activity(body: schemas.ActivityIn, ctx: Writer) -> dict[str, Any]:
        return await activities.create_activity(ctx, body)

    @app.get("/users", summary="Workspace members, for owner assignment")
    async def users(ctx: Reader) -> list[dict[str, Any]]:
        return await service.members(ctx)

    return app


def mount_genesy(app: FastAPI) -> None:
    """Mount the interface at /genesy, sharing the app's database, key cache and settings."""
    genesy = create_genesy_app()
    genesy.state = app.state
    app.state.genesy_headers = HeaderCache(app.state.db, app.state.settings.auth_cache_seconds)
    app.mount(BASE_PATH, genesy)
