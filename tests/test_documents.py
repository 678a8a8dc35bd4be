"""List pages whose JSON the database writes (api/documents.py), and the formatted phones it takes as stored.

The server under test runs with GENIZIZ_CHECK_SHAPES=1: every such page is also read as ORM objects, shaped by
pydantic and compared. Here: data that a JSON writer can get wrong (quotes, backslashes, control characters,
non-ASCII, big numbers, numbers of other countries, several contacts in order, empty lists) reads the same
through the database's JSON and through Python's shaping; the statements are the ones used; custom fields
send a page back to Python; the entries are stored as compact text in the API's key order (migration 0026 writes
PostgreSQL's again so); migration 0025 formats the phones already stored, and a downgrade removes them.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import orjson
from sqlalchemy import select, text

from geniziz.api.auth import Principal
from geniziz.api.context import Ctx
from geniziz.api.resource import REGISTRY
from geniziz.app import load_domains
from geniziz.contacts.models import Contact
from geniziz.db import Database, insert_rows, new_id
from geniziz.leads.models import Lead
from geniziz.leads.schemas import LeadRead
from tests.conftest import BACKEND, Api, Server
from tests.factories import make_contact, make_lead
from tests.test_scoping import run

load_domains()

ALL_FIELDS = ",".join(LeadRead.model_fields)  # a `_fields` page is shaped in Python
LABEL = 'a"b\\c\td\x07é'
AWKWARD = 'Quote " backslash \\ tab \t newline \n bell \x07 del \x7f é ü 中文 😀 \u2028 </script>'


def _page(api: Api, **params: Any) -> tuple[bytes, dict[str, Any]]:
    response = api.get("/lead/", params={"_limit": 100, **params})
    assert response.status_code == 200, response.text
    return response.content, response.json()


def test_a_page_written_by_the_database_reads_as_python_shapes_it(api: Api) -> None:
    lead = make_lead(api, name=AWKWARD, description=AWKWARD, industry="", url="https://example.com/a?b=c&d=\"e\"",
                     mrr=10**15, emails=[{"email": "Ünï@exämple.com", "type": LABEL}],
                     phones=[{"phone": "+44 20 7946 0958", "type": "office"}, {"phone": "+33 1 42 68 53 00"},
                             {"phone": "+1 415 555 0100", "type": "mobile"}],
                     addresses=[{"city": "Zürich", "label": None}, {}])
    contacts = [make_contact(api, lead_id=lead["id"], name=f"{AWKWARD} {i}", phones=[{"phone": "+81 3-1234-5678"}],
                             urls=[{"url": f"https://example.com/{i}"}]) for i in range(3)]
    make_contact(api, lead_id=lead["id"])  # no name, no emails, no phones
    bare = make_lead(api, name="Bare")  # no contacts, empty lists, nulls

    raw, page = _page(api)
    _, shaped = _page(api, _fields=ALL_FIELDS)
    assert page == shaped
    by_id = {record["id"]: record for record in page["data"]}
    assert by_id[bare["id"]]["contacts"] == [] and by_id[bare["id"]]["emails"] == []
    written = by_id[lead["id"]]
    # A single read is written by the database too; with `_fields`, shaped in Python.
    assert written == api.ok("GET", f"/lead/{lead['id']}/") == \
        api.ok("GET", f"/lead/{lead['id']}/", params={"_fields": ALL_FIELDS})
    assert written["name"] == AWKWARD and written["mrr"] == 10**15
    assert [p["phone_formatted"] for p in written["phones"]] == ["+44 20 7946 0958", "+33 1 42 68 53 00",
                                                                  "+1 415-555-0100"]
    assert [c["id"] for c in written["contacts"]][:3] == [c["id"] for c in contacts]  # in ID order
    assert written["addresses"][1] == {"label": None, "address_1": None, "address_2": None, "city": None,
                                       "state": None, "zipcode": None, "country": None}
    assert b"\n" not in raw  # control characters escaped, nothing but compact JSON between records

    # Pages by key, by skip and filtered (the IDs first, then their documents) are the same records.
    first, second = (_page(api, _limit=1, **extra)[1] for extra in ({}, {"_skip": 1}))
    assert first["data"][0]["id"] == bare["id"] and second["data"][0]["id"] == lead["id"]
    assert _page(api, _limit=1, _before=bare["id"])[1]["data"] == [written]
    assert _page(api, query="backslash")[1]["data"] == [written]


def test_pages_are_read_by_the_documents_statements(server: Server, api: Api, other: Api) -> None:
    """The REST page and read take read_documents' and read_document's statements (for the lead schema,
    compiled); they name the workspace on the leads and on the embedded contacts, as rows' statements do."""
    lead, foreign = make_lead(api, name="Mine"), make_lead(other, name="Theirs")
    contact = make_contact(api, lead_id=lead["id"])
    service = REGISTRY["lead"].service
    stray = new_id("cont")

    async def work(db: Database) -> dict[str, Any]:
        from geniziz.contacts.models import Contact

        async with db.unit(system=True, write=True) as s:  # corrupt on purpose: the other workspace's contact here
            s.add(Contact(id=stray, organization_id=other.org_id, lead_id=lead["id"], name="Stray"))
        try:
            async with db.unit(api.org_id) as s:
                ctx = Ctx(s, Principal(api.org_id, api.user_id, "admin", "key_x"))
                found = await service.read_documents(ctx, {}, 100, 0, None, LeadRead, frozenset({"custom"}))
                listed = service._documents(LeadRead, frozenset({"custom"})).listed
                other_ids = (await s.execute(listed, {"ids": [foreign["id"]]})).all()
                one = await service.read_document(ctx, lead["id"], LeadRead, frozenset({"custom"}))
                try:
                    await service.read_document(ctx, foreign["id"], LeadRead, frozenset({"custom"}))
                    theirs: Any = "read"
                except Exception as error:  # noqa: BLE001
                    theirs = getattr(error, "status", type(error).__name__)
                return {"found": None if found is None else orjson.loads(orjson.dumps(found[0])), "other": other_ids,
                        "one": orjson.loads(orjson.dumps(one)), "theirs": theirs}
        finally:
            async with db.unit(system=True, write=True) as s:
                await s.execute(text("DELETE FROM contact WHERE id = :i"), {"i": stray})

    out = run(server, work)
    assert out["found"] is not None
    assert [(r["id"], [c["id"] for c in r["contacts"]]) for r in out["found"]] == [(lead["id"], [contact["id"]])]
    assert out["other"] == [] and out["theirs"] == 404
    assert out["one"] == out["found"][0]
    assert service._documents(LeadRead, frozenset()) is None  # `custom` must be shown by Python then


