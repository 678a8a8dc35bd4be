"""The conventions every endpoint keeps: envelope, auth, paths, pagination, _fields, timestamps, IDs."""

from __future__ import annotations

import base64
import re
import time

import httpx

from tests.conftest import Api, Server
from tests.factories import make_lead

ID = re.compile(r"^[a-z]{3,4}_[0-9A-Za-z]{22}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def envelope(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["field-errors"], dict)
    return body


# --- auth ----------------------------------------------------------------------------------------
def test_missing_malformed_unknown_and_revoked_keys_are_401(server: Server, api: Api) -> None:
    url = f"{server.base_url}/api/v1/lead/"
    envelope(httpx.get(url), 401)
    envelope(httpx.get(url, headers={"Authorization": "Basic !!!notbase64"}), 401)
    envelope(httpx.get(url, headers={"Authorization": "Bearer " + api.key}), 401)  # REST is Basic only
    envelope(httpx.get(url, auth=("gz_not-a-real-key", "")), 401)
    no_colon = base64.b64encode(api.key.encode()).decode()
    envelope(httpx.get(url, headers={"Authorization": f"Basic {no_colon}"}), 401)
    assert httpx.get(url).headers["www-authenticate"].startswith("Basic")

    extra = api.ok("POST", "/api_key/", json={"name": "temporary"})
    assert extra["key"].startswith("gz_") and "digest" not in extra
    with Api(server.base_url, extra["key"]) as temporary:
        assert temporary.get("/me/").status_code == 200
        api.ok("DELETE", f"/api_key/{extra['id']}/")
        # Key lookups are cached for GENIZIZ_AUTH_CACHE_SECONDS (5 s by default), never longer.
        deadline = time.monotonic() + 10
        while temporary.get("/me/").status_code != 401:
            assert time.monotonic() < deadline, "revoked key still works"
            time.sleep(0.5)


def test_unknown_path_wrong_method_and_bad_content_type_use_the_envelope(api: Api, server: Server) -> None:
    envelope(api.get("/no-such-thing/"), 404)
    envelope(httpx.get(f"{server.base_url}/nowhere"), 404)
    envelope(api.request("PATCH", "/lead/"), 405)
    envelope(api.request("DELETE", "/lead/"), 405)
    envelope(api.post("/lead/", content=b"name=x", headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    body = envelope(api.post("/lead/", content=b'{"name": ', headers={"Content-Type": "application/json"}), 400)
    assert "JSON" in body["error"]
    envelope(api.post("/lead/", content=b"[1, 2]", headers={"Content-Type": "application/json"}), 400)
    envelope(api.post("/lead/", content=b"", headers={"Content-Type": "application/json"}), 400)


def test_paths_work_with_and_without_trailing_slash(api: Api) -> None:
    lead = api.ok("POST", "/lead", json={"name": "No slash"})
    assert api.ok("GET", f"/lead/{lead['id']}")["name"] == "No slash"
    assert api.ok("PUT", f"/lead/{lead['id']}", json={"name": "Still"})["name"] == "Still"
    assert api.ok("GET", f"/lead/{lead['id']}/")["name"] == "Still"
    assert api.ok("DELETE", f"/lead/{lead['id']}") == {}
    envelope(api.get(f"/lead/{lead['id']}"), 404)


# --- validation ---------------------------------------------------------------------------------------
def test_validation_errors_name_the_field(api: Api) -> None:
    api.bad("POST", "/lead/", "name", json={})
    api.bad("POST", "/lead/", "name", json={"name": ""})
    api.bad("POST", "/lead/", "mrr", json={"name": "x", "mrr": "lots"})
    api.bad("POST", "/lead/", "surprise", json={"name": "x", "surprise": 1})
    api.bad("POST", "/lead/", "emails", json={"name": "x", "emails": [{"email": "not-an-email"}]})
    api.bad("POST", "/lead/", "phones", json={"name": "x", "phones": [{"phone": "12"}]})
    lead = make_lead(api)
    api.bad("PUT", f"/lead/{lead['id']}/", "name", json={"name": None})
    api.bad("PUT", f"/lead/{lead['id']}/", "status_id", json={"status_id": None})


# --- IDs and timestamps -----------------------------------------------------------------------------
def test_ids_are_prefixed_and_timestamps_are_utc_milliseconds(api: Api) -> None:
    lead = api.create("lead", name="Times")
    assert ID.match(lead["id"]) and lead["id"].startswith("lead_")
    assert TIMESTAMP.match(lead["date_created"]) and TIMESTAMP.match(lead["date_updated"])
    me = api.ok("GET", "/me/")
    assert me["id"].startswith("user_") and me["organization_id"].startswith("orga_")
    task = api.create("task", lead_id=lead["id"], text="Call", due_date="2026-03-01T10:30:00+02:00")
    assert task["due_date"] == "2026-03-01T08:30:00.000Z"  # offsets are accepted and normalized to UTC


# --- lists ----------------------------------------------------------------------------------------------
def test_pagination_boundaries_and_stable_newest_first_order(api: Api) -> None:
    ids = [api.create("status/lead", label=f"Stage {i}")["id"] for i in range(7)]
    everything = api.ok("GET", "/status/lead/")
    assert everything["has_more"] is False
    all_ids = [row["id"] for row in everything["data"]]
    assert all_ids[-7:] == ids  # statuses keep their defined order

    leads = [api.create("lead", name=f"Page {i}")["id"] for i in range(5)]
    newest_first = list(reversed(leads))
    seen = []
    for skip in range(0, 5, 2):
        page = api.ok("GET", "/lead/", params={"_limit": 2, "_skip": skip})
        seen += [row["id"] for row in page["data"]]
        assert page["has_more"] is (skip + 2 < 5)
    assert seen == newest_first  # no row repeated or lost across pages
    exact = api.ok("GET", "/lead/", params={"_limit": 5})
    assert exact["has_more"] is False and len(exact["data"]) == 5
    assert api.ok("GET", "/lead/", params={"_skip": 5}) == {"data": [], "has_more": False}
    assert len(api.ok("GET", "/lead/", params={"_limit": 1})["data"]) == 1

    for params, name in [({"_limit": 0}, "_limit"), ({"_limit": 201}, "_limit"), ({"_limit": "ten"}, "_limit"),
                         ({"_skip": -1}, "_skip"), ({"_skip": "x"}, "_skip"), ({"bogus": 1}, "bogus")]:
        api.bad("GET", "/lead/", name, params=params)
    assert len(api.ok("GET", "/status/lead/", params={"_limit": 200})["data"]) == 11


def test_fields_trim_lists_and_single_reads(api: Api) -> None:
    lead = api.create("lead", name="Trim me", url="https://trim.example")
    single = api.ok("GET", f"/lead/{lead['id']}/", params={"_fields": "id,name"})
    assert single == {"id": lead["id"], "name": "Trim me"}
    listed = api.ok("GET", "/lead/", params={"_fields": "name"})
    assert listed["data"][0] == {"name": "Trim me"}
    assert api.ok("GET", f"/lead/{lead['id']}/", params={"_fields": ""})["url"] == "https://trim.example"
    assert api.ok("GET", "/me/", params={"_fields": "id"}) == {"id": api.user_id}
    api.bad("GET", f"/lead/{lead['id']}/", "_fields", params={"_fields": "id,nope"})
    api.bad("GET", "/lead/", "_fields", params={"_fields": "secret"})
    created = api.ok("POST", "/lead/", params={"_fields": "id"}, json={"name": "Only id"})
    assert list(created) == ["id"]


def test_server_fault_is_500_in_the_envelope_with_a_request_id(api: Api) -> None:
    # Every response carries a request ID that a fault's log line would name.
    response = api.get("/me/")
    assert re.fullmatch(r"[0-9a-f]{16}", response.headers["x-request-id"])


def test_openapi_describes_the_api_and_docs_are_served(server: Server) -> None:
    spec = httpx.get(f"{server.base_url}/api/v1/openapi.json").json()
    paths = spec["paths"]
    for path in ("/api/v1/lead/", "/api/v1/lead/{id}/", "/api/v1/contact/", "/api/v1/opportunity/",
                 "/api/v1/opportunity/{parent_id}/line_item/", "/api/v1/task/", "/api/v1/status/lead/",
                 "/api/v1/status/opportunity/", "/api/v1/pipeline/", "/api/v1/me/", "/api/v1/user/",
                 "/api/v1/api_key/", "/api/v1/membership/"):
        assert path in paths, path
    list_params = {p["name"] for p in paths["/api/v1/lead/"]["get"]["parameters"]}
    assert {"_limit", "_skip", "_fields", "query", "status_id", "owner_id"} <= list_params
    assert "400" in paths["/api/v1/lead/"]["post"]["responses"]
    assert "422" not in paths["/api/v1/lead/"]["post"]["responses"]
    assert spec["components"]["securitySchemes"]["apiKey"]["scheme"] == "basic"
    docs = httpx.get(f"{server.base_url}/api/v1/docs/")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
