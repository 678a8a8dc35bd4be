"""Custom activity types and the custom activities checked against them."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.factories import make_activity, make_contact, make_lead
from tests.test_mcp import Mcp

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


def test_a_types_fields_are_custom_fields_changed_converted_and_filtered(api: Api) -> None:
    """The type's fields share the custom field machinery: type changes convert the stored values (or are
    refused naming the definition), a field left out of the list takes its values along, lists filter."""
    kind = api.create("custom_activity_type", name="Audit", fields=[
        {"name": "score", "type": "text"}, {"name": "auditor", "type": "text"}])
    lead = make_lead(api)
    base = {"lead_id": lead["id"], "custom_activity_type_id": kind["id"]}
    high = api.create("activity/custom", **base, fields={"score": "1,500", "auditor": "Ann"})
    low = api.create("activity/custom", **base, fields={"score": "20"})
    # Stored as custom values, by field ID (and shown by name as `fields` only).
    assert high["fields"] == {"score": "1,500", "auditor": "Ann"}
    assert not any(key.startswith("custom.") for key in high) and high["custom"] == {}

    definitions = [{"name": "score", "type": "number"}, {"name": "auditor", "type": "text"}]
    changed = api.ok("PUT", f"/custom_activity_type/{kind['id']}/", json={"fields": definitions})
    assert [f["id"] for f in changed["fields"]] == [f["id"] for f in kind["fields"]]  # the same fields
    assert api.ok("GET", f"/activity/custom/{high['id']}/")["fields"] == {"score": 1500, "auditor": "Ann"}
    score = changed["fields"][0]["id"]
    listed = api.ok("GET", "/activity/custom/", params={"custom_activity_type_id": kind["id"],
                                                         f"custom.{score}__gte": 100})["data"]
    assert [row["id"] for row in listed] == [high["id"]]
    by_name = api.ok("GET", "/activity/custom/", params={"custom_activity_type_id": kind["id"],
                                                          "custom.score__lt": 100})["data"]
    assert [row["id"] for row in by_name] == [low["id"]]

    # A value that does not convert: nothing changes, and the 400 names the definition.
    api.ok("PUT", f"/activity/custom/{low['id']}/", json={"fields": {"auditor": "Bob"}})
    api.create("activity/custom", **base, fields={"auditor": "Eve"})
    body = api.bad("PUT", f"/custom_activity_type/{kind['id']}/", "fields.1.type", json={"fields": [
        {"name": "score", "type": "number"}, {"name": "auditor", "type": "number"}]})
    assert "3 records" in body["field-errors"]["fields.1.type"]
    assert api.ok("GET", f"/activity/custom/{low['id']}/")["fields"] == {"score": 20, "auditor": "Bob"}

    # Left out of the list: the field and its values go; a new name is a new field.
    kept = api.ok("PUT", f"/custom_activity_type/{kind['id']}/", json={"fields": [
        {"name": "score", "type": "number"}, {"name": "notes", "type": "text"}]})
    assert [f["name"] for f in kept["fields"]] == ["score", "notes"]
    assert api.ok("GET", f"/activity/custom/{high['id']}/")["fields"] == {"score": 1500}
    api.bad("PUT", f"/activity/custom/{high['id']}/", "fields.auditor", json={"fields": {"auditor": "Ann"}})
    # A definition with its field's ID keeps the field, and its values, under a new name; a read round-trips.
    renamed = api.ok("PUT", f"/custom_activity_type/{kind['id']}/", json={"fields": [
        {**kept["fields"][0], "name": "points"}, kept["fields"][1]]})
    assert [f["id"] for f in renamed["fields"]] == [f["id"] for f in kept["fields"]]
    assert api.ok("GET", f"/activity/custom/{high['id']}/")["fields"] == {"points": 1500}
    api.bad("PUT", f"/custom_activity_type/{kind['id']}/", "fields.0.id", json={"fields": [
        {"id": "cf_" + "0" * 22, "name": "x", "type": "text"}]})
    # Custom activity type fields are not the workspace's activity fields.
    assert api.ok("GET", "/custom_field/activity/")["data"] == []
    # MCP tells an agent what each type's `fields` take.
    about = Mcp(api, "read").call("describe_resource", resource="activity/custom")
    assert about["fields_by_custom_activity_type"][kind["id"]] == ["fields.points: number", "fields.notes: text"]


def test_migration_0018_moves_type_fields_and_values(tmp_path: Any) -> None:
    """Existing types' field lists become custom fields, and their activities' values move to `custom` by
    field ID (datetimes in the .000Z form); a downgrade puts them back."""
    import asyncio
    import json
    import secrets
    from datetime import UTC, datetime

    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from geniziz.db import new_id
    from geniziz.migrate import alembic_config
    from tests.conftest import empty_database

    async def sql(url: str, statements: list[tuple[str, dict[str, Any]]]) -> list[list[Any]]:
        engine = create_async_engine(url)
        out = []
        try:
            async with engine.begin() as conn:
                for statement, params in statements:
                    result = await conn.execute(text(statement), params)
                    if statement.startswith("SELECT"):
                        out.append(list(result.all()))
        finally:
            await engine.dispose()
        return out

    async def workspace(url: str) -> tuple[str, str]:
        from sqlalchemy import select

        from geniziz.db import Database
        from geniziz.identity.service import create_workspace
        from geniziz.statuses.models import Status

        db = Database(url)
        try:
            async with db.system_session(write=True) as session:
                org, *_ = await create_workspace(session, "M", f"m-{secrets.token_hex(4)}@example.com", "M")
                return org.id, await session.scalar(select(Status.id).where(
                    Status.organization_id == org.id, Status.kind == "lead").limit(1))
        finally:
            await db.dispose()

    with empty_database(tmp_path) as url:
        config = alembic_config(url)
        command.upgrade(config, "0017")
        org, status = asyncio.run(workspace(url))
        lead, kind, activity = new_id("lead"), new_id("actt"), new_id("acti")
        fields = [{"name": "arrived_at", "type": "datetime", "label": "Arrived"},
                  {"name": "kind", "type": "choices", "choices": ["a", "b"], "required": True}]
        values = {"arrived_at": "2026-02-03T08:15:00+00:00", "kind": "a", "gone": 1}
        now = datetime(2026, 1, 1, tzinfo=UTC)
        asyncio.run(sql(url, [
            ("INSERT INTO lead (id, organization_id, name, status_id, emails, phones, addresses, search_text, "
             "custom, date_created, date_updated) VALUES (:i, :o, 'L', :s, '[]', '[]', '[]', 'l', '{}', :n, :n)",
             {"i": lead, "o": org, "s": status, "n": now}),
            ("INSERT INTO custom_activity_type (id, organization_id, name, fields, date_created, date_updated) "
             "VALUES (:i, :o, 'Visit', :f, :n, :n)", {"i": kind, "o": org, "f": json.dumps(fields), "n": now}),
            ("INSERT INTO activity (id, organization_id, type, lead_id, activity_at, custom_activity_type_id, data, "
             "custom, date_created, date_updated) VALUES (:i, :o, 'custom', :l, :n, :k, :d, '{}', :n, :n)",
             {"i": activity, "o": org, "l": lead, "n": now, "k": kind, "d": json.dumps({"fields": values})}),
        ]))
        command.upgrade(config, "head")
        [moved, stored] = asyncio.run(sql(url, [
            ("SELECT id, name, type, label, required, choices FROM custom_field WHERE custom_activity_type_id = :k "
             "ORDER BY id", {"k": kind}),
            ("SELECT data, custom FROM activity WHERE id = :i", {"i": activity})]))
        assert [(row[1], row[2], row[3], bool(row[4])) for row in moved] == [
            ("arrived_at", "datetime", "Arrived", False), ("kind", "choices", None, True)]
        loaded = [json.loads(v) if isinstance(v, str) else v for v in stored[0]]
        assert loaded[1] == {moved[0][0]: "2026-02-03T08:15:00.000Z", moved[1][0]: "a"}
        assert loaded[0] == {"legacy_fields": {"gone": 1}}  # a value whose field the type had dropped: kept

        command.downgrade(config, "0017")
        [back] = asyncio.run(sql(url, [("SELECT data, custom FROM activity WHERE id = :i", {"i": activity})]))
        data = json.loads(back[0][0]) if isinstance(back[0][0], str) else back[0][0]
        assert data == {"fields": {"arrived_at": "2026-02-03T08:15:00.000Z", "kind": "a", "gone": 1}}