def test_custom_fields_send_a_page_back_to_python(api: Api) -> None:
    lead = make_lead(api, name="Valued")
    make_contact(api, lead_id=lead["id"], name="Has a value")
    field = api.create("custom_field/contact", name="Tier", type="text")
    contact = api.ok("GET", "/contact/", params={"lead_id": lead["id"]})["data"][0]
    api.ok("PUT", f"/contact/{contact['id']}/", json={f"custom.{field['id']}": "gold"})
    record = _page(api)[1]["data"][0]
    assert record["custom"] == {} and record["contacts"][0]["custom"] == {"Tier": "gold"}
    assert record["contacts"][0][f"custom.{field['id']}"] == "gold"


def test_stored_phones_carry_their_formatted_number_that_python_never_sees(server: Server, api: Api) -> None:
    lead = make_lead(api, name="Stored", phones=[{"phone": "+442079460958"}])

    async def work(db: Database) -> Any:
        async with db.unit(api.org_id) as s:
            stored = await s.scalar(text("SELECT phones FROM lead WHERE id = :i"), {"i": lead["id"]})
            loaded = await s.scalar(select(Lead.phones).where(Lead.id == lead["id"]))
        return (json.loads(stored) if isinstance(stored, str) else stored), loaded

    stored, loaded = run(server, work)
    assert stored == [{"phone": "+442079460958", "type": "office", "phone_formatted": "+44 20 7946 0958"}]
    assert loaded == [{"phone": "+442079460958", "type": "office"}]


