"""Custom fields on leads, contacts and opportunities, end to end through HTTP: definitions, values written
as `custom.<field ID>` (valid and invalid), reads by ID and by name, `_fields`, list filters, type changes,
deletion, OpenAPI and MCP."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Api, Server, wait_until
from tests.factories import make_contact, make_lead, make_opportunity
from tests.test_mcp import Mcp


def field(api: Api, object_type: str, name: str, type_: str, **body: Any) -> dict[str, Any]:
    return api.create(f"custom_field/{object_type}", name=name, type=type_, **body)


def lead_ids(api: Api, query: str) -> list[str]:
    return [lead["id"] for lead in api.ok("GET", f"/lead/?{query}")["data"]]


# Each type: a valid value as sent, as stored/shown, and invalid values.
TYPES: dict[str, tuple[dict[str, Any], Any, Any, list[Any]]] = {
    "text": ({}, "Gold tier", "Gold tier", [12, ["a"], "x" * 20_001]),
    "number": ({}, 42.5, 42.5, ["42", True, [1]]),
    "date": ({}, "2026-03-01", "2026-03-01", ["2026-13-01", "yesterday", 20260301]),
    "datetime": ({}, "2026-03-01T10:00:00+02:00", "2026-03-01T08:00:00.000Z", ["soon", 5]),
    "choices": ({"choices": ["gold", "silver"]}, "gold", "gold", ["bronze", ["gold"]]),
    "boolean": ({}, True, True, ["yes", 1]),
    "url": ({}, "https://example.com/a", "https://example.com/a", ["javascript:alert(1)", "example"]),
}


def test_every_field_type_on_leads_end_to_end(api: Api, other: Api) -> None:
    fields = {kind: field(api, "lead", f"My {kind}", kind, **extra) for kind, (extra, *_rest) in TYPES.items()}
    fields["user"] = field(api, "lead", "Account manager", "user")
    fields["contact"] = field(api, "lead", "Champions", "contact", accepts_multiple=True)
    fields["multi"] = field(api, "lead", "Regions", "choices", accepts_multiple=True, choices=["eu", "us", "apac"])
    assert all(f["id"].startswith("cf_") for f in fields.values())
    assert [f["id"] for f in api.ok("GET", "/custom_field/lead/")["data"]] == \
        sorted((f["id"] for f in fields.values()), reverse=True)
    assert api.ok("GET", "/custom_field/contact/")["data"] == []

    champion = make_contact(api)
    body = {f"custom.{fields[kind]['id']}": sent for kind, (_extra, sent, _shown, _bad) in TYPES.items()}
    body |= {f"custom.{fields['user']['id']}": api.user_id, f"custom.{fields['contact']['id']}": [champion["id"]],
             f"custom.{fields['multi']['id']}": ["eu", "us"]}
    lead = make_lead(api, name="Acme", **body)
    for kind, (_extra, _sent, shown, _bad) in TYPES.items():
        assert lead[f"custom.{fields[kind]['id']}"] == shown, kind
        assert lead["custom"][f"My {kind}"] == shown
    assert lead["custom"]["Regions"] == ["eu", "us"] and lead["custom"]["Champions"] == [champion["id"]]
    assert api.ok("GET", f"/lead/{lead['id']}/") == lead

    # Invalid values: a 400 naming custom.<field ID>, and nothing written.
    for kind, (_extra, _sent, _shown, bad_values) in TYPES.items():
        key = f"custom.{fields[kind]['id']}"
        for bad in bad_values:
            api.bad("PUT", f"/lead/{lead['id']}/", key, json={key: bad})
    foreign = make_contact(other)
    api.bad("PUT", f"/lead/{lead['id']}/", f"custom.{fields['contact']['id']}",
            json={f"custom.{fields['contact']['id']}": [foreign["id"]]})
    api.bad("PUT", f"/lead/{lead['id']}/", f"custom.{fields['user']['id']}",
            json={f"custom.{fields['user']['id']}": other.user_id})
    api.bad("PUT", f"/lead/{lead['id']}/", "custom.cf_0000000000000000000000", json={"custom.cf_0000000000000000000000": 1})
    api.bad("PUT", f"/lead/{lead['id']}/", "custom.Nope", json={"custom": {"Nope": 1}})
    assert api.ok("GET", f"/lead/{lead['id']}/") == lead

    # Written by name too; null unsets; other values stay.
    updated = api.ok("PUT", f"/lead/{lead['id']}/", json={"custom": {"my number": 7, "My text": None}})
    assert updated[f"custom.{fields['number']['id']}"] == 7 and f"custom.{fields['text']['id']}" not in updated
    assert "My text" not in updated["custom"] and updated["custom"]["My date"] == "2026-03-01"

    # _fields: custom.<field ID> keys and the whole `custom` object.
    number_key = f"custom.{fields['number']['id']}"
    assert api.ok("GET", f"/lead/{lead['id']}/?_fields=id,{number_key}") == {"id": lead["id"], number_key: 7}
    assert api.ok("GET", f"/lead/?_fields=name,custom")["data"][0] == {"name": "Acme", "custom": updated["custom"]}
    api.bad("GET", f"/lead/{lead['id']}/?_fields=id,custom.cf_0000000000000000000000", "_fields")

    # The other workspace sees none of these fields, and cannot write them.
    assert other.ok("GET", "/custom_field/lead/")["data"] == []
    other.bad("POST", "/lead/", number_key, json={"name": "B", number_key: 1})
    other.bad("GET", f"/custom_field/lead/{fields['number']['id']}/", status=404)


def test_filters_equality_ranges_and_is_set(api: Api) -> None:
    tier = field(api, "lead", "Tier", "choices", choices=["gold", "silver"])["id"]
    seats = field(api, "lead", "Seats", "number")["id"]
    renewal = field(api, "lead", "Renewal", "date")["id"]
    seen = field(api, "lead", "Last seen", "datetime")["id"]
    active = field(api, "lead", "Active", "boolean")["id"]
    regions = field(api, "lead", "Regions", "choices", accepts_multiple=True, choices=["eu", "us"])["id"]
    a = make_lead(api, name="A", **{f"custom.{tier}": "gold", f"custom.{seats}": 10, f"custom.{renewal}": "2026-01-10",
                                    f"custom.{seen}": "2026-01-10T10:00:00Z", f"custom.{active}": True,
                                    f"custom.{regions}": ["eu", "us"]})["id"]
    b = make_lead(api, name="B", **{f"custom.{tier}": "silver", f"custom.{seats}": 250.5,
                                    f"custom.{renewal}": "2026-06-01", f"custom.{seen}": "2026-06-01T00:00:00Z",
                                    f"custom.{active}": False, f"custom.{regions}": ["us"]})["id"]
    c = make_lead(api, name="C")["id"]

    assert lead_ids(api, f"custom.{tier}=gold") == [a]
    assert lead_ids(api, "custom.Tier=silver") == [b]  # by name too
    assert lead_ids(api, f"custom.{seats}__gte=10") == [b, a]
    assert lead_ids(api, f"custom.{seats}__gt=10") == [b]
    assert lead_ids(api, f"custom.{seats}__lt=250.5&custom.{seats}__gte=1") == [a]
    assert lead_ids(api, f"custom.{seats}=250.5") == [b]
    assert lead_ids(api, f"custom.{renewal}__lte=2026-03-01") == [a]
    assert lead_ids(api, f"custom.{seen}__gt=2026-01-10T11:00:00%2B01:00") == [b]  # 10:00Z is not after 10:00Z
    assert lead_ids(api, f"custom.{active}=true") == [a]
    assert lead_ids(api, f"custom.{active}=false") == [b]
    assert lead_ids(api, f"custom.{regions}=us") == [b, a]
    assert lead_ids(api, f"custom.{regions}=eu") == [a]
    assert lead_ids(api, f"custom.{tier}__is_set=true") == [b, a]
    assert lead_ids(api, f"custom.{tier}__is_set=false") == [c]
    assert lead_ids(api, f"custom.{tier}=gold&custom.{seats}__gt=100") == []

    for query, name in [(f"custom.{tier}=bronze", f"custom.{tier}"), (f"custom.{seats}=many", f"custom.{seats}"),
                        (f"custom.{tier}__gt=gold", f"custom.{tier}__gt"),
                        (f"custom.{seats}__near=1", f"custom.{seats}__near"),
                        (f"custom.{active}=maybe", f"custom.{active}"),
                        (f"custom.{tier}__is_set=perhaps", f"custom.{tier}__is_set"),
                        ("custom.cf_0000000000000000000000=1", "custom.cf_0000000000000000000000"),
                        ("surprise=1", "surprise")]:
        api.bad("GET", f"/lead/?{query}", name)


def test_contacts_and_opportunities_carry_values(api: Api) -> None:
    role = field(api, "contact", "Role", "choices", choices=["buyer", "user"], required=True)["id"]
    source = field(api, "opportunity", "Source", "text")["id"]
    lead = make_lead(api)
    api.bad("POST", "/contact/", f"custom.{role}", json={"lead_id": lead["id"], "name": "No role"})
    contact = make_contact(api, lead_id=lead["id"], name="Jo", **{f"custom.{role}": "buyer"})
    assert contact["custom"] == {"Role": "buyer"} and contact[f"custom.{role}"] == "buyer"
    api.bad("PUT", f"/contact/{contact['id']}/", f"custom.{role}", json={f"custom.{role}": None})  # required
    # A lead embeds its contacts with their values.
    assert api.ok("GET", f"/lead/{lead['id']}/")["contacts"][0]["custom"] == {"Role": "buyer"}
    assert [c["id"] for c in api.ok("GET", f"/contact/?custom.{role}=buyer")["data"]] == [contact["id"]]

    opportunity = make_opportunity(api, lead_id=lead["id"], **{f"custom.{source}": "Webinar"})
    assert opportunity["custom"] == {"Source": "Webinar"}
    assert api.ok("PUT", f"/opportunity/{opportunity['id']}/", json={"confidence": 50})["custom"] == {"Source": "Webinar"}
    assert [o["id"] for o in api.ok("GET", f"/opportunity/?custom.{source}=Webinar")["data"]] == [opportunity["id"]]
    assert api.ok("GET", f"/opportunity/?custom.{source}=Other")["data"] == []


def test_activities_carry_values(api: Api) -> None:
    outcome = field(api, "activity", "Outcome", "choices", choices=["booked", "no"])["id"]
    lead = make_lead(api)
    call = api.create("activity/call", lead_id=lead["id"], direction="outbound", **{f"custom.{outcome}": "booked"})
    note = api.create("activity/note", lead_id=lead["id"], note="Hi")
    assert call["custom"] == {"Outcome": "booked"} and call[f"custom.{outcome}"] == "booked"
    assert api.ok("PUT", f"/activity/note/{note['id']}/", json={"custom": {"Outcome": "no"}})["custom"] == {"Outcome": "no"}
    api.bad("POST", "/activity/call/", f"custom.{outcome}",
            json={"lead_id": lead["id"], "direction": "outbound", f"custom.{outcome}": "maybe"})
    assert [a["id"] for a in api.ok("GET", f"/activity/?custom.{outcome}=booked")["data"]] == [call["id"]]
    assert [a["id"] for a in api.ok("GET", f"/activity/note/?custom.Outcome__is_set=true")["data"]] == [note["id"]]


def test_field_definitions_are_validated(api: Api) -> None:
    field(api, "lead", "Tier", "text")
    for body, name in [({"name": "tier", "type": "text"}, "name"),  # taken, in any case
                       ({"name": "", "type": "text"}, "name"),
                       ({"name": "X", "type": "colour"}, "type"),
                       ({"name": "X", "type": "choices"}, "choices"),
                       ({"name": "X", "type": "text", "choices": ["a"]}, "choices"),
                       ({"name": "X", "type": "number", "accepts_multiple": True}, "accepts_multiple"),
                       ({"name": "X", "type": "text", "surprise": 1}, "surprise")]:
        api.bad("POST", "/custom_field/lead/", name, json=body)
    assert field(api, "contact", "Tier", "text")["name"] == "Tier"  # another object's names are apart


def test_type_changes_convert_or_refuse_and_deletion_removes_values(api: Api) -> None:
    size = field(api, "lead", "Size", "text")
    key = f"custom.{size['id']}"
    a = make_lead(api, **{key: "12"})
    b = make_lead(api, **{key: "1,500"})
    changed = api.ok("PUT", f"/custom_field/lead/{size['id']}/", json={"type": "number"})
    assert changed["type"] == "number" and changed["values_converted"] == 2
    assert api.ok("GET", f"/lead/{a['id']}/")[key] == 12 and api.ok("GET", f"/lead/{b['id']}/")[key] == 1500
    assert lead_ids(api, f"{key}__gt=100") == [b["id"]]

    api.ok("PUT", f"/custom_field/lead/{size['id']}/", json={"type": "text"})
    make_lead(api, **{key: "large"})
    refused = api.bad("PUT", f"/custom_field/lead/{size['id']}/", "type", json={"type": "number"})
    assert "1 records" in refused["field-errors"]["type"]
    assert api.ok("GET", f"/custom_field/lead/{size['id']}/")["type"] == "text"  # nothing changed
    assert api.ok("GET", f"/lead/{a['id']}/")[key] == "12"

    tier = field(api, "lead", "Tier", "choices", choices=["gold", "silver"])
    tier_key = f"custom.{tier['id']}"
    make_lead(api, **{tier_key: "gold"})
    api.bad("PUT", f"/custom_field/lead/{tier['id']}/", "choices", json={"choices": ["silver"]})
    many = api.ok("PUT", f"/custom_field/lead/{tier['id']}/", json={"accepts_multiple": True})
    assert many["values_converted"] == 1 and lead_ids(api, f"{tier_key}=gold") != []
    assert api.ok("GET", "/lead/?_limit=200")["data"][0].get(tier_key) == ["gold"]

    assert api.ok("DELETE", f"/custom_field/lead/{size['id']}/") == {}
    assert key not in api.ok("GET", f"/lead/{a['id']}/")
    # A new field never sees the old one's values.
    fresh = field(api, "lead", "Size", "text")
    assert f"custom.{fresh['id']}" not in api.ok("GET", f"/lead/{a['id']}/")


def test_openapi_documents_custom_values(api: Api) -> None:
    schema = api.ok("GET", "/openapi.json")
    paths = schema["paths"]
    assert {"/api/v1/custom_field/lead/", "/api/v1/custom_object_type/", "/api/v1/custom_object_type/{id}/",
            "/api/v1/custom_object/"} <= set(paths)
    create = schema["components"]["schemas"]["LeadCreate"]
    assert "custom" in create["properties"] and r"^custom\." in create["patternProperties"]
    assert "custom" in schema["components"]["schemas"]["LeadRead"]["properties"]
    assert "custom.<field" in paths["/api/v1/lead/"]["get"]["description"]


@pytest.fixture
def mcp(api: Api) -> Mcp:
    return Mcp(api, "write_destructive")


def test_mcp_describes_the_workspaces_own_fields_and_writes_them(api: Api, other: Api, mcp: Mcp) -> None:
    tier = field(api, "lead", "Tier", "choices", choices=["gold", "silver"], required=True)["id"]
    about = mcp.call("describe_resource", resource="lead")
    assert any(f"custom.{tier}" in entry and "gold|silver" in entry and "required" in entry
               for entry in about["custom_fields"])
    assert "custom_fields" in about and "__gte" in about["custom_filters"]
    assert tier not in str(Mcp(other, "read").call("describe_resource", resource="lead"))

    created = mcp.call("create_record", resource="lead", body={"name": "Via MCP", f"custom.{tier}": "gold"})
    assert created[f"custom.{tier}"] == "gold"
    listed = mcp.call("list_records", resource="lead", filters={f"custom.{tier}": "gold"})
    assert [lead["id"] for lead in listed["data"]] == [created["id"]]
    mcp.fail("create_record", f"custom.{tier}", resource="lead", body={"name": "No tier"})


# --- indexed fields ----------------------------------------------------------------------------------------
def _indexes(database_url: str, field_id: str) -> set[str]:
    """The database's indexes (and, on PostgreSQL, statistics objects) of a field."""
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    if database_url.startswith("sqlite"):
        query = "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE :p"
    else:
        query = ("SELECT indexname FROM pg_indexes WHERE indexname LIKE :p "
                 "UNION ALL SELECT 'stats:' || stxname FROM pg_statistic_ext WHERE stxname LIKE :p")

    async def run() -> set[str]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                return {row[0] for row in await conn.execute(text(query), {"p": f"ix_custom_{field_id}_%"})}
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _plan(database_url: str, org_id: str, field: dict[str, Any]) -> str:
    """The plan of the range filter the app sends (its own SQL), on the lead table."""
    import asyncio

    from sqlalchemy import select, text
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.ext.asyncio import create_async_engine

    from geniziz.custom.models import CustomField
    from geniziz.custom.values import conditions
    from geniziz.leads.models import Lead

    dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    definition = CustomField(id=field["id"], name=field["name"], name_key=field["name"].lower(), type=field["type"])
    where = conditions(dialect, Lead.custom, [definition], {f"custom.{field['id']}__gt": 10}, "a lead")
    query = select(Lead.id).where(Lead.organization_id == org_id, *where)
    sql = str(query.compile(dialect=sqlite.dialect() if dialect == "sqlite" else postgresql.dialect(),
                            compile_kwargs={"literal_binds": True}))

    async def run() -> str:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                if dialect == "sqlite":
                    return "\n".join(str(row[-1]) for row in await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
                await conn.execute(text("SET enable_seqscan = off"))  # a few rows: make an index the only way
                return "\n".join(row[0] for row in await conn.execute(text(f"EXPLAIN {sql}")))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _jobs_done(api: Api, field_id: str, count: int) -> None:
    def done() -> bool:
        jobs = api.ok("GET", "/job/", params={"owner_id": field_id, "kind": "custom.field_index"})["data"]
        assert not [job for job in jobs if job["status"] == "failed"], jobs
        return len(jobs) == count and all(job["status"] == "succeeded" for job in jobs)

    wait_until(done, what=f"{count} custom.field_index jobs of {field_id} to succeed")


@pytest.fixture
def worker(server: Server, tmp_path: Path) -> Iterator[None]:
    """On PostgreSQL a `geniziz worker` runs the jobs (SQLite's `geniziz serve` runs them itself)."""
    if server.database_url.startswith("sqlite"):
        yield
        return
    log = tmp_path / "worker.log"
    process = subprocess.Popen([sys.executable, "-m", "geniziz.cli", "worker"], stdout=open(log, "wb"),  # noqa: SIM115
                               stderr=subprocess.STDOUT, env={**os.environ, "GENIZIZ_DATABASE_URL": server.database_url,
                                                              "GENIZIZ_WORKER_POLL_SECONDS": "0.1"})
    wait_until(lambda: "started (concurrency" in log.read_text(errors="replace") or process.poll() is not None,
               what="the worker to start")
    yield
    process.terminate()
    process.wait(timeout=20)


@pytest.mark.usefixtures("worker")
def test_indexed_fields_get_an_index_that_range_filters_use(api: Api, server: Server) -> None:
    api.bad("POST", "/custom_field/lead/", "indexed", json={"name": "Notes", "type": "text", "indexed": True})
    seats = field(api, "lead", "Seats", "number", indexed=True)
    assert seats["indexed"] is True
    _jobs_done(api, seats["id"], 1)
    name = f"ix_custom_{seats['id']}_number"
    expected = {name} | (set() if server.database_url.startswith("sqlite") else {f"stats:{name}"})
    assert _indexes(server.database_url, seats["id"]) == expected
    # The filter's SQL is the index's expression, so the planner can use the index.
    assert name in _plan(server.database_url, api.org_id, seats)

    few, many = make_lead(api, **{f"custom.{seats['id']}": 5}), make_lead(api, **{f"custom.{seats['id']}": 50})
    make_lead(api)
    assert lead_ids(api, f"custom.{seats['id']}__gt=10") == [many["id"]]
    assert lead_ids(api, "custom.Seats__lte=5") == [few["id"]]
    # A type change must say whether the index stays: a text field has none.
    api.bad("PUT", f"/custom_field/lead/{seats['id']}/", "indexed", json={"type": "text"})
    changed = api.ok("PUT", f"/custom_field/lead/{seats['id']}/", json={"type": "text", "indexed": False})
    assert changed["indexed"] is False and changed["values_converted"] == 2
    _jobs_done(api, seats["id"], 2)
    assert _indexes(server.database_url, seats["id"]) == set()

    renewal = field(api, "lead", "Renewal", "date", indexed=True)
    make_lead(api, **{f"custom.{renewal['id']}": "2026-05-01"})
    _jobs_done(api, renewal["id"], 1)
    assert _indexes(server.database_url, renewal["id"])
    assert len(lead_ids(api, f"custom.{renewal['id']}__gte=2026-04-30")) == 1
    api.ok("DELETE", f"/custom_field/lead/{renewal['id']}/")  # its index goes with it
    _jobs_done(api, renewal["id"], 2)
    assert _indexes(server.database_url, renewal["id"]) == set()


def test_a_workspace_has_a_few_indexed_fields_per_kind_of_record(api: Api) -> None:
    """Each index is on the table all workspaces share: a few per kind of record, refused beyond."""
    for i in range(5):
        field(api, "contact", f"Score {i}", "number", indexed=True)
    api.bad("POST", "/custom_field/contact/", "indexed", json={"name": "Sixth", "type": "date", "indexed": True})
    sixth = field(api, "contact", "Sixth", "date")
    api.bad("PUT", f"/custom_field/contact/{sixth['id']}/", "indexed", json={"indexed": True})
    field(api, "lead", "On leads", "number", indexed=True)  # another kind of record has its own


# --- the workspace's own OpenAPI document --------------------------------------------------------------------
def test_the_workspace_openapi_document_types_its_own_fields(api: Api, other: Api) -> None:
    seats = field(api, "lead", "Seats", "number")["id"]
    tier = field(api, "contact", "Tier", "choices", choices=["gold", "silver"], accepts_multiple=True)["id"]
    visit = api.create("custom_activity_type", name="Visit", fields=[{"name": "rating", "type": "number"}])
    secret = field(other, "lead", "Secret", "text")["id"]

    doc = api.ok("GET", "/me/openapi.json")
    schemas = doc["components"]["schemas"]
    for name in ("LeadRead", "LeadCreate", "LeadUpdate"):
        assert schemas[name]["properties"][f"custom.{seats}"]["type"] == "number", name
        assert schemas[name]["properties"]["custom"]["properties"]["Seats"]["type"] == "number"
    assert schemas["ContactRead"]["properties"][f"custom.{tier}"]["items"]["enum"] == ["gold", "silver"]
    assert schemas["CustomRead"]["properties"]["fields"]["properties"]["rating"]["type"] == "number"
    assert visit["id"] in schemas["CustomCreate"]["properties"]["fields"]["properties"]["rating"]["description"]
    params = {p["name"]: p for p in doc["paths"]["/api/v1/lead/"]["get"]["parameters"]}
    assert params[f"custom.{seats}__gte"]["schema"]["type"] == "number"
    assert params[f"custom.{seats}__is_set"]["schema"]["type"] == "boolean"
    assert f"custom.{tier}" in {p["name"] for p in doc["paths"]["/api/v1/contact/"]["get"]["parameters"]}
    assert secret not in str(doc)  # another workspace's fields stay there
    assert secret in str(other.ok("GET", "/me/openapi.json")) and seats not in str(other.ok("GET", "/me/openapi.json"))
    # The public document stays one for every workspace, and this one needs a key.
    assert seats not in str(api.ok("GET", "/openapi.json"))
    assert httpx.get(f"{api.server_url}/api/v1/me/openapi.json").status_code == 401


def test_definitions_are_cached_per_process_and_another_process_sees_a_change(api: Api, server: Server,
                                                                               tmp_path: Path) -> None:
    """Reads use per-process cached definitions, keyed by the workspace's custom_fields_version (read with the
    API key): the process that changes a field shows it at once, another within its key cache's TTL, and
    writes always check values against the committed definitions."""
    from tests.conftest import start_server, stop_server

    second = start_server(server.database_url, tmp_path / "second.log", GENIZIZ_AUTH_CACHE_SECONDS="1")
    try:
        with Api(second.base_url, api.key) as far:
            lead = make_lead(api, name="Cached Co")
            assert "custom" in far.ok("GET", f"/lead/{lead['id']}/") and far.ok("GET", "/lead/")["data"]  # cached: none

            # Written through the main server: it shows at once there, and in the second process once its key
            # lookup expires (1 s here).
            tier = field(api, "lead", "Tier", "text")["id"]
            api.ok("PUT", f"/lead/{lead['id']}/", json={f"custom.{tier}": "gold"})
            assert api.ok("GET", f"/lead/{lead['id']}/")["custom"] == {"Tier": "gold"}
            assert api.ok("GET", f"/lead/?custom.{tier}=gold")["data"][0]["id"] == lead["id"]
            wait_until(lambda: far.get(f"/lead/{lead['id']}/").json().get("custom") == {"Tier": "gold"},
                       timeout=10, what="the second process to show the new field")
            assert far.ok("GET", f"/lead/?custom.{tier}=gold")["data"][0][f"custom.{tier}"] == "gold"

            # A required field made in the main server binds the second one's writes at once (writes read the
            # definitions afresh), whatever its cached copy says.
            must = field(api, "lead", "Region", "text", required=True)["id"]
            far.bad("POST", "/lead/", f"custom.{must}", json={"name": "No region"})
            far.ok("POST", "/lead/", json={"name": "With region", f"custom.{must}": "eu"})

            # Renamed and deleted through the second process: at once there, within 5 s (the default TTL) here.
            far.ok("PUT", f"/custom_field/lead/{tier}/", json={"name": "Level"})
            assert far.ok("GET", f"/lead/{lead['id']}/")["custom"] == {"Level": "gold"}
            wait_until(lambda: api.get(f"/lead/{lead['id']}/").json().get("custom") == {"Level": "gold"},
                       timeout=15, what="the main server to show the renamed field")
            far.ok("DELETE", f"/custom_field/lead/{tier}/")
            assert f"custom.{tier}" not in far.ok("GET", f"/lead/{lead['id']}/")
            far.bad("GET", f"/lead/?custom.{tier}=gold")
            wait_until(lambda: api.get(f"/lead/?custom.{tier}=gold").status_code == 400, timeout=15,
                       what="the main server to forget the deleted field")
    finally:
        stop_server(second)
    assert "Unhandled error" not in second.log()
