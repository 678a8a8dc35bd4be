"""Custom object types (the spec's "Custom Object Type" group) and their instances: CRUD, fields, links to
leads, contacts and other instances, filters, the lead's timeline, deletion rules, MCP."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.factories import make_contact, make_lead
from tests.test_mcp import Mcp


def make_type(api: Api, **body: Any) -> dict[str, Any]:
    return api.create("custom_object_type", **{"name": "Subscription", **body})


def timeline(api: Api, lead_id: str) -> list[dict[str, Any]]:
    return api.ok("GET", f"/activity/custom_object/?lead_id={lead_id}")["data"]


def test_custom_object_type_operations_as_the_spec_shows(api: Api, other: Api) -> None:
    kind = make_type(api, description="What they pay for")
    assert kind["id"].startswith("cot_")
    assert {k: kind[k] for k in ("name", "name_plural", "api_name", "description", "link_contact", "fields")} == {
        "name": "Subscription", "name_plural": "Subscriptions", "api_name": "subscription",
        "description": "What they pay for", "link_contact": False, "fields": []}
    listed = api.ok("GET", "/custom_object_type/?_limit=100&_skip=0&_fields=")
    assert listed == {"data": [kind], "has_more": False}
    assert api.ok("GET", f"/custom_object_type/{kind['id']}/?_fields=") == kind
    assert api.ok("GET", f"/custom_object_type/{kind['id']}/?_fields=id,name") == {"id": kind["id"],
                                                                                  "name": "Subscription"}
    plan = api.create("custom_field/custom_object", custom_object_type_id=kind["id"], name="Plan", type="choices",
                      choices=["basic", "pro"])
    assert [f["id"] for f in api.ok("GET", f"/custom_field/custom_object/?custom_object_type_id={kind['id']}")[
        "data"]] == [plan["id"]]
    assert api.ok("GET", f"/custom_field/custom_object/?custom_object_type_id={make_type(api, name='Other')['id']}"
                  )["data"] == []
    updated = api.ok("PUT", f"/custom_object_type/{kind['id']}/", json={"name_plural": "Subs", "link_contact": True})
    assert updated["name_plural"] == "Subs" and updated["link_contact"] and updated["name"] == "Subscription"
    assert [f["id"] for f in updated["fields"]] == [plan["id"]] and updated["fields"][0]["choices"] == ["basic", "pro"]

    for body, name in [({"name": ""}, "name"), ({"name": "X", "api_name": "Has Space"}, "api_name"),
                       ({"name": "Other", "api_name": "subscription"}, "api_name"),
                       ({"name": "X", "surprise": 1}, "surprise"),
                       ({"name": "X", "link_custom_object_type_id": "cot_0000000000000000000000"},
                        "link_custom_object_type_id")]:
        api.bad("POST", "/custom_object_type/", name, json=body)
    api.bad("PUT", f"/custom_object_type/{kind['id']}/", "name", json={"name": None})
    other.bad("GET", f"/custom_object_type/{kind['id']}/", status=404)
    other.bad("PUT", f"/custom_object_type/{kind['id']}/", status=404, json={"name": "Mine"})
    other.bad("DELETE", f"/custom_object_type/{kind['id']}/", status=404)
    assert other.ok("GET", "/custom_object_type/")["data"] == []

    assert api.ok("DELETE", f"/custom_object_type/{kind['id']}/") == {}
    api.bad("GET", f"/custom_object_type/{kind['id']}/", status=404)
    api.bad("GET", f"/custom_field/custom_object/{plan['id']}/", status=404)  # its fields went with it


def test_instances_on_leads_with_fields_filters_and_timeline(api: Api, other: Api) -> None:
    kind = make_type(api, link_contact=True)
    plan = api.create("custom_field/custom_object", custom_object_type_id=kind["id"], name="Plan", type="choices",
                      choices=["basic", "pro"], required=True)["id"]
    seats = api.create("custom_field/custom_object", custom_object_type_id=kind["id"], name="Seats",
                       type="number")["id"]
    lead, second = make_lead(api, name="Acme"), make_lead(api, name="Beta")
    contact = make_contact(api, lead_id=lead["id"])

    sub = api.create("custom_object", custom_object_type_id=kind["id"], lead_id=lead["id"], name="Main",
                     contact_id=contact["id"], **{f"custom.{plan}": "pro", f"custom.{seats}": 25})
    assert sub["id"].startswith("cobj_") and sub["lead_id"] == lead["id"] and sub["contact_id"] == contact["id"]
    assert sub[f"custom.{plan}"] == "pro" and sub["custom"] == {"Plan": "pro", "Seats": 25}
    small = api.create("custom_object", custom_object_type_id=kind["id"], lead_id=second["id"], name="Small",
                       custom={"plan": "basic", "seats": 2})
    assert api.ok("GET", f"/custom_object/{sub['id']}/") == sub
    # Embedded on the lead when asked for (and only then).
    assert api.ok("GET", f"/lead/{lead['id']}/?_fields=id,custom_objects") == {"id": lead["id"], "custom_objects": [sub]}
    assert "custom_objects" not in api.ok("GET", f"/lead/{lead['id']}/")
    page = api.ok("GET", "/lead/?_fields=name,custom_objects")["data"]
    assert [(row["name"], [i["name"] for i in row["custom_objects"]]) for row in page] == [
        ("Beta", ["Small"]), ("Acme", ["Main"])]
    api.bad("GET", f"/contact/{contact['id']}/?_fields=custom_objects", "_fields")

    def ids(query: str) -> list[str]:
        return [item["id"] for item in api.ok("GET", f"/custom_object/?{query}")["data"]]

    assert ids(f"custom_object_type_id={kind['id']}&custom.{plan}=pro") == [sub["id"]]
    assert ids(f"custom_object_type_id={kind['id']}&custom.Seats__lt=10") == [small["id"]]
    assert ids(f"lead_id={lead['id']}") == [sub["id"]]
    api.bad("GET", f"/custom_object/?custom.{plan}=pro", "custom_object_type_id")

    for body, name in [({"name": "X", "lead_id": lead["id"]}, "custom_object_type_id"),
                       ({"custom_object_type_id": kind["id"], "name": "X", f"custom.{plan}": "pro"}, "lead_id"),
                       ({"custom_object_type_id": kind["id"], "lead_id": lead["id"], "name": "X"}, f"custom.{plan}"),
                       ({"custom_object_type_id": kind["id"], "lead_id": lead["id"], "name": "X",
                         f"custom.{plan}": "gold"}, f"custom.{plan}"),
                       ({"custom_object_type_id": kind["id"], "lead_id": second["id"], "name": "X",
                         "contact_id": contact["id"], f"custom.{plan}": "pro"}, "contact_id"),
                       ({"custom_object_type_id": kind["id"], "lead_id": make_lead(other)["id"], "name": "X",
                         f"custom.{plan}": "pro"}, "lead_id")]:
        api.bad("POST", "/custom_object/", name, json=body)
    api.bad("PUT", f"/custom_object/{sub['id']}/", "custom_object_type_id",
            json={"custom_object_type_id": make_type(api, name="Asset")["id"]})

    changed = api.ok("PUT", f"/custom_object/{sub['id']}/", json={f"custom.{seats}": 30})
    assert changed["custom"] == {"Plan": "pro", "Seats": 30}
    api.ok("PUT", f"/custom_object/{sub['id']}/", json={"name": "Main"})  # no change: no entry
    entries = timeline(api, lead["id"])
    assert [(e["action"], e["changed"]) for e in entries] == [("updated", [f"custom.{seats}"]), ("created", [])]
    assert entries[0]["custom_object_id"] == sub["id"] and entries[0]["custom_object_name"] == "Main"
    stream = api.ok("GET", f"/activity/?lead_id={lead['id']}")["data"]
    assert any(e["_type"] == "custom_object" and e.get("action") == "updated" for e in stream)

    # Another workspace reaches none of it.
    other.bad("GET", f"/custom_object/{sub['id']}/", status=404)
    assert other.ok("GET", "/custom_object/")["data"] == []
    other.bad("POST", "/custom_object/", "custom_object_type_id",
              json={"custom_object_type_id": kind["id"], "lead_id": make_lead(other)["id"], "name": "X"})

    assert api.ok("DELETE", f"/custom_object/{small['id']}/") == {}
    assert [e["action"] for e in timeline(api, second["id"])] == ["deleted", "created"]


def test_parent_links_and_deletions(api: Api) -> None:
    account = make_type(api, name="Account")
    asset = make_type(api, name="Asset", link_custom_object_type_id=account["id"])
    lead, second = make_lead(api), make_lead(api)
    parent = api.create("custom_object", custom_object_type_id=account["id"], lead_id=lead["id"], name="Parent")
    child = api.create("custom_object", custom_object_type_id=asset["id"], lead_id=lead["id"], name="Laptop",
                       parent_id=parent["id"])
    assert child["parent_id"] == parent["id"]
    api.bad("POST", "/custom_object/", "parent_id", json={"custom_object_type_id": asset["id"],
                                                          "lead_id": second["id"], "name": "X", "parent_id": parent["id"]})
    api.bad("POST", "/custom_object/", "parent_id", json={"custom_object_type_id": account["id"],
                                                          "lead_id": lead["id"], "name": "X", "parent_id": parent["id"]})
    api.bad("POST", "/custom_object/", "contact_id", json={  # Account does not link to contacts
        "custom_object_type_id": account["id"], "lead_id": lead["id"], "name": "X",
        "contact_id": make_contact(api, lead_id=lead["id"])["id"]})

    # A type with instances: refused, saying how many; then deleted together with them on request.
    refused = api.bad("DELETE", f"/custom_object_type/{asset['id']}/", "id")
    assert "1 instances" in refused["error"]
    assert api.ok("DELETE", f"/custom_object_type/{asset['id']}/with_instances/") == {"deleted_instances": 1}
    api.bad("GET", f"/custom_object/{child['id']}/", status=404)
    assert [e["action"] for e in timeline(api, lead["id"])][:1] == ["deleted"]

    # A lead deleted takes its instances (and their timeline) with it.
    api.ok("DELETE", f"/lead/{lead['id']}/")
    api.bad("GET", f"/custom_object/{parent['id']}/", status=404)
    assert api.ok("DELETE", f"/custom_object_type/{account['id']}/") == {}


def test_instances_through_mcp(api: Api) -> None:
    kind = make_type(api)
    plan = api.create("custom_field/custom_object", custom_object_type_id=kind["id"], name="Plan", type="text")["id"]
    lead = make_lead(api)
    mcp = Mcp(api, "write_destructive")
    about = mcp.call("describe_resource", resource="custom_object")
    assert any(f"custom.{plan}" in entry for entry in about["custom_fields_by_type"][kind["id"]])
    created = mcp.call("create_record", resource="custom_object", body={
        "custom_object_type_id": kind["id"], "lead_id": lead["id"], "name": "Via MCP", f"custom.{plan}": "Pro"})
    listed = mcp.call("list_records", resource="custom_object",
                      filters={"custom_object_type_id": kind["id"], f"custom.{plan}": "Pro"})
    assert [item["id"] for item in listed["data"]] == [created["id"]]
    assert mcp.call("describe_resource", resource="custom_object_type")["operations"] == [
        "create", "delete", "get", "list", "update"]
    Mcp(api, "write_safe").fail("run_destructive_action", action="delete_custom_object_type_with_instances",
                                args={"custom_object_type_id": kind["id"]})