def test_entries_are_stored_as_compact_text_in_the_api_key_order(server: Server, api: Api) -> None:
    """What a page copies (db.Entries): the ORM's writes and the bulk inserts (imports) alike, on both databases."""
    lead = make_lead(api, name="Entries", emails=[{"type": "home", "email": "ann@acme.example"}],
                     phones=[{"type": "mobile", "phone": "+442079460958"}],
                     addresses=[{"country": "ES", "city": "Café", "label": "office"}])
    contact_id = new_id("cont")
    urls = [{"url": "https://acme.example/é", "type": "url"}]  # as an import writes it: dumped by the write model

    async def work(db: Database) -> Any:
        async with db.unit(api.org_id, write=True) as s:
            await insert_rows(s, Contact, [{"id": contact_id, "organization_id": api.org_id, "lead_id": lead["id"],
                                            "name": "Bulk", "emails": [{"email": "b@acme.example", "type": "office"}],
                                            "phones": [{"phone": "+15550629072", "type": "office"}], "urls": urls}])
        async with db.unit(api.org_id) as s:
            stored_lead = (await s.execute(text(
                "SELECT CAST(emails AS TEXT), CAST(phones AS TEXT), CAST(addresses AS TEXT) FROM lead WHERE id = :i"),
                {"i": lead["id"]})).one()
            stored_contact = (await s.execute(text(
                "SELECT CAST(emails AS TEXT), CAST(phones AS TEXT), CAST(urls AS TEXT) FROM contact WHERE id = :i"),
                {"i": contact_id})).one()
        return tuple(stored_lead), tuple(stored_contact)

    stored_lead, stored_contact = run(server, work)
    assert stored_lead == (
        '[{"email":"ann@acme.example","type":"home"}]',
        '[{"phone":"+442079460958","type":"mobile","phone_formatted":"+44 20 7946 0958"}]',
        '[{"label":"office","address_1":null,"address_2":null,"city":"Café","state":null,"zipcode":null,'
        '"country":"ES"}]')
    assert stored_contact == (
        '[{"email":"b@acme.example","type":"office"}]',
        '[{"phone":"+15550629072","type":"office","phone_formatted":"+1 555-062-9072"}]',
        '[{"url":"https://acme.example/é","type":"url"}]')
    page = api.get("/lead/", params={"_limit": 1}).json()["data"][0]  # the server checks it against Python's shaping
    assert page["contacts"][-1]["urls"] == urls and page["addresses"][0]["city"] == "Café"


