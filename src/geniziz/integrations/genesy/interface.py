"""The endpoints Genesy calls, at /genesy, in Genesy's conventions rather than the main API's.

Genesy's surface (declared below) tells the gateway the rest: errors are `{"error", "message"}`,
paths have no trailing slash (one is accepted), and the API key comes in a header each workspace
names (`X-API-Key` by default) instead of HTTP Basic. The routes have their own OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from starlette.datastructures import Headers

from geniziz import __version__
from geniziz.api.auth import KEY_PREFIX, Principal
from geniziz.api.context import Ctx, read_ctx, write_ctx
from geniziz.api.gateway import Surface
from geniziz.api.routing import QuickRouter
from geniziz.integrations.genesy import activities, prospects, schemas, service
from geniziz.integrations.genesy.settings import BASE_PATH, DEFAULT_HEADER, HeaderCache

# --- auth and errors -----------------------------------------------------------------------------------------
# The workspace (so the header's name) is only known once a key is resolved, so headers whose value
# looks like a Geniziz key are candidates; a few at most, so a request stuffed with them costs little.
MAX_KEY_HEADERS = 3
_REASONS = {400: "Invalid request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
            405: "Method not allowed", 413: "Request body too large", 429: "Rate limit exceeded",
            500: "Internal server error"}


def _key_headers(headers: Headers) -> Iterable[tuple[str, str]]:
    candidates = ((name, value.strip()) for name, value in headers.items() if value.strip().startswith(KEY_PREFIX))
    return list(candidates)[:MAX_KEY_HEADERS]


def _error_body(status: int, message: str, field_errors: dict[str, str], extra: dict[str, Any]) -> dict[str, Any]:
    """Genesy's shape: what failed in `error`, the specifics in `message`."""
    if field_errors:
        return {"error": _REASONS[400], "message": "; ".join(f"{name}: {why}" for name, why in field_errors.items())}
    if extra.get("detail"):
        return {"error": message, "message": extra["detail"]}
    return {"error": _REASONS.get(status, "Error"), "message": message}


def surface(headers: HeaderCache) -> Surface:
    async def check_key(principal: Principal, header: str) -> str | None:
        expected = await headers.header(principal.organization_id)
        return None if expected.lower() == header else f"This workspace expects its API key in the {expected} header"

    return Surface(
        name="genesy", prefix=BASE_PATH, slash="strip", find_keys=_key_headers, check_key=check_key,
        error_body=_error_body, public_paths=frozenset({f"{BASE_PATH}/openapi.json"}),
        unauthorized=f"Missing or invalid API key: send a Geniziz API key in the {DEFAULT_HEADER} header "
                     "(or the header your workspace configured)",
    )


async def authenticate(request: Request) -> Principal:
    """The caller, authenticated by the gateway with the key from its workspace's header."""
    return request.state.principal


# The gateway has put the caller and the surface ("genesy") on request.state; the shared unit of work does the rest.
Reader = Annotated[Ctx, Depends(read_ctx)]
Writer = Annotated[Ctx, Depends(write_ctx)]


