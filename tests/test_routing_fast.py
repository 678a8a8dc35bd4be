"""Direct routes and the path table (api/routing.py): resource and action routes answer without FastAPI's
dependency solving, and the app router asks only the routers a path's first segment can reach, byte for
byte as FastAPI's own handler and lookup would (that they commit before they answer:
tests/test_scoping.py, test_a_failed_commit_is_an_error_response)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from geniziz.api.gateway import API_PREFIX
from geniziz.api.routing import DirectRoute, PathTable, QuickRouter, _direct_handler
from geniziz.app import create_app
from geniziz.config import Settings
from tests.conftest import Api, Server
from tests.factories import make_lead


def _app(server: Server, *, direct: bool, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    """The real app in-process; with direct=False every route keeps FastAPI's own handler and lookup."""
    with monkeypatch.context() as patch:
        if not direct:
            patch.setattr(DirectRoute, "get_route_handler", APIRoute.get_route_handler)
            patch.setattr("geniziz.app.PathTable", lambda router, _prefix: router.middleware_stack)
        limits = {f"rate_limit_{group}": "100000/minute" for group in ("read", "write", "heavy")}
        app = create_app(Settings(database_url=server.database_url, **limits))  # type: ignore[arg-type]
        _build_handlers(app.router.routes)
        return app


def _build_handlers(routes: list[Any]) -> None:
    """FastAPI builds an included route's handler when a request first reaches its router: build them all now."""
    for route in routes:
        if hasattr(route, "effective_candidates"):
            _build_handlers(route.effective_candidates())


def _api_routes(routes: list[Any], prefix: str = "") -> list[tuple[str, APIRoute]]:
    """The app's routes under /api/v1 with their full paths, through the included routers."""
    out = []
    for route in routes:
        if (included := getattr(route, "original_router", None)) is not None:
            out += _api_routes(included.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute) and (prefix + route.path).startswith(API_PREFIX):
            out.append((prefix + route.path, route))
    return out


