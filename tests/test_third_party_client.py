"""Geniziz driven by an existing client written for this style of API: Close's `closeio_api`
(Basic-auth key, trailing-slash paths, `field-errors` on 400, waiting on 429)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from closeio_api import API, APIError, ValidationError

from tests.conftest import Api, Server, new_workspace, start_server, stop_server


def client_for(server_url: str, api: Api) -> API:
    return API(f"{server_url}/api/v1/", api_key=api.key, max_retries=20)


def test_crud_through_the_client(server: Server, api: Api) -> None:
    close = client_for(server.base_url, api)
    lead = close.post("lead", {"name": "Client Co", "emails": [{"email": "hi@client.example", "type": "office"}]})
    assert lead["id"].startswith("lead_")
    contact = close.post("contact", {"lead_id": lead["id"], "name": "Cleo", "phones": [{"phone": "+15550102030"}]})
    assert close.get(f"lead/{lead['id']}")["contacts"][0]["id"] == contact["id"]
    assert close.put(f"lead/{lead['id']}", {"name": "Client Company"})["name"] == "Client Company"
    found = close.get("lead", params={"query": "client company", "_fields": "id,name"})
    assert found == {"data": [{"id": lead["id"], "name": "Client Company"}], "has_more": False}
    assert close.delete(f"lead/{lead['id']}") == {}
    with pytest.raises(APIError) as missing:
        close.get(f"lead/{lead['id']}")
    assert missing.value.response.status_code == 404


def test_validation_errors_reach_the_client_by_field(server: Server, api: Api) -> None:
    close = client_for(server.base_url, api)
    with pytest.raises(ValidationError) as invalid:
        close.post("contact", {"name": "Bad", "emails": [{"email": "not-an-email"}]})
    assert "emails.0.email" in invalid.value.field_errors


def test_the_client_waits_out_429s(server: Server, tmp_path: Path) -> None:
    limited = start_server(server.database_url, tmp_path / "limited.log", GENIZIZ_RATE_LIMIT_READ="4/second")
    try:
        workspace = new_workspace(server)
        close = client_for(limited.base_url, workspace)
        started = time.monotonic()
        results = [close.get("status/lead") for _ in range(10)]
        assert all(len(r["data"]) == 4 for r in results)  # every call succeeded in the end...
        assert time.monotonic() - started >= 1  # ...after waiting out at least one window
    finally:
        stop_server(limited)
