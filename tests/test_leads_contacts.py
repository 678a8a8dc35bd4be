"""Leads and contacts: the spec's examples, defaults, filters, search, embedding and cascades."""

from __future__ import annotations

from sqlalchemy import text

from geniziz.db import Database
from tests.conftest import BACKEND, Api, Server, member_client
from tests.factories import make_contact, make_lead, make_opportunity, make_task
from tests.test_scoping import run

SPEC_LEAD = {
    "name": "Acme Inc", "url": "https://acme.example", "industry": "Software",
    "status_id": "stat_1a2b3c4d5e6f7g8h9i0j1k", "owner_id": "user_0a1b2c3d4e5f6g7h8i9j0k", "mrr": 4900,
    "emails": [{"email": "hello@acme.example", "type": "office"}],
    "phones": [{"phone": "+15551234567", "type": "office"}],
    "addresses": [{"city": "Austin", "country": "US"}],
}


def lead_statuses(api: Api) -> list[dict]:
    return api.ok("GET", "/status/lead/")["data"]


def test_spec_create_lead_example(api: Api) -> None:
    """The spec's request body, with its IDs swapped for this workspace's real ones."""
    status = lead_statuses(api)[2]
    lead = api.create("lead", **{**SPEC_LEAD, "status_id": status["id"], "owner_id": api.user_id})
    expected = {key: SPEC_LEAD[key] for key in ("name", "url", "mrr", "emails")}
    assert {key: lead[key] for key in expected} == expected
    assert lead["status_id"] == status["id"] and lead["owner_id"] == api.user_id
    assert lead["phones"] == [{"phone": "+15551234567", "type": "office", "phone_formatted": "+1 555-123-4567"}]
    assert lead["addresses"][0]["city"] == "Austin" and lead["industry"] == "Software"
    assert lead["date_created"] == lead["date_updated"]
    assert api.ok("GET", f"/lead/{lead['id']}/") == lead
    listed = api.ok("GET", "/lead/")
    assert listed["has_more"] is False and listed["data"] == [lead]


def test_spec_ids_from_another_workspace_or_nowhere_are_refused(api: Api) -> None:
    body = api.bad("POST", "/lead/", json=SPEC_LEAD)
    assert set(body["field-errors"]) == {"status_id", "owner_id"}
    assert api.ok("GET", "/lead/")["data"] == []  # nothing was created


def test_spec_update_lead_example_changes_only_what_is_sent(api: Api) -> None:
    statuses = lead_statuses(api)
    lead = api.create("lead", **{**SPEC_LEAD, "status_id": statuses[0]["id"], "owner_id": api.user_id})
    updated = api.ok("PUT", f"/lead/{lead['id']}/", json={"name": "Acme Incorporated", "status_id": statuses[3]["id"]})
    assert updated["name"] == "Acme Incorporated" and updated["status_id"] == statuses[3]["id"]
    for unchanged in ("url", "emails", "phones", "mrr", "date_created", "owner_id", "addresses"):
        assert updated[unchanged] == lead[unchanged]
    assert updated["date_updated"] >= lead["date_updated"]
    api.bad("PUT", f"/lead/{lead['id']}/", "status_id", json={"status_id": "stat_won0000000000000000000"})


def test_lead_defaults_to_first_status_and_refuses_opportunity_statuses(api: Api) -> None:
    lead = api.create("lead", name="Default status")
    assert lead["status_id"] == lead_statuses(api)[0]["id"]
    opportunity_status = api.ok("GET", "/status/opportunity/")["data"][0]["id"]
    api.bad("PUT", f"/lead/{lead['id']}/", "status_id", json={"status_id": opportunity_status})


