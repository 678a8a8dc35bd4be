"""Custom activity types and the custom activities checked against them."""

from __future__ import annotations

from tests.conftest import Api
from tests.factories import make_activity, make_contact, make_lead

FIELDS = [
    {"name": "summary", "type": "text", "required": True, "label": "Summary"},
    {"name": "rating", "type": "number"},
    {"name": "visit_day", "type": "date"},
    {"name": "arrived_at", "type": "datetime"},
    {"name": "kind", "type": "choices", "choices": ["onsite", "remote"]},
    {"name": "host", "type": "user"},
    {"name": "met", "type": "contact"},
    {"name": "signed", "type": "boolean"},
]


def test_custom_activity_type_crud_and_validation(api: Api) -> None:
    kind = api.create("custom_activity_type", name="Site visit", description="A visit to the customer",
                      fields=FIELDS)
    assert kind["id"].startswith("actt_") and kind["name"] == "Site visit"
    assert [f["name"] for f in kind["fields"]] == [f["name"] for f in FIELDS]
    assert kind["fields"][0] == {"id": kind["fields"][0]["id"], "name": "summary", "type": "text", "required": True,
                                 "label": "Summary", "description": None, "choices": None}
    assert kind["fields"][0]["id"].startswith("cf_")  # a custom field: lists filter on custom.<its ID>
    assert api.ok("GET", f"/custom_activity_type/{kind['id']}/") == kind
    assert [k["id"] for k in api.ok("GET", "/custom_activity_type/")["data"]] == [kind["id"]]
    renamed = api.ok("PUT", f"/custom_activity_type/{kind['id']}/", json={"name": "Visit"})
    assert renamed["name"] == "Visit" and renamed["fields"] == kind["fields"]
    assert api.ok("PUT", f"/custom_activity_type/{kind['id']}/", json={"name": "VISIT"})["name"] == "VISIT"

    for body, field in [
        ({"name": "visit"}, "name"),  # taken, in any case
        ({"name": ""}, "name"),
        ({"name": "x", "fields": [{"name": "has space", "type": "text"}]}, "fields.0.name"),
        ({"name": "x", "fields": [{"name": "a", "type": "colour"}]}, "fields.0.type"),
        ({"name": "x", "fields": [{"name": "a", "type": "text"}, {"name": "a", "type": "number"}]}, "fields.1.name"),
        ({"name": "x", "fields": [{"name": "a", "type": "choices"}]}, "fields.0.choices"),
        ({"name": "x", "fields": [{"name": "a", "type": "text", "choices": ["b"]}]}, "fields.0.choices"),
        ({"name": "x", "fields": [{"name": "a", "type": "text", "surprise": 1}]}, "fields.0.surprise"),
    ]:
        api.bad("POST", "/custom_activity_type/", field, json=body)
    api.bad("PUT", f"/custom_activity_type/{kind['id']}/", "fields", json={"fields": None})
    assert len(api.ok("GET", "/custom_activity_type/")["data"]) == 1
    assert api.ok("DELETE", f"/custom_activity_type/{kind['id']}/") == {}
    api.bad("GET", f"/custom_activity_type/{kind['id']}/", status=404)


