"""Hostile and odd input, answered as a client would expect: refused with the field named, or stored and
returned in the documented form."""

from __future__ import annotations

import base64

import httpx

from tests.conftest import Api
from tests.factories import make_lead
from tests.test_genesy import Genesy

SCRIPT_URLS = ["javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,<script>alert(1)</script>",
               "vbscript:x", "https://", "https://exa mple.com", "//example.com", "example.com"]


def test_only_http_urls_are_stored(api: Api) -> None:
    lead = make_lead(api)
    for url in SCRIPT_URLS:
        api.bad("POST", "/lead/", "url", json={"name": "x", "url": url})
        api.bad("PUT", f"/lead/{lead['id']}/", "url", json={"url": url})
        api.bad("POST", "/contact/", "urls", json={"lead_id": lead["id"], "urls": [{"url": url}]})
    assert api.ok("PUT", f"/lead/{lead['id']}/", json={"url": "https://acme.example/about"})["url"] \
        == "https://acme.example/about"


def test_money_is_an_integer_not_a_boolean_or_text(api: Api) -> None:
    lead = make_lead(api)
    for value in (True, False, "1200", 12.5):
        api.bad("POST", "/opportunity/", "value", json={"lead_id": lead["id"], "value": value})
        api.bad("PUT", f"/lead/{lead['id']}/", "mrr", json={"mrr": value})
    assert api.ok("POST", "/opportunity/", json={"lead_id": lead["id"], "value": 1200000})["value"] == 1200000


def test_early_years_come_back_in_iso_8601(api: Api) -> None:
    task = api.ok("POST", "/task/", json={"text": "Ancient", "lead_id": make_lead(api)["id"],
                                          "due_date": "0001-01-01T14:00:00Z"})
    assert task["due_date"] == "0001-01-01T14:00:00.000Z"


def test_basic_auth_with_a_password_is_not_a_key(api: Api) -> None:
    assert httpx.get(f"{api.server_url}/api/v1/me/", auth=(api.key, "")).status_code == 200
    assert httpx.get(f"{api.server_url}/api/v1/me/", auth=(api.key, "secret")).status_code == 401
    token = base64.b64encode(f"{api.key}:x".encode()).decode()
    assert httpx.get(f"{api.server_url}/mcp/", headers={"Authorization": f"Basic {token}"}).status_code == 401


def test_genesy_names_a_body_it_cannot_read(api: Api) -> None:
    with Genesy(api) as genesy:
        for content in (b"{not json", b"\xff\xfe", b""):
            body = genesy.error("POST", "/contacts", 400, content=content)
            assert "endpoint" not in body["message"], body
