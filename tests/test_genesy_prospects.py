"""Genesy's optional endpoints, as Genesy calls them: contact and company export (batch create), sync
(find) and update, associations, activity logging and the users list."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, member_client
from tests.factories import make_contact, make_lead
from tests.test_genesy import Genesy, genesy  # noqa: F401 - the fixture

JOHN = {"externalId": "lead-123", "email": "john@acme.example", "firstName": "John", "lastName": "Doe",
        "phone": "+1 415 555 2671", "company": "Acme Inc", "title": "CEO",
        "linkedinUrl": "https://linkedin.com/in/johndoe", "location": "San Francisco", "campaigns": "Q1"}
ACME = {"externalId": "789", "name": "Acme Inc", "domain": "acme.example", "industry": "Technology",
        "numberOfEmployees": 150, "linkedinUrl": "https://linkedin.com/company/acme-example"}


def contacts_with(api: Api, email: str) -> list[dict[str, Any]]:
    return api.ok("GET", "/contact/", params={"email": email})["data"]


def test_export_contacts_and_companies(api: Api, genesy: Genesy) -> None:
    # Companies first, as Genesy exports them, then their contacts.
    companies = genesy.ok("POST", "/companies", json={"companies": [ACME]})
    [company] = companies["results"]
    assert company["externalId"] == "789" and company["crmId"].startswith("lead_")
    lead = api.ok("GET", f"/lead/{company['crmId']}/")
    assert (lead["name"], lead["url"], lead["industry"]) == ("Acme Inc", "https://acme.example", "Technology")

    created = genesy.ok("POST", "/contacts", json={"contacts": [JOHN, {"externalId": "lead-456", "firstName": "Ann"}]})
    assert [r["externalId"] for r in created["results"]] == ["lead-123", "lead-456"]
    john = api.ok("GET", f"/contact/{created['results'][0]['crmId']}/")
    assert john["lead_id"] == company["crmId"]  # on its company's lead
    assert (john["name"], john["title"]) == ("John Doe", "CEO")
    assert [e["email"] for e in john["emails"]] == ["john@acme.example"]
    assert [p["phone"] for p in john["phones"]] == ["+14155552671"]
    assert [u["url"] for u in john["urls"]] == ["https://linkedin.com/in/johndoe"]
    # What Genesy creates is recorded as created through it.
    created_activity = api.ok("GET", "/activity/created/", params={"lead_id": company["crmId"]})["data"]
    assert {(a["object_type"], a["source"]) for a in created_activity} == {("lead", "genesy"), ("contact", "genesy")}
    ann = api.ok("GET", f"/contact/{created['results'][1]['crmId']}/")
    assert ann["name"] == "Ann" and ann["lead_id"] != company["crmId"]  # no company: a lead of her own

    # Exporting again creates nothing: Genesy's IDs are remembered (never used as ours).
    again = genesy.ok("POST", "/contacts", json={"contacts": [JOHN]})
    assert again["results"] == created["results"][:1]
    assert genesy.ok("POST", "/companies", json={"companies": [ACME]}) == companies
    assert len(contacts_with(api, "john@acme.example")) == 1
    assert not [c for c in api.ok("GET", "/contact/", params={"_limit": 200})["data"] if "lead-123" in str(c)]
    # A new Genesy ID for a known person finds them by email too.
    other_id = genesy.ok("POST", "/contacts", json={"contacts": [{**JOHN, "externalId": "lead-999"}]})
    assert other_id["results"] == [{"externalId": "lead-999", "crmId": john["id"]}]


def test_sync_finds_without_creating(api: Api, genesy: Genesy) -> None:
    lead = make_lead(api, name="Sync Corp", url="https://www.sync-corp.example/about")
    sarah = make_contact(api, lead_id=lead["id"], name="Sarah Chen", emails=[{"email": "sarah@sync-corp.example"}],
                         urls=[{"url": "https://www.linkedin.com/in/SarahChen/", "type": "linkedin"}])
    request = {"contacts": [
        {"externalId": "lead-1", "email": "SARAH@sync-corp.example", "firstName": "Sarah"},
        {"externalId": "lead-2", "email": "someone-else@example.com", "linkedinUrl": "linkedin.com/in/sarahchen"},
        {"externalId": "lead-3", "email": "new@prospect.example", "firstName": "New", "lastName": "Prospect"},
    ]}
    for _ in range(2):  # re-syncing finds the same and never creates
        synced = genesy.ok("POST", "/contacts/sync", json=request)["results"]
        assert [(r["externalId"], r["crmId"]) for r in synced] == [("lead-1", sarah["id"]), ("lead-2", sarah["id"])]
        assert synced[0]["properties"] == {**synced[0]["properties"], "email": "sarah@sync-corp.example",
                                           "name": "Sarah Chen", "companyId": lead["id"]}
    assert contacts_with(api, "new@prospect.example") == []
    assert len(contacts_with(api, "sarah@sync-corp.example")) == 1

    companies = genesy.ok("POST", "/companies/sync", json={"companies": [
        {"externalId": "c-1", "domain": "SYNC-CORP.example"},
        {"externalId": "c-2", "domain": "https://sync-corp.example/team", "employeeCount": 5},
        {"externalId": "c-3", "name": "sync corp"},
        {"externalId": "c-4", "domain": "unknown-company.example", "name": "Unknown"},
    ]})["results"]
    assert [(r["externalId"], r["crmId"]) for r in companies] == [("c-1", lead["id"]), ("c-2", lead["id"]),
                                                                  ("c-3", lead["id"])]
    assert companies[0]["properties"]["domain"] == "sync-corp.example"
    # A company Genesy created with a LinkedIn page is found by it later.
    created = genesy.ok("POST", "/companies", json={"companies": [{**ACME, "externalId": "c-5"}]})["results"][0]
    by_linkedin = genesy.ok("POST", "/companies/sync", json={"companies": [
        {"externalId": "c-6", "linkedinUrl": "https://www.linkedin.com/company/acme-example/"}]})["results"]
    assert [r["crmId"] for r in by_linkedin] == [created["crmId"]]


def test_update_and_associate(api: Api, other: Api, genesy: Genesy) -> None:
    [company] = genesy.ok("POST", "/companies", json={"companies": [ACME]})["results"]
    [contact] = genesy.ok("POST", "/contacts", json={"contacts": [{**JOHN, "company": None}]})["results"]
    theirs = make_contact(other)

    updated = genesy.ok("PUT", "/contacts", json={"contacts": [
        {"crmId": contact["crmId"], "title": "CTO", "email": "john.doe@acme.example", "lastContactedAt": "x"},
        {"crmId": theirs["id"], "title": "Hijacked"},
        {"crmId": "cont_00000000000000000000zz", "title": "Nobody"},
    ]})
    assert updated["results"] == [{"crmId": contact["crmId"], "externalId": None}]
    assert {e["crmId"] for e in updated["errors"]} == {theirs["id"], "cont_00000000000000000000zz"}
    john = api.ok("GET", f"/contact/{contact['crmId']}/")
    assert john["title"] == "CTO" and [e["email"] for e in john["emails"]] == ["john.doe@acme.example",
                                                                               "john@acme.example"]
    assert other.ok("GET", f"/contact/{theirs['id']}/")["title"] != "Hijacked"

    genesy.ok("PUT", "/companies", json={"companies": [{"crmId": company["crmId"], "industry": "Software"}]})
    assert api.ok("GET", f"/lead/{company['crmId']}/")["industry"] == "Software"

    linked = genesy.ok("POST", "/associations", json={"associations": [
        {"contactCRMId": contact["crmId"], "companyCRMId": company["crmId"]},
        {"contactCrmId": contact["crmId"], "companyCrmId": company["crmId"]},  # already linked: upsert
    ]})
    assert linked == {"success": True, "created": 2}
    assert api.ok("GET", f"/contact/{contact['crmId']}/")["lead_id"] == company["crmId"]
    partial = genesy.ok("POST", "/associations", json={"associations": [
        {"contactCRMId": theirs["id"], "companyCRMId": company["crmId"]}]})
    assert partial["created"] == 0 and partial["errors"][0]["error"] == "Contact not found"
    assert other.ok("GET", f"/contact/{theirs['id']}/")["lead_id"] == theirs["lead_id"]


def test_prospect_validation(api: Api, genesy: Genesy) -> None:
    for path, body, field in (
        ("/contacts", {}, "contacts"), ("/contacts", {"contacts": "x"}, "contacts"),
        ("/contacts", {"contacts": [{"email": "a@b.example"}]}, "contacts.0.externalId"),
        ("/contacts", {"contacts": [{"externalId": 5}]}, "contacts.0.externalId"),
        ("/contacts", {"contacts": [{"externalId": "e", "email": ["a@b.example"]}]}, "contacts.0.email"),
        ("/contacts", {"contacts": [{"externalId": f"e{i}"} for i in range(201)]}, "contacts"),
        ("/contacts/sync", {"contacts": [{}]}, "contacts.0.externalId"),
        ("/companies", {"companies": [{"externalId": "c", "name": 7}]}, "companies.0.name"),
        ("/associations", {"associations": [{"contactCRMId": "x"}]}, "associations.0.companyCRMId"),
    ):
        genesy.error("POST", path, 400, field, json=body)
    genesy.error("PUT", "/contacts", 400, "contacts.0.crmId", json={"contacts": [{"title": "x"}]})
    # A bad reference fails the whole batch: nothing is created.
    genesy.error("POST", "/contacts", 400, "contacts.1.ownerId", json={"contacts": [
        {"externalId": "ok", "email": "fine@never.example", "company": "Never Inc"},
        {"externalId": "bad", "company": "Never Inc", "ownerId": "nobody@example.com"}]})
    assert contacts_with(api, "fine@never.example") == []
    assert api.ok("GET", "/lead/", params={"query": "never inc"})["data"] == []
    # Rough contact data is not a reason to lose the contact: what cannot be stored is left out.
    [rough] = genesy.ok("POST", "/contacts", json={"contacts": [
        {"externalId": "rough", "firstName": "Rough", "email": "not-an-email", "phone": "call me"}]})["results"]
    contact = api.ok("GET", f"/contact/{rough['crmId']}/")
    assert (contact["name"], contact["emails"], contact["phones"]) == ("Rough", [], [])


def test_activities(api: Api, genesy: Genesy) -> None:
    lead = make_lead(api)
    contact = make_contact(api, lead_id=lead["id"])
    email = genesy.ok("POST", "/activities", 201, json={
        "type": "EMAIL", "subject": "[1/3] [FROM Acme Corp] John Smith", "body": "<p>Hi Jane,</p><p>Following up</p>",
        "direction": "OUTBOUND", "ownerId": api.user_id, "occurredAt": "2024-12-31T10:00:00Z",
        "contactId": contact["id"], "companyId": lead["id"], "metadata": {"messageId": "email-1", "sequenceIndex": 1}})
    assert email["id"].startswith("acti_") and email["direction"] == "OUTBOUND"
    assert email["occurredAt"] == "2024-12-31T10:00:00.000Z"
    rest = api.ok("GET", f"/activity/email/{email['id']}/")
    assert rest == {**rest, "direction": "outbound", "status": "sent", "subject": "[1/3] [FROM Acme Corp] John Smith",
                    "lead_id": lead["id"], "contact_id": contact["id"], "user_id": api.user_id}
    assert "Following up" in rest["body_text"]

    reply = genesy.ok("POST", "/activities", 201, json={
        "type": "LINKEDIN", "subject": "[Acme] Jane Doe", "body": "Sounds good", "direction": "INBOUND",
        "contactId": contact["id"], "metadata": {"messageId": "li-7"}})
    message = api.ok("GET", f"/activity/channel_message/{reply['id']}/")
    assert message == {**message, "channel": "linkedin", "direction": "inbound", "external_id": "li-7",
                       "lead_id": lead["id"], "contact_id": contact["id"]}
    assert "Sounds good" in message["text"]
    # A retry of the same message is the same activity.
    assert genesy.ok("POST", "/activities", 201, json={
        "type": "LINKEDIN", "body": "Sounds good", "direction": "INBOUND", "contactId": contact["id"],
        "metadata": {"messageId": "li-7"}})["id"] == reply["id"]
    connection = genesy.ok("POST", "/activities", 201, json={"type": "LINKEDIN_CONNECTION", "contactId": lead["id"]})
    assert api.ok("GET", f"/activity/channel_message/{connection['id']}/")["channel"] == "linkedin_connection"

    for body, field in (({"type": "EMAIL"}, "contactId"), ({"contactId": contact["id"]}, "type"),
                        ({"type": "EMAIL", "contactId": contact["id"], "direction": "SIDEWAYS"}, "direction"),
                        ({"type": "EMAIL", "contactId": "cont_00000000000000000000zz"}, "contactId"),
                        ({"type": "EMAIL", "contactId": contact["id"], "occurredAt": "yesterday"}, "occurredAt"),
                        ({"type": "EMAIL", "contactId": contact["id"], "ownerId": "ghost@example.com"}, "ownerId")):
        genesy.error("POST", "/activities", 400, field, json=body)


def test_users_for_owner_assignment(api: Api, genesy: Genesy) -> None:
    with member_client(api) as member:
        users = genesy.ok("GET", "/users")
        assert {u["id"] for u in users} == {api.user_id, member.user_id}
        assert all(set(u) == {"id", "name", "email"} and u["name"] and "@" in u["email"] for u in users)
        # An ID from /users is what Genesy sends back as ownerId.
        assert genesy.ok("POST", "/tasks", 201, json={"subject": "x", "ownerId": member.user_id})["ownerId"] \
            == member.user_id
