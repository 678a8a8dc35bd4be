"""Rate limits: per endpoint group, per key and per workspace, headers on every response, 429s; shared
through Redis across server processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Api, Server, member_client, new_workspace, start_server, stop_server

LIMITS = {"GENIZIZ_RATE_LIMIT_READ": "6/minute", "GENIZIZ_RATE_LIMIT_WRITE": "3/minute",
          "GENIZIZ_RATE_LIMIT_HEAVY": "2/minute", "GENIZIZ_RATE_LIMIT_ORG_MULTIPLIER": "2"}


@pytest.fixture(scope="module")
def limited(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A second server on the same database with tight limits (the bootstrap already happened)."""
    srv = start_server(server.database_url, tmp_path_factory.mktemp("limited") / "server.log", **LIMITS)
    srv.bootstrap_key = server.bootstrap_key
    yield srv
    stop_server(srv)


def fresh(server: Server, limited: Server) -> Api:
    """A workspace created through the main server (not spending the tight budgets), used on `limited`."""
    client = new_workspace(server)
    client.close()
    return Api(limited.base_url, client.key, org_id=client.org_id, user_id=client.user_id)


def headers_of(response: httpx.Response) -> tuple[int, int, int]:
    h = response.headers
    return int(h["ratelimit-limit"]), int(h["ratelimit-remaining"]), int(h["ratelimit-reset"])


def test_headers_count_down_and_429_says_when_to_retry(server: Server, limited: Server) -> None:
    api = fresh(server, limited)
    seen = [headers_of(api.get("/status/lead/")) for _ in range(6)]
    assert [remaining for _, remaining, _ in seen] == [5, 4, 3, 2, 1, 0]
    assert all(limit == 6 and 0 < reset <= 60 for limit, _, reset in seen)
    refused = api.get("/lead/")
    assert refused.status_code == 429
    body = refused.json()
    assert "Rate limit" in body["error"] and body["field-errors"] == {}
    assert 0 < body["rate_reset"] <= 60 and int(refused.headers["retry-after"]) == body["rate_reset"]
    assert headers_of(refused)[1] == 0
    # other groups have their own budgets
    created = api.post("/lead/", json={"name": "Still writable"})
    assert created.status_code == 201 and headers_of(created)[:2] == (3, 2)
    search = api.get("/lead/", params={"query": "writable"})
    assert search.status_code == 200 and headers_of(search)[0] == 2
    # errors are counted and carry the headers too
    assert headers_of(api.get("/nowhere/"))[0] == 6


def test_the_workspace_budget_is_shared_by_its_keys(server: Server, limited: Server) -> None:
    api = fresh(server, limited)
    with Api(server.base_url, api.key) as admin_on_main:
        second = member_client(admin_on_main)
        third = member_client(admin_on_main)
    second = Api(limited.base_url, second.key)
    third = Api(limited.base_url, third.key)
    statuses = [client.get("/me/").status_code for client in (api, second) for _ in range(6)]
    assert statuses == [200] * 12  # each key within its own budget of 6, the workspace at 12 of 12
    refused = third.get("/me/")  # a fresh key, but the workspace budget is spent
    assert refused.status_code == 429 and "retry-after" in refused.headers


def test_unauthenticated_requests_are_counted_per_client(limited: Server) -> None:
    responses = [httpx.get(f"{limited.base_url}/api/v1/me/", auth=("gz_wrong", "")) for _ in range(7)]
    assert [r.status_code for r in responses[:6]] == [401] * 6
    assert all("ratelimit-remaining" in r.headers for r in responses)
    assert responses[6].status_code == 429


REDIS_URL = os.environ.get("GENIZIZ_TEST_REDIS_URL")


@pytest.mark.skipif(not REDIS_URL, reason="set GENIZIZ_TEST_REDIS_URL to test budgets shared through Redis")
def test_two_server_processes_share_one_budget_through_redis(server: Server, tmp_path: Path) -> None:
    env = {**LIMITS, "GENIZIZ_REDIS_URL": REDIS_URL or ""}
    first = start_server(server.database_url, tmp_path / "a.log", **env)
    second = start_server(server.database_url, tmp_path / "b.log", **env)
    try:
        client = new_workspace(server)
        codes = []
        for i in range(7):
            target = first if i % 2 == 0 else second
            codes.append(httpx.get(f"{target.base_url}/api/v1/me/", auth=(client.key, "")).status_code)
        assert codes == [200] * 6 + [429]
    finally:
        stop_server(first)
        stop_server(second)


def test_mcp_and_genesy_draw_on_the_same_budgets(server: Server, limited: Server) -> None:
    api = fresh(server, limited)
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    codes = [httpx.post(f"{limited.base_url}/mcp/", json=ping, headers=headers, auth=(api.key, "")).status_code
             for _ in range(3)]
    assert 429 not in codes
    assert api.post("/lead/", json={"name": "no budget left"}).status_code == 429  # writes: 3 per minute
    refused = httpx.post(f"{limited.base_url}/mcp/", json=ping, headers=headers, auth=(api.key, ""))
    assert refused.status_code == 429 and "retry-after" in refused.headers
    genesy = httpx.post(f"{limited.base_url}/genesy/tasks", json={"subject": "x"}, headers={"X-API-Key": api.key})
    assert genesy.status_code == 429