def _requests(app: FastAPI, lead_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """For every route under /api/v1: malformed queries, bodies and content, and unknown IDs."""
    bodies: list[dict[str, Any]] = [
        {"content": b'{"name": ', "headers": {"content-type": "application/json"}},  # malformed JSON
        {"content": b"", "headers": {"content-type": "application/json"}},  # empty
        {"content": b"[1, 2]", "headers": {"content-type": "application/json"}},  # not an object
        {"content": b'{"zz_unknown": 1}', "headers": {"content-type": "application/vnd.x+json; charset=utf-8"}},
        {"content": b"\xff\xfe", "headers": {"content-type": "application/json"}},  # not UTF-8
        {"content": b"name=x", "headers": {"content-type": "application/x-www-form-urlencoded"}},  # refused: 415
        {},  # no body at all
    ]
    out = []
    for path, route in _api_routes(app.router.routes):
        concrete = re.sub(r"\{(\w+)\}", "nope_0", path)
        for method in route.methods:
            out.append((method, concrete + "?_limit=x&_fields=1&zz_unknown=1", {}))
            out.append((method, concrete + "?_limit=&_fields=a&_fields=b&_skip=5&_skip=x", {}))
            if method in ("POST", "PUT", "PATCH"):
                out += [(method, concrete, body) for body in bodies]
    out += [("GET", f"{API_PREFIX}/lead/{lead_id}/", {}), ("GET", f"{API_PREFIX}/lead/{lead_id}/?_fields=name", {}),
            ("GET", f"{API_PREFIX}/lead/?_limit=2", {}), ("GET", f"{API_PREFIX}/status/lead/", {}),
            ("GET", f"{API_PREFIX}/lead/?status_id=x&status_id=y&query=", {}),
            ("GET", f"{API_PREFIX}/activity/?_type=note&_type=call&_type=", {}),  # a list field
            ("GET", f"{API_PREFIX}/activity/?_type=&_limit=1", {}),
            ("GET", f"{API_PREFIX}/lead/{lead_id}", {}), ("PATCH", f"{API_PREFIX}/lead/{lead_id}/", {}),
            ("PUT", f"{API_PREFIX}/lead/{lead_id}/", {"json": {"name": None}}),
            ("PUT", f"{API_PREFIX}/lead/{lead_id}/", {"json": {"url": 5}})]
    # The lookup: unknown segments and paths, the prefix itself, a wrong method (405), a path a router's
    # regexes almost match, the trailing-slash redirects, and paths outside /api/v1 or beside its routes.
    out += [(method, path, {}) for method in ("GET", "DELETE", "POST") for path in (
        f"{API_PREFIX}/", API_PREFIX, f"{API_PREFIX}//", f"{API_PREFIX}/nope/", f"{API_PREFIX}/nope",
        f"{API_PREFIX}/lead", f"{API_PREFIX}/leads/", f"{API_PREFIX}/lead/{lead_id}/x/", f"{API_PREFIX}/status/",
        f"{API_PREFIX}/status/lead", f"{API_PREFIX}/status/lead/x/y/", f"{API_PREFIX}/activity/note",
        f"{API_PREFIX}/activity/nope/", f"{API_PREFIX}/openapi.json", f"{API_PREFIX}/openapi.json/",
        f"{API_PREFIX}/docs/", f"{API_PREFIX}/docs", f"{API_PREFIX}/me/openapi.json", f"{API_PREFIX}/Lead/",
        f"{API_PREFIX}/lead%2F/", f"{API_PREFIX}/l%C3%A9ad/", f"{API_PREFIX}/export/x/download/",
        "/docs/oauth2-redirect", "/unsubscribe/x/", "/genesy/health", "/api/v2/lead/", "/", "/nope")]
    return out


def _direct_count(app: FastAPI) -> int:
    """Routes whose handler is the direct one."""
    return sum(isinstance(route, DirectRoute) and _direct_handler(route.dependant, route.body_field is not None,
                                                                  route._embed_body_fields) is not None
               for _, route in _api_routes(app.router.routes))


def test_direct_routes_answer_as_fastapi_does(server: Server, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    lead = make_lead(api)
    direct, plain = _app(server, direct=True, monkeypatch=monkeypatch), _app(server, direct=False, monkeypatch=monkeypatch)
    requests = _requests(direct, lead["id"])
    assert len(requests) > 500, len(requests)

    async def answer(app: FastAPI, method: str, path: str, kwargs: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", auth=(api.key, "")) as client:
            response = await client.request(method, path, **kwargs)
        # Both apps count against the same limits, a second apart: the reset may differ.
        headers = {k: v for k, v in response.headers.items() if k != "x-request-id" and not k.startswith("ratelimit")}
        return response.status_code, headers, response.content

    solved: list[str] = []  # FastAPI's dependency solving, counted to tell the two handlers apart
    solve = fastapi.routing.solve_dependencies

    async def counted(**kwargs: Any) -> Any:
        solved.append(kwargs["dependant"].path)
        return await solve(**kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counted)

    async def main() -> list[str]:
        differences = []
        try:
            for app, expected_solves in ((direct, 0), (plain, 1)):
                solved.clear()
                assert (await answer(app, "GET", f"{API_PREFIX}/lead/{lead['id']}/", {}))[0] == 200
                assert len(solved) == expected_solves, solved
            for method, path, kwargs in requests:
                got, expected = await answer(direct, method, path, kwargs), await answer(plain, method, path, kwargs)
                if got != expected:
                    differences.append(f"{method} {path} {kwargs}:\n  direct {str(got)[:400]}\n  fastapi {str(expected)[:400]}")
        finally:
            await direct.state.db.dispose()
            await plain.state.db.dispose()
        return differences

    differences = asyncio.run(main())
    assert not differences, "\n".join(differences[:10])
    # The comparison means something only if the routes did take the direct path.
    assert _direct_count(direct) > 200


def test_the_path_table_asks_only_the_routers_a_path_can_reach(server: Server, api: Api,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    direct, plain = _app(server, direct=True, monkeypatch=monkeypatch), _app(server, direct=False, monkeypatch=monkeypatch)
    asked: list[QuickRouter] = []
    matches = QuickRouter.matches

    def counted(self: QuickRouter, scope: Any) -> Any:
        asked.append(self)
        return matches(self, scope)

    monkeypatch.setattr(QuickRouter, "matches", counted)

    lead = make_lead(api)

    async def main() -> dict[tuple[str, str, int], int]:
        found = {}
        try:
            for name, app in (("direct", direct), ("plain", plain)):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://test", auth=(api.key, "")) as client:
                    for method, path, status in (("GET", "/status/lead/", 200), ("GET", f"/lead/{lead['id']}/", 200),
                                                 ("DELETE", "/status/lead/", 405), ("PATCH", f"/lead/{lead['id']}/", 405)):
                        asked.clear()
                        assert (await client.request(method, API_PREFIX + path)).status_code == status
                        found[name, path.split("/")[1], status] = len(asked)
        finally:
            await direct.state.db.dispose()
            await plain.state.db.dispose()
        return found

    found = asyncio.run(main())
    # FastAPI asks every router included before the route's (35 for the statuses, 15 for a lead). A path a
    # route matches fully goes straight to it (_dispatch): no router asked. Any other (here a method the path's
    # route does not take: 405) takes FastAPI's lookup over the routers of the path's segment only.
    assert found["plain", "status", 200] > 10 and found["plain", "lead", 200] > 10, found
    assert found["direct", "status", 200] == 0 and found["direct", "lead", 200] == 0, found
    for segment in ("status", "lead"):
        assert 0 < found["direct", segment, 405] < 5 < found["plain", segment, 405], found


def test_every_resource_and_action_route_is_direct(server: Server) -> None:
    from geniziz.api.action import ACTIONS
    from geniziz.api.resource import REGISTRY

    app = create_app(Settings(database_url=server.database_url))
    declared = len(ACTIONS) + sum(len(res.operations) for res in REGISTRY.values())
    assert _direct_count(app) >= declared - 10, (_direct_count(app), declared)


def test_start_up_builds_the_path_table(server: Server) -> None:
    """Building the table for the whole app takes most of a second: start-up does it, not the first request."""
    app = create_app(Settings(database_url=server.database_url))
    table = app.router.middleware_stack
    assert isinstance(table, PathTable)

    async def main() -> tuple[bool, bool]:
        before = bool(table._views)
        async with app.router.lifespan_context(app):
            return before, table._built_for == len(app.router.routes) and bool(table._views)

    before, built = asyncio.run(main())
    assert not before and built