# --- endpoints -------------------------------------------------------------------------------------------
def genesy_router() -> APIRouter:
    router = QuickRouter()

    @router.get("/health", summary="Connection check")
    async def health(_principal: Annotated[Principal, Depends(authenticate)]) -> dict[str, str]:
        return {"status": "ok"}

    # Tasks. The fixed /tasks/batch paths come before /tasks/{task_id}.
    @router.post("/tasks/batch", summary="Get tasks by ID (unknown IDs are left out)")
    async def get_tasks(body: schemas.TaskIds, ctx: Reader) -> list[dict[str, Any]]:
        return await service.get_tasks(ctx, body.ids)

    @router.patch("/tasks/batch", summary="Complete (or reopen) tasks by ID, all or none")
    async def complete_tasks(body: schemas.TaskBatchComplete, ctx: Writer) -> list[dict[str, Any]]:
        return await service.complete_tasks(ctx, body.ids, body.completed)

    @router.post("/tasks", status_code=201, summary="Create a task")
    async def create_task(body: schemas.TaskCreateIn, ctx: Writer) -> dict[str, Any]:
        return await service.create_task(ctx, body)

    @router.get("/tasks/{task_id}", summary="Get a task")
    async def get_task(task_id: str, ctx: Reader) -> dict[str, Any]:
        return await service.get_task(ctx, task_id)

    @router.patch("/tasks/{task_id}", summary="Update a task: completed, or any other task field")
    async def update_task(task_id: str, body: schemas.TaskIn, ctx: Writer) -> dict[str, Any]:
        return await service.update_task(ctx, task_id, body)

    # Prospects: batch create, sync (find) and update of contacts and companies, and their links.
    @router.post("/contacts", summary="Create contacts (idempotent per externalId)")
    async def create_contacts(body: schemas.ContactsIn, ctx: Writer) -> dict[str, Any]:
        return {"results": await prospects.create_contacts(ctx, body.contacts)}

    @router.post("/contacts/sync", summary="Find contacts by email, then LinkedIn URL")
    async def sync_contacts(body: schemas.ContactsIn, ctx: Writer) -> dict[str, Any]:
        return {"results": await prospects.sync_contacts(ctx, body.contacts)}

    @router.put("/contacts", summary="Update contacts by crmId")
    async def update_contacts(body: schemas.ContactUpdatesIn, ctx: Writer) -> dict[str, Any]:
        return await prospects.update_contacts(ctx, body.contacts)

    @router.post("/companies", summary="Create companies (Geniziz leads; idempotent per externalId)")
    async def create_companies(body: schemas.CompaniesIn, ctx: Writer) -> dict[str, Any]:
        return {"results": await prospects.create_companies(ctx, body.companies)}

    @router.post("/companies/sync", summary="Find companies by domain, then LinkedIn URL, then name")
    async def sync_companies(body: schemas.CompaniesIn, ctx: Writer) -> dict[str, Any]:
        return {"results": await prospects.sync_companies(ctx, body.companies)}

    @router.put("/companies", summary="Update companies by crmId")
    async def update_companies(body: schemas.CompanyUpdatesIn, ctx: Writer) -> dict[str, Any]:
        return await prospects.update_companies(ctx, body.companies)

    @router.post("/associations", summary="Put contacts on their companies' leads")
    async def associate(body: schemas.AssociationsIn, ctx: Writer) -> dict[str, Any]:
        return await prospects.associate(ctx, body.associations)

    @router.post("/activities", status_code=201, summary="Log a conversation activity (email, LinkedIn message, ...)")
    async def create_activity(body: schemas.ActivityIn, ctx: Writer) -> dict[str, Any]:
        return await activities.create_activity(ctx, body)

    @router.get("/users", summary="Workspace members, for owner assignment")
    async def users(ctx: Reader) -> list[dict[str, Any]]:
        return await service.members(ctx)

    return router


def mount_genesy(app: FastAPI) -> Surface:
    """Serve the interface at /genesy (its OpenAPI document apart from the main API's); return its surface."""
    router = genesy_router()
    app.include_router(router, prefix=BASE_PATH, include_in_schema=False)
    document: dict[str, Any] = {}

    @app.get(f"{BASE_PATH}/openapi.json", include_in_schema=False)
    async def openapi() -> dict[str, Any]:
        if not document:
            document.update(get_openapi(
                title="Geniziz: Genesy custom-CRM interface", version=__version__, routes=router.routes,
                servers=[{"url": BASE_PATH}],
                description="The endpoints Genesy calls on a custom CRM. Send a Geniziz API key in X-API-Key "
                            '(or the header your workspace configured). Errors are `{"error": ..., "message": ...}`.'))
        return document

    app.state.genesy_headers = HeaderCache(app.state.db, app.state.settings.auth_cache_seconds)
    return surface(app.state.genesy_headers)