async def _seed_as_stored(url: str, lead_id: str, *, emails: Any = (), phones: Any = (),
                          contact_urls: Any = None) -> None:
    """A workspace with one lead (and, given its URLs, one contact) written by SQL, entries as JSON text: rows as a
    migration finds them."""
    from geniziz.identity.service import create_workspace
    from geniziz.statuses.models import Status

    db = Database(url)
    try:
        async with db.system_session(write=True) as session:
            org, *_ = await create_workspace(session, "M", f"m-{secrets.token_hex(4)}@example.com", "M")
            status = await session.scalar(select(Status.id).where(
                Status.organization_id == org.id, Status.kind == "lead").limit(1))
            await session.execute(text(
                "INSERT INTO lead (id, organization_id, name, status_id, emails, phones, addresses, search_text, "
                "custom, date_created, date_updated) VALUES (:i, :o, 'L', :s, :e, :p, '[]', 'l', '{}', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                {"i": lead_id, "o": org.id, "s": status, "e": json.dumps(list(emails)), "p": json.dumps(list(phones))})
            if contact_urls is not None:
                await session.execute(text(
                    "INSERT INTO contact (id, organization_id, lead_id, emails, phones, urls, email_keys, phone_keys, "
                    "custom, date_created, date_updated) VALUES (:i, :o, :l, '[]', '[]', :u, '|', '|', '{}', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                    {"i": new_id("cont"), "o": org.id, "l": lead_id, "u": json.dumps(contact_urls)})
    finally:
        await db.dispose()


def test_migration_0026_writes_the_entries_again_in_the_api_key_order(tmp_path: Any) -> None:
    """On PostgreSQL the entries' JSONB becomes json text in the read models' key order (0026); a downgrade
    gives JSONB back. On SQLite the migration has nothing to do, and the same assertions hold."""
    from alembic import command

    from geniziz.migrate import alembic_config
    from tests.conftest import empty_database

    lead = new_id("lead")
    emails = [{"type": "home", "email": "Zoë@acme.example"}, {"email": 'q"b\\c@acme.example', "type": "x"}]
    odd = [{"url": "https://a.example", "type": "url", "note": "kept"}, "not an entry"]

    async def stored(url: str) -> tuple[str, str, str | None]:
        db = Database(url)
        try:
            async with db.system_session() as session:
                row = (await session.execute(text(
                    "SELECT CAST(lead.emails AS TEXT), CAST(contact.urls AS TEXT) FROM lead "
                    "JOIN contact ON contact.lead_id = lead.id WHERE lead.id = :i"), {"i": lead})).one()
                kind = await session.scalar(text(
                    "SELECT data_type FROM information_schema.columns WHERE table_name = 'lead' "
                    "AND column_name = 'emails'")) if session.bind.dialect.name == "postgresql" else None
                return row[0], row[1], kind
        finally:
            await db.dispose()

    postgresql = BACKEND == "postgresql"
    with empty_database(tmp_path) as url:
        config = alembic_config(url)
        command.upgrade(config, "0025")
        asyncio.run(_seed_as_stored(url, lead, emails=emails, contact_urls=odd))
        command.upgrade(config, "0026")
        emails_text, urls_text, kind = asyncio.run(stored(url))
        assert json.loads(emails_text) == emails and json.loads(urls_text) == odd  # nothing lost
        if postgresql:
            assert kind == "json"
            assert emails_text == '[{"email":"Zoë@acme.example","type":"home"},{"email":"q\\"b\\\\c@acme.example",' \
                                  '"type":"x"}]'
            assert urls_text == '[{"url":"https://a.example","type":"url","note":"kept"},"not an entry"]'
        command.downgrade(config, "0025")
        emails_text, urls_text, kind = asyncio.run(stored(url))
        assert json.loads(emails_text) == emails and json.loads(urls_text) == odd
        assert kind == ("jsonb" if postgresql else None)


def test_migration_0025_formats_the_stored_phones(tmp_path: Any) -> None:
    from alembic import command

    from geniziz.migrate import alembic_config
    from tests.conftest import empty_database

    lead = new_id("lead")

    async def stored(url: str) -> Any:
        db = Database(url)
        try:
            async with db.system_session() as session:
                value = await session.scalar(text("SELECT phones FROM lead WHERE id = :i"), {"i": lead})
                return json.loads(value) if isinstance(value, str) else value
        finally:
            await db.dispose()

    with empty_database(tmp_path) as url:
        config = alembic_config(url)
        command.upgrade(config, "0024")
        asyncio.run(_seed_as_stored(url, lead, phones=[{"phone": "+15550629072", "type": "office"},
                                                       {"phone": "12", "type": "x"}]))
        command.upgrade(config, "head")
        assert asyncio.run(stored(url)) == [
            {"phone": "+15550629072", "type": "office", "phone_formatted": "+1 555-062-9072"},
            {"phone": "12", "type": "x", "phone_formatted": "12"}]  # not a number phonenumbers parses: as it is
        command.downgrade(config, "0024")
        assert asyncio.run(stored(url)) == [{"phone": "+15550629072", "type": "office"}, {"phone": "12", "type": "x"}]