def test_lead_filters_and_query_search(api: Api) -> None:
    statuses = lead_statuses(api)
    member = member_client(api)
    a = api.create("lead", name="Northwind Traders", status_id=statuses[1]["id"], owner_id=member.user_id)
    b = api.create("lead", name="Contoso", emails=[{"email": "sales@contoso.example"}])
    make_contact(api, lead_id=b["id"], name="Grace Hopper", phones=[{"phone": "+44 20 7946 0958"}])
    c = make_lead(api)
    ids = lambda **params: [row["id"] for row in api.ok("GET", "/lead/", params=params)["data"]]  # noqa: E731
    assert ids(status_id=statuses[1]["id"]) == [a["id"]]
    assert ids(owner_id=member.user_id) == [a["id"]]
    assert ids(query="northwind") == [a["id"]]
    assert ids(query="HOPPER") == [b["id"]]  # a contact's name
    assert ids(query="contoso.example") == [b["id"]]  # an email
    assert ids(query="+442079460958") == [b["id"]]  # a phone, in E.164
    assert ids(query="100%_") == []  # LIKE wildcards are literal
    assert c["id"] in ids()


def test_lead_embeds_contacts_and_delete_cascades(api: Api) -> None:
    lead = make_lead(api)
    contact = make_contact(api, lead_id=lead["id"], name="Ada")
    opportunity = make_opportunity(api, lead_id=lead["id"])
    task = make_task(api, lead_id=lead["id"])
    assert [c["id"] for c in api.ok("GET", f"/lead/{lead['id']}/")["contacts"]] == [contact["id"]]
    assert api.ok("DELETE", f"/lead/{lead['id']}/") == {}
    for path in (f"/lead/{lead['id']}/", f"/contact/{contact['id']}/", f"/opportunity/{opportunity['id']}/",
                 f"/task/{task['id']}/"):
        api.bad("GET", path, status=404)
    api.bad("DELETE", f"/lead/{lead['id']}/", status=404)


def test_reads_and_pages_embed_every_contact_in_order(api: Api) -> None:
    """Leads are read as rows (api/rows.py): one record per lead however many contacts it has, its contacts in
    creation order, a lead without contacts kept; the server shapes each read the ORM's way too and compares."""
    empty, lead = make_lead(api, name="No contacts"), make_lead(api, name="Three contacts")
    contacts = [make_contact(api, lead_id=lead["id"], name=f"Person {i}")["id"] for i in range(3)]
    assert [c["id"] for c in api.ok("GET", f"/lead/{lead['id']}/")["contacts"]] == contacts
    assert api.ok("GET", f"/lead/{empty['id']}/")["contacts"] == []
    page = api.ok("GET", "/lead/?_limit=2")
    assert [r["id"] for r in page["data"]] == [lead["id"], empty["id"]] and page["has_more"] in (True, False)
    assert [c["id"] for c in page["data"][0]["contacts"]] == contacts and page["data"][1]["contacts"] == []
    assert api.ok("GET", f"/lead/?_limit=1&_before={lead['id']}")["data"][0]["id"] == empty["id"]
    assert api.ok("GET", "/lead/?_skip=1&_limit=1")["data"][0]["id"] == empty["id"]
    only = api.ok("GET", f"/lead/{lead['id']}/?_fields=id,contacts")
    assert set(only) == {"id", "contacts"} and [c["id"] for c in only["contacts"]] == contacts


def test_timestamps_read_as_rows_are_written_as_the_orms(api: Api, server: Server) -> None:
    """Rows carry timestamps the database formatted (api/rows.py's api_timestamp): exactly what
    format_timestamp writes of the ORM's datetime (the server compares both on every read), for a time without
    a fraction (as SQL writes one), milliseconds cut (not rounded) and a year before 1000."""
    lead = make_lead(api)
    contact = make_contact(api, lead_id=lead["id"])
    fraction = "" if BACKEND == "sqlite" else "+00"  # SQLite's DATETIME is naive text, in UTC

    async def stamp(db: Database) -> None:
        async with db.system_session(write=True) as session:  # raw SQL, committed when the unit ends
            await session.execute(text(f"UPDATE lead SET date_updated = '2026-01-15 09:30:00{fraction}' "
                                       "WHERE id = :id"), {"id": lead["id"]})
            await session.execute(text(f"UPDATE contact SET date_created = '0999-03-04 05:06:07.891999{fraction}' "
                                       "WHERE id = :id"), {"id": contact["id"]})

    run(server, stamp)
    for read in (api.ok("GET", f"/lead/{lead['id']}/"), api.ok("GET", "/lead/?_limit=1")["data"][0]):
        assert read["date_updated"] == "2026-01-15T09:30:00.000Z" and read["date_created"] == lead["date_created"]
        assert read["contacts"][0]["date_created"] == "0999-03-04T05:06:07.891Z"


