"""The one entrance: REST, Genesy and MCP share key lookup, failed-login counting, request IDs, path
tidying and the body-size limit; each answers in its own error shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Api, Server, start_server, stop_server

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


def rest_envelope(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["error"], str) and isinstance(body["field-errors"], dict), body
    return body


def genesy_shape(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message"}, body
    return body


def test_every_surface_answers_with_a_request_id(api: Api) -> None:
    url = api.server_url
    responses = [
        api.get("/me/"),
        httpx.get(f"{url}/genesy/health", headers={"X-API-Key": api.key}),
        httpx.post(f"{url}/mcp/", json=PING, headers={**MCP_HEADERS, "Authorization": f"Bearer {api.key}"}),
        httpx.get(f"{url}/genesy/health"),  # refused ones too
        httpx.get(f"{url}/no/such/thing"),
    ]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert all(ids) and len(set(ids)) == len(ids), ids
    assert [r.status_code for r in responses[:3]] == [200, 200, 200]


def test_doubled_slashes_from_a_base_url_with_a_trailing_slash(api: Api) -> None:
    # Genesy set to https://host/genesy/ calls https://host/genesy//health.
    assert httpx.get(f"{api.server_url}/genesy//health", headers={"X-API-Key": api.key}).json() == {"status": "ok"}
    lead = api.ok("POST", f"{api.server_url}/api/v1//lead/", json={"name": "Doubled"})
    assert api.ok("GET", f"{api.server_url}/api/v1//lead//{lead['id']}")["name"] == "Doubled"
    response = httpx.post(f"{api.server_url}//mcp/", json=PING,
                          headers={**MCP_HEADERS, "Authorization": f"Bearer {api.key}"})
    assert response.status_code == 200 and response.json()["result"] == {}


def _chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


@pytest.fixture(scope="module")
def small_bodies(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server on the same database that accepts bodies of at most 64 KiB."""
    srv = start_server(server.database_url, tmp_path_factory.mktemp("small") / "server.log",
                       GENIZIZ_MAX_BODY_BYTES=str(64 * 1024))
    yield srv
    stop_server(srv)


def test_bodies_over_the_limit_are_413_in_each_surfaces_shape(api: Api, small_bodies: Server) -> None:
    url, big = small_bodies.base_url, b'{"name": "' + b"x" * (100 * 1024) + b'"}'
    json_type = {"Content-Type": "application/json"}
    body = rest_envelope(httpx.post(f"{url}/api/v1/lead/", content=big, auth=(api.key, ""), headers=json_type), 413)
    assert "65536" in body["error"]
    genesy_shape(httpx.post(f"{url}/genesy/companies", content=big, headers={**json_type, "X-API-Key": api.key}),
                 413)
    rest_envelope(httpx.post(f"{url}/mcp/", content=big, headers={**MCP_HEADERS, "Authorization": f"Bearer {api.key}"}),
                  413)
    # A streamed body (no Content-Length) is counted as it arrives.
    streamed = httpx.post(f"{url}/api/v1/lead/", content=_chunks(1 << 20), auth=(api.key, ""), headers=json_type)
    assert "content-length" not in streamed.request.headers
    rest_envelope(streamed, 413)
    # Under the limit, all is as usual.
    assert httpx.post(f"{url}/api/v1/lead/", json={"name": "small"}, auth=(api.key, "")).status_code == 201
    assert not [line for line in small_bodies.log().splitlines() if "Unhandled error" in line]


def test_an_unauthenticated_body_is_refused_before_it_is_read(small_bodies: Server) -> None:
    # 401 (not 413, not a read of the whole body): nobody pays for a stranger's upload.
    response = httpx.post(f"{small_bodies.base_url}/genesy/contacts", content=b"x" * (1 << 20),
                          headers={"X-API-Key": "gz_not-a-key", "Content-Type": "application/json"})
    genesy_shape(response, 401)


def test_failed_logins_are_counted_per_client_address_on_every_surface(server: Server, tmp_path: Path) -> None:
    srv = start_server(server.database_url, tmp_path / "server.log", GENIZIZ_RATE_LIMIT_READ="6/minute")
    try:
        url = srv.base_url
        attempts = [
            lambda: httpx.get(f"{url}/api/v1/me/", auth=("gz_wrong", "")),
            lambda: httpx.get(f"{url}/genesy/health", headers={"X-API-Key": "gz_wrong"}),
            lambda: httpx.post(f"{url}/mcp/", json=PING, headers={**MCP_HEADERS, "Authorization": "Bearer gz_wrong"}),
        ]
        statuses = [attempt().status_code for _ in range(2) for attempt in attempts]
        assert statuses == [401] * 6  # one budget of 6 per address, whichever door
        assert [attempt().status_code for attempt in attempts] == [429, 429, 429]
        genesy_shape(attempts[1](), 429)
    finally:
        stop_server(srv)


def test_an_exhausted_connection_pool_is_a_503_to_retry_not_a_fault() -> None:
    """Overload (every pooled connection busy past the timeout, or SQLite's writer lock) tells the client to
    come back, where it used to be logged as a fault and answered 500."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from geniziz.api.gateway import database_refusal

    for exc in (PoolTimeout("QueuePool limit of size 10 overflow 10 reached, connection timed out"),
                OperationalError("COMMIT", {}, Exception("database is locked"))):
        refusal = database_refusal(exc)
        assert refusal is not None and refusal.status == 503 and refusal.extra["headers"] == {"Retry-After": "1"}
        assert refusal.body() == {"error": refusal.message, "field-errors": {}}
    assert database_refusal(OperationalError("SELECT", {}, Exception("no such table: lead"))) is None  # a fault
