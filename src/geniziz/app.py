"""The ASGI app: /api/v1 (REST, derived from the resource registry), plus the integrations mounted beside it."""

from __future__ import annotations

import gc
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from geniziz import __version__
from geniziz.api.action import action_routers
from geniziz.api.errors import ERROR_RESPONSES
from geniziz.api.gateway import API_PREFIX, REST, Gateway, install_error_handlers
from geniziz.api.ratelimit import RateLimiter
from geniziz.api.resource import REGISTRY
from geniziz.api.routing import PathTable
from geniziz.api.rest import resource_router
from geniziz.config import Settings, get_settings
from geniziz.db import Database
from geniziz.identity.keys import KeyResolver
from geniziz.integrations.genesy.interface import mount_genesy
from geniziz.mcp import mount as mount_mcp
from geniziz.mcp.http import SURFACE as MCP_SURFACE
from geniziz.messaging.public import SURFACES as PUBLIC_SURFACES
from geniziz.messaging.public import router as public_router
from geniziz.worker.runner import background_worker

# Each domain declares its resources (and any custom routes) in these modules. Order = docs order.
DOMAINS = [
    "geniziz.leads",
    "geniziz.contacts",
    "geniziz.opportunities",
    "geniziz.tasks",
    "geniziz.activities",
    "geniziz.statuses",
    "geniziz.identity",
    "geniziz.integrations.genesy",
    "geniziz.worker",
    "geniziz.reports",
    "geniziz.messaging",
    "geniziz.custom",
    "geniziz.sequences",
    "geniziz.mailing",
    "geniziz.flows",
]
# Models that no resource declares but the schema needs.
MODEL_MODULES = ["geniziz.integrations.models"]


def load_domains() -> list[Any]:
    """Import every domain's declarations (filling REGISTRY and ACTIONS) and return its custom routers.

    A domain may have ``resources.py`` (resources), ``actions.py`` (actions), ``routes.py`` (a
    ``router`` of other custom routes), or any of them.
    """
    for module in MODEL_MODULES:
        importlib.import_module(module)
    routers = []
    for domain in DOMAINS:
        found = False
        for part in ("resources", "actions", "routes"):
            try:
                module = importlib.import_module(f"{domain}.{part}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{domain}.{part}":
                    raise
                continue
            found = True
            if part == "routes":
                routers.append(module.router)
        if not found:
            raise RuntimeError(f"domain {domain} has no resources.py, actions.py or routes.py")
    return routers


def settle_memory() -> None:
    """At the end of a process's start-up: what it built (modules, routes, schemas, mappers) lives as long as
    the process, so it is collected once and moved out of the collector's reach; full collections stopped
    re-scanning it (a 140-160 ms stall each in the server, 5.4 s of an import's 17.7 s for 20,000 rows)."""
    gc.collect()
    gc.freeze()
    # A list page keeps ~10,000 objects alive while it is shaped. At the default gen-0 threshold (700) they
    # went through both younger generations within the request, and a full collection (10-20 ms of CPU,
    # the p99 of a page at one connection) followed every ~10 pages; at 10,000 they die young: the
    # collector's time per page went from 3.5 to 0.3 ms, with no full collection in 200 pages.
    gc.set_threshold(10_000, 10, 10)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db = Database(settings.database_url, pool_size=settings.db_pool_size)
    custom_routers = load_domains()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with mcp.run(), background_worker(db, settings):  # in-process worker: see worker/runner.py
            path_table.prepare()
            settle_memory()
            yield
        await db.dispose()

    telemetry = settings.opentelemetry
    app = FastAPI(
        title="Geniziz REST API", version=__version__, lifespan=lifespan,
        telemetry={"tracing": telemetry, "metrics": telemetry, "logs": telemetry},
        openapi_url=f"{API_PREFIX}/openapi.json", docs_url=f"{API_PREFIX}/docs/", redoc_url=f"{API_PREFIX}/redoc/",
        description="The Geniziz sales CRM. Authenticate with HTTP Basic: your API key as the username, "
                    "an empty password. Every non-2xx response is `{\"error\": ..., \"field-errors\": {...}}`.",
    )
    app.state.db = db
    app.state.settings = settings
    app.state.key_resolver = KeyResolver(db, settings.auth_cache_seconds)
    # One budget per key and workspace, whichever door (REST, Genesy, MCP) the request comes through.
    app.state.rate_limiter = RateLimiter(settings)
    install_error_handlers(app)

    # Custom routes and actions first: a fixed path like /lead/merge/ must win over /lead/{id}/.
    for router in [*custom_routers, *action_routers()]:
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    for resource in REGISTRY.values():
        app.include_router(resource_router(resource), prefix=API_PREFIX, responses=ERROR_RESPONSES)

    app.include_router(public_router)  # /unsubscribe/{token}/ and /webhooks/sms/{account_id}/: no API key
    genesy = mount_genesy(app)  # /genesy: Genesy's custom-CRM interface, with its own key header and error shape
    mcp = mount_mcp(app)  # /mcp and /mcp/: the MCP server for AI agents
    # One entrance for every surface: request IDs, paths, body size, keys, rate limits, faults.
    app.add_middleware(Gateway, surfaces=[REST, genesy, MCP_SURFACE, *PUBLIC_SURFACES], fallback=REST, resolver=app.state.key_resolver,
                       limiter=app.state.rate_limiter, max_body_bytes=settings.max_body_bytes)
    path_table = app.router.middleware_stack = PathTable(app.router, API_PREFIX)  # lookup by first path segment
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schema.setdefault("components", {}).setdefault("securitySchemes", {})["apiKey"] = {
        "type": "http", "scheme": "basic", "description": "API key as the username, empty password."}
    schema["security"] = [{"apiKey": []}]
    # Validation failures answer 400 in the error envelope, never FastAPI's default 422.
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            operation.get("responses", {}).pop("422", None)
    for name in ("HTTPValidationError", "ValidationError"):
        schema["components"].get("schemas", {}).pop(name, None)
    app.openapi_schema = schema
    return schema