def test_contact_normalizes_and_validates_contact_data(api: Api) -> None:
    contact = api.create("contact", lead_id=make_lead(api)["id"], name="Linus", title="CTO",
                         emails=[{"email": "Linus@Example.COM", "type": "work"}],
                         phones=[{"phone": "(415) 555-0132", "type": "mobile"}],
                         urls=[{"url": "https://linkedin.com/in/linus", "type": "linkedin"}])
    assert contact["emails"] == [{"email": "Linus@example.com", "type": "work"}]
    assert contact["phones"] == [{"phone": "+14155550132", "type": "mobile", "phone_formatted": "+1 415-555-0132"}]
    assert contact["urls"][0]["type"] == "linkedin"
    api.bad("POST", "/contact/", "emails.0.email", json={"name": "x", "emails": [{"email": "nope@"}]})
    api.bad("POST", "/contact/", "phones.0.phone", json={"name": "x", "phones": [{"phone": "call me"}]})
    api.bad("PUT", f"/contact/{contact['id']}/", "lead_id", json={"lead_id": None})


def test_contact_without_lead_gets_a_lead_named_after_it(api: Api) -> None:
    contact = api.create("contact", name="Margaret Hamilton", emails=[{"email": "mh@apollo.example"}])
    lead = api.ok("GET", f"/lead/{contact['lead_id']}/")
    assert lead["name"] == "Margaret Hamilton" and [c["id"] for c in lead["contacts"]] == [contact["id"]]
    nameless = api.create("contact", emails=[{"email": "anon@apollo.example"}])
    assert api.ok("GET", f"/lead/{nameless['lead_id']}/")["name"] == "anon@apollo.example"


def test_contact_filters(api: Api) -> None:
    lead = make_lead(api)
    a = make_contact(api, lead_id=lead["id"], emails=[{"email": "a_b@x.example"}], phones=[{"phone": "+15550001111"}])
    b = make_contact(api, emails=[{"email": "ab@x.example"}])
    ids = lambda **params: [row["id"] for row in api.ok("GET", "/contact/", params=params)["data"]]  # noqa: E731
    assert ids(lead_id=lead["id"]) == [a["id"]]
    assert ids(email="A_B@x.example") == [a["id"]]  # case-insensitive; "_" is not a wildcard
    assert ids(email="ab@x.example") == [b["id"]]
    assert ids(phone="(555) 000-1111") == [a["id"]]
    api.bad("GET", "/contact/", "email", params={"email": "not an email"})
    api.bad("GET", "/contact/", "phone", params={"phone": "zzz"})


def test_moving_a_contact_updates_both_leads_search(api: Api) -> None:
    first, second = make_lead(api), make_lead(api)
    contact = make_contact(api, lead_id=first["id"], name="Wandering Wanda")
    api.ok("PUT", f"/contact/{contact['id']}/", json={"lead_id": second["id"]})
    found = [row["id"] for row in api.ok("GET", "/lead/", params={"query": "wanda"})["data"]]
    assert found == [second["id"]]
    api.ok("DELETE", f"/contact/{contact['id']}/")
    assert api.ok("GET", "/lead/", params={"query": "wanda"})["data"] == []
