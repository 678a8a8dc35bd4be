"""Two-workspace isolation over every resource in the registry: another workspace's ID is a 404, exactly
like an ID that never existed; lists never show another workspace's rows; references to another
workspace's records are refused with a 400 naming the field."""

from __future__ import annotations

import pytest

from geniziz.api.resource import REGISTRY
from geniziz.api.rest import rest_path
from geniziz.app import load_domains
from tests.conftest import Api
from tests.factories import FACTORIES, make_contact, make_lead

load_domains()
RESOURCES = sorted(REGISTRY)


def test_every_resource_has_a_factory() -> None:
    assert sorted(set(RESOURCES) - set(FACTORIES)) == []


def _path(name: str, parent_id: str | None) -> str:
    return rest_path(REGISTRY[name]).replace("{parent_id}", parent_id or "")


@pytest.mark.parametrize("name", RESOURCES)
def test_foreign_ids_read_as_unknown(name: str, api: Api, other: Api) -> None:
    resource = REGISTRY[name]
    record_id, parent_id = FACTORIES[name](api)
    base = _path(name, parent_id)
    never = record_id.split("_")[0] + "_" + "0" * 22
    for client, target in ((other, record_id), (api, never)):
        if "get" in resource.operations:
            client.bad("GET", f"{base}{target}/", status=404)
        if "update" in resource.operations:
            client.bad("PUT", f"{base}{target}/", status=404, json={})
        if "delete" in resource.operations:
            client.bad("DELETE", f"{base}{target}/", status=404)
    if "list" in resource.operations:
        if resource.parent:
            other.bad("GET", base, status=404)  # the parent itself is unknown there
        else:
            assert record_id not in {row.get("id") for row in other.ok("GET", base, params={"_limit": 200})["data"]}
    if "get" in resource.operations:  # and the owner still sees it, untouched
        assert api.ok("GET", f"{base}{record_id}/")["id"] == record_id


def test_references_to_another_workspace_are_refused(api: Api, other: Api) -> None:
    lead = make_lead(api)
    contact = make_contact(api, lead_id=lead["id"])
    lead_status = api.ok("GET", "/status/lead/")["data"][0]["id"]
    opportunity_status = api.ok("GET", "/status/opportunity/")["data"][0]["id"]
    pipeline = api.ok("GET", "/pipeline/")["data"][0]["id"]
    own_lead = make_lead(other)
    cases = [
        ("/lead/", {"name": "x", "status_id": lead_status}, "status_id"),
        ("/lead/", {"name": "x", "owner_id": api.user_id}, "owner_id"),
        ("/contact/", {"name": "x", "lead_id": lead["id"]}, "lead_id"),
        ("/opportunity/", {"lead_id": lead["id"]}, "lead_id"),
        ("/opportunity/", {"lead_id": own_lead["id"], "status_id": opportunity_status}, "status_id"),
        ("/opportunity/", {"lead_id": own_lead["id"], "contact_id": contact["id"]}, "contact_id"),
        ("/task/", {"text": "x", "lead_id": lead["id"]}, "lead_id"),
        ("/task/", {"text": "x", "contact_id": contact["id"]}, "contact_id"),
        ("/task/", {"text": "x", "assigned_to": api.user_id}, "assigned_to"),
        ("/status/opportunity/", {"label": "x", "pipeline_id": pipeline}, "pipeline_id"),
        ("/api_key/", {"name": "x", "user_id": api.user_id}, "user_id"),
    ]
    before = {path: other.ok("GET", path)["data"] for path in {c[0] for c in cases}}
    for path, body, field in cases:
        other.bad("POST", path, field, json=body)
    after = {path: other.ok("GET", path)["data"] for path in before}
    assert after == before  # nothing was written
    other.bad("PUT", f"/lead/{own_lead['id']}/", "owner_id", json={"owner_id": api.user_id})
    assert other.ok("GET", "/lead/", params={"status_id": lead_status})["data"] == []
    assert other.ok("GET", "/contact/", params={"lead_id": lead["id"]})["data"] == []