def test_custom_activities_are_checked_against_their_type(api: Api, other: Api) -> None:
    kind = api.create("custom_activity_type", name="Site visit", fields=FIELDS)
    lead = make_lead(api)
    contact = make_contact(api, lead_id=lead["id"])
    foreign_contact = make_contact(other)
    base = {"lead_id": lead["id"], "custom_activity_type_id": kind["id"]}
    values = {"summary": "Toured the plant", "rating": 4.5, "visit_day": "2026-02-03",
              "arrived_at": "2026-02-03T09:15:00+01:00", "kind": "onsite", "host": api.user_id,
              "met": contact["id"], "signed": False}
    visit = api.create("activity/custom", **base, fields=values)
    assert visit["_type"] == "custom" and visit["custom_activity_type_id"] == kind["id"]
    # Stored in the one form of custom datetimes, the spec's (its examples: "2026-01-15T09:30:00.000Z").
    assert visit["fields"] == {**values, "arrived_at": "2026-02-03T08:15:00.000Z"}
    assert api.ok("GET", f"/activity/custom/{visit['id']}/") == visit

    for bad, field, why in [
        ({"summary": None}, "fields.summary", "required"),
        ({"summary": ""}, "fields.summary", "required"),
        ({"summary": 5}, "fields.summary", "text"),
        ({"rating": "high"}, "fields.rating", "number"),
        ({"rating": True}, "fields.rating", "number"),
        ({"rating": 10**400}, "fields.rating", "number"),
        ({"visit_day": "03/02/2026"}, "fields.visit_day", "date"),
        ({"arrived_at": "soon"}, "fields.arrived_at", "ISO"),
        ({"kind": "hybrid"}, "fields.kind", "onsite"),
        ({"host": other.user_id}, "fields.host", "user"),
        ({"met": foreign_contact["id"]}, "fields.met", "contact"),
        ({"signed": "yes"}, "fields.signed", "true or false"),
        ({"colour": "red"}, "fields.colour", "no such custom field"),
    ]:
        body = api.bad("POST", "/activity/custom/", field, json={**base, "fields": {"summary": "x", **bad}})
        assert why in body["field-errors"][field]
    several = api.bad("POST", "/activity/custom/", json={**base, "fields": {"rating": "x", "kind": "y"}})
    assert set(several["field-errors"]) == {"fields.summary", "fields.rating", "fields.kind"}
    api.bad("POST", "/activity/custom/", "custom_activity_type_id", json={"lead_id": lead["id"]})
    api.bad("POST", "/activity/custom/", "custom_activity_type_id",
            json={**base, "custom_activity_type_id": "actt_" + "0" * 22, "fields": {"summary": "x"}})
    api.bad("POST", "/activity/custom/", "fields", json={**base, "fields": ["summary"]})

    # Updates merge into the current values; null removes one; the result is checked again.
    path = f"/activity/custom/{visit['id']}/"
    merged = api.ok("PUT", path, json={"fields": {"rating": 5, "signed": None}})
    expected = {**visit["fields"], "rating": 5}
    del expected["signed"]
    assert merged["fields"] == expected
    api.bad("PUT", path, "fields.summary", json={"fields": {"summary": None}})
    api.bad("PUT", path, "fields.kind", json={"fields": {"kind": "nope"}})
    assert api.ok("GET", path) == merged

    # Another type checks the values anew.
    simple = api.create("custom_activity_type", name="Gift", fields=[{"name": "rating", "type": "number"}])
    api.bad("PUT", path, "fields.summary", json={"custom_activity_type_id": simple["id"]})
    switched = api.ok("PUT", path, json={"custom_activity_type_id": simple["id"], "fields": {
        name: None for name in merged["fields"] if name != "rating"}})
    assert switched["fields"] == {"rating": 5} and switched["custom_activity_type_id"] == simple["id"]

    gift = make_activity(api, "custom", lead_id=lead["id"], custom_activity_type_id=simple["id"])
    filtered = api.ok("GET", "/activity/custom/", params={"custom_activity_type_id": simple["id"]})["data"]
    assert {row["id"] for row in filtered} == {visit["id"], gift["id"]}
    assert api.ok("GET", "/activity/custom/", params={"custom_activity_type_id": kind["id"]})["data"] == []


def test_a_type_with_activities_cannot_be_deleted(api: Api) -> None:
    kind = api.create("custom_activity_type", name="Gift", fields=[{"name": "value", "type": "number",
                                                                     "required": True}])
    activity = make_activity(api, "custom", custom_activity_type_id=kind["id"], fields={"value": 20})
    body = api.bad("DELETE", f"/custom_activity_type/{kind['id']}/")
    assert "1 activities" in body["error"]
    assert api.ok("GET", f"/custom_activity_type/{kind['id']}/")["id"] == kind["id"]
    api.ok("DELETE", f"/activity/custom/{activity['id']}/")
    assert api.ok("DELETE", f"/custom_activity_type/{kind['id']}/") == {}
