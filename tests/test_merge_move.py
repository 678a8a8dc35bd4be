"""Lead merge (POST /lead/merge/) and move (POST /lead/{id}/move/), through HTTP on the real server, with
every kind of record a lead has today, the remapping rules one by one, and a failure injected half-way
(a database trigger refusing a late row) that must leave nothing half done."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import text

from geniziz.db import Database
from tests.conftest import BACKEND, Api, Server, member_client, start_server, stop_server, wait_until
from tests.factories import make_activity, make_contact, make_custom_activity_type, make_lead, make_opportunity, \
    make_task
from tests.test_genesy import Genesy
from tests.test_mcp import Mcp

KINDS = ("note", "call", "email", "sms", "meeting", "channel_message")


# --- helpers -------------------------------------------------------------------------------------------
def _sql(database_url: str, *statements: str) -> None:
    async def run() -> None:
        db = Database(database_url)
        try:
            async with db.system_session(write=True) as session:
                for statement in statements:
                    await session.execute(text(statement))
                await session.commit()
        finally:
            await db.dispose()

    asyncio.run(run())


@contextmanager
def failing(database_url: str, table: str, event: str, when: str) -> Iterator[None]:
    """A trigger that refuses ``event`` ("UPDATE OF lead_id", "INSERT") on ``table`` rows matching ``when``
    (NEW.<col> = ...): a failure late in a merge, move or import, after earlier rows were written."""
    name = f"flows_fail_{secrets.token_hex(3)}"
    if BACKEND == "sqlite":
        _sql(database_url, f"CREATE TRIGGER {name} BEFORE {event} ON {table} WHEN {when} "
                           "BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
        drop = [f"DROP TRIGGER IF EXISTS {name}"]
    else:
        _sql(database_url,
             f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure' "
             "USING ERRCODE = 'check_violation'; END $$ LANGUAGE plpgsql",
             f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW WHEN ({when}) "
             f"EXECUTE FUNCTION {name}()")
        drop = [f"DROP TRIGGER IF EXISTS {name} ON {table}", f"DROP FUNCTION IF EXISTS {name}()"]
    try:
        yield
    finally:
        _sql(database_url, *drop)


def children(api: Api, lead_id: str) -> dict[str, list[str]]:
    """The IDs of everything on a lead, as its workspace reads them."""
    out = {name: sorted(r["id"] for r in api.ok("GET", f"/{name}/", params={"lead_id": lead_id, "_limit": 200})["data"])
           for name in ("contact", "opportunity", "task", "activity", "activity/emailthread")}
    return out


def full_lead(api: Api, **lead: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A lead with a record of every kind it can have today; returns it and what was made."""
    made: dict[str, Any] = {}
    lead = make_lead(api, **lead)
    lead_id = lead["id"]
    made["contact"] = make_contact(api, lead_id=lead_id, emails=[{"email": f"c-{secrets.token_hex(3)}@x.example"}])
    made["opportunity"] = make_opportunity(api, lead_id=lead_id, contact_id=made["contact"]["id"])
    made["line_item"] = api.ok("POST", f"/opportunity/{made['opportunity']['id']}/line_item/",
                               json={"name": "Seat", "unit_price": 1500, "quantity": 2})
    made["task"] = make_task(api, lead_id=lead_id, contact_id=made["contact"]["id"])
    for kind in KINDS:
        made[kind] = make_activity(api, kind, lead_id=lead_id, contact_id=made["contact"]["id"])
    visit = made["custom_type"] = make_custom_activity_type(api)
    made["custom"] = make_activity(api, "custom", lead_id=lead_id, custom_activity_type_id=visit["id"],
                                   fields={"rating": 4})
    status = api.ok("GET", "/status/lead/")["data"][-1]["id"]
    api.ok("PUT", f"/lead/{lead_id}/", json={"status_id": status})  # a status_change/lead activity
    api.ok("PUT", f"/task/{made['task']['id']}/", json={"is_complete": True})  # a task_completed activity
    return api.ok("GET", f"/lead/{lead_id}/"), made


def admin_of_both(api: Api, other: Api) -> None:
    """Make `api`'s admin an admin of `other`'s workspace too."""
    email = api.ok("GET", f"/user/{api.user_id}/")["email"]
    other.ok("POST", "/membership/", json={"email": email, "role": "admin"})


# --- merge ---------------------------------------------------------------------------------------------
def test_merge_moves_every_record_fills_and_unites_fields_and_deletes_the_source(api: Api) -> None:
    source, made = full_lead(api, url="https://source.example", description="From the source",
                             industry="Retail", emails=[{"email": "shared@acme.example"}, {"email": "s@acme.example"}],
                             phones=[{"phone": "+15551230001"}], addresses=[{"city": "Austin", "country": "US"}])
    destination = make_lead(api, name="Destination", emails=[{"email": "SHARED@acme.example", "type": "office"}],
                            phones=[{"phone": "+15551230002"}], industry="Software")
    with Genesy(api) as genesy:
        company = {"externalId": f"co-{secrets.token_hex(3)}", "name": "Source Co", "domain": "source-co.example"}
        linked = genesy.ok("POST", "/companies", json={"companies": [company]})["results"][0]["crmId"]
        source_before = children(api, source["id"])
        other_before = children(api, linked)
        genesy_lead = linked
    assert all(source_before[name] for name in ("contact", "opportunity", "task", "activity", "activity/emailthread"))
    dest_before = children(api, destination["id"])

    merged = api.ok("POST", "/lead/merge/", status=200, json={"source": source["id"], "destination": destination["id"]})

    assert merged["id"] == destination["id"] and merged["name"] == "Destination"
    api.bad("GET", f"/lead/{source['id']}/", status=404)
    after = children(api, destination["id"])
    for name in ("contact", "opportunity", "task", "activity/emailthread"):
        assert after[name] == sorted(source_before[name] + dest_before[name]), name
    assert set(source_before["activity"]) < set(after["activity"])  # plus the lead_merge activity
    assert children(api, source["id"]) == {name: [] for name in after}
    # Empty fields filled, lists united without duplicates (emails compared case-insensitively).
    assert merged["url"] == "https://source.example" and merged["description"] == "From the source"
    assert merged["industry"] == "Software"  # the destination's own value stays
    assert [e["email"].lower() for e in merged["emails"]] == ["shared@acme.example", "s@acme.example"]
    assert [p["phone"] for p in merged["phones"]] == ["+15551230002", "+15551230001"]
    assert merged["addresses"][0]["city"] == "Austin"
    assert [c["id"] for c in merged["contacts"]] == after["contact"]
    # Records keep their own links: the line item under its opportunity, the task's contact, the email's thread.
    assert api.ok("GET", f"/opportunity/{made['opportunity']['id']}/line_item/")["data"][0]["id"] == made["line_item"]["id"]
    assert api.ok("GET", f"/task/{made['task']['id']}/")["contact_id"] == made["contact"]["id"]
    assert api.ok("GET", f"/activity/email/{made['email']['id']}/")["lead_id"] == destination["id"]
    # The lead's search text knows its new contact.
    found = api.ok("GET", "/lead/", params={"query": made["contact"]["emails"][0]["email"]})["data"]
    assert [lead["id"] for lead in found] == [destination["id"]]
    # The timeline says what happened.
    record = api.ok("GET", "/activity/lead_merge/", params={"lead_id": destination["id"]})["data"]
    assert len(record) == 1 and record[0]["source_lead_id"] == source["id"]
    assert record[0]["moved"]["contact"] == 1 and record[0]["moved"]["activity"] == len(source_before["activity"])
    assert {"url", "description", "emails", "phones", "addresses"} <= set(record[0]["fields_filled"])
    assert other_before and genesy_lead  # the Genesy company is its own lead: merge it too, by its external ID
    api.ok("POST", "/lead/merge/", status=200, json={"source": genesy_lead, "destination": destination["id"]})
    with Genesy(api) as genesy:
        again = genesy.ok("POST", "/companies", json={"companies": [company]})["results"][0]
    assert again["crmId"] == destination["id"]  # Genesy's ID now names the destination


def test_merge_refuses_itself_other_workspaces_and_unknown_leads(api: Api, other: Api) -> None:
    lead, theirs = make_lead(api), make_lead(other)
    api.bad("POST", "/lead/merge/", "destination", json={"source": lead["id"], "destination": lead["id"]})
    body = api.bad("POST", "/lead/merge/", "source", json={"source": theirs["id"], "destination": lead["id"]})
    assert "not found" in body["error"]
    api.bad("POST", "/lead/merge/", "destination", json={"source": lead["id"], "destination": theirs["id"]})
    api.bad("POST", "/lead/merge/", "source", json={"source": "nope", "destination": lead["id"]})
    api.bad("POST", "/lead/merge/", "destination", json={"source": lead["id"]})
    api.bad("POST", "/lead/merge/", "colour", json={"source": lead["id"], "destination": lead["id"], "colour": 1})
    assert api.ok("GET", f"/lead/{lead['id']}/")["id"] == lead["id"]
    assert other.ok("GET", f"/lead/{theirs['id']}/")["id"] == theirs["id"]


def test_merge_over_mcp_needs_the_destructive_scope(api: Api) -> None:
    source, destination = make_lead(api), make_lead(api)
    contact = make_contact(api, lead_id=source["id"])
    args = {"action": "lead_merge", "args": {"source": source["id"], "destination": destination["id"]}}
    Mcp(api, "write_safe").fail("run_destructive_action", **args)
    assert api.ok("GET", f"/contact/{contact['id']}/")["lead_id"] == source["id"]
    merged = Mcp(api, "write_destructive").call("run_destructive_action", **args)
    assert merged["id"] == destination["id"] and [c["id"] for c in merged["contacts"]] == [contact["id"]]


def test_a_merge_that_fails_half_way_changes_nothing(api: Api) -> None:
    source, _ = full_lead(api)
    make_task(api, lead_id=source["id"], text="FAIL-MERGE")
    destination = make_lead(api)
    before = {lead["id"]: (api.ok("GET", f"/lead/{lead['id']}/"), children(api, lead["id"]))
              for lead in (source, destination)}
    # Tasks are repointed after contacts, threads and activities: those must come back.
    with failing(api.database_url, "task", "UPDATE OF lead_id", "NEW.text = 'FAIL-MERGE'"):
        response = api.post("/lead/merge/", json={"source": source["id"], "destination": destination["id"]})
    assert response.status_code == 400 and "refused" in response.json()["error"], response.text
    assert {lead_id: (api.ok("GET", f"/lead/{lead_id}/"), children(api, lead_id)) for lead_id in before} == before


# --- move ----------------------------------------------------------------------------------------------
def test_move_carries_every_record_and_remaps_references(api: Api, other: Api) -> None:
    admin_of_both(api, other)
    outsider = member_client(api)  # a member of A only: an owner that B does not know
    both = member_client(api)  # a member of A and of B
    other.ok("POST", "/membership/", json={"email": api.ok("GET", f"/user/{both.user_id}/")["email"]})
    nurture = api.create("status/lead", label="Nurture")  # not in B: falls back to B's default
    lead, made = full_lead(api, owner_id=outsider.user_id)
    api.ok("PUT", f"/lead/{lead['id']}/", json={"status_id": nurture["id"]})
    won_a = next(s for s in api.ok("GET", "/status/opportunity/")["data"] if s["type"] == "won")
    api.ok("PUT", f"/opportunity/{made['opportunity']['id']}/", json={"status_id": won_a["id"], "owner_id": both.user_id})
    demo = api.create("status/opportunity", label="Demo")  # not in B
    second = make_opportunity(api, lead_id=lead["id"], status_id=demo["id"], owner_id=outsider.user_id)
    assigned = make_task(api, lead_id=lead["id"], assigned_to=outsider.user_id)
    same_type = make_custom_activity_type(api, name="Site visit")  # B has a type of the same name
    b_type = make_custom_activity_type(other, name="site VISIT")
    visit = make_activity(api, "custom", lead_id=lead["id"], custom_activity_type_id=same_type["id"])
    with Genesy(api) as genesy:
        person = {"externalId": f"p-{secrets.token_hex(3)}", "email": made["contact"]["emails"][0]["email"]}
        assert genesy.ok("POST", "/contacts/sync", json={"contacts": [person]})["results"][0]["crmId"] == \
            made["contact"]["id"]
    before = children(api, lead["id"])

    moved = api.ok("POST", f"/lead/{lead['id']}/move/", status=200, json={"target_organization_id": other.org_id})

    assert moved["status"] == "moved" and moved["organization_id"] == other.org_id and moved["job_id"] is None
    assert moved["moved"]["activity"] == len(before["activity"]) and moved["moved"]["external_ref"] == 1
    # Nothing stays behind in A; all of it reads the same in B.
    api.bad("GET", f"/lead/{lead['id']}/", status=404)
    assert children(api, lead["id"]) == {name: [] for name in before}
    assert children(other, lead["id"]) == before
    here = other.ok("GET", f"/lead/{lead['id']}/")
    b_statuses = other.ok("GET", "/status/lead/")["data"]
    # Rules, one by one: an unknown lead status -> B's default; an owner B does not know -> cleared.
    assert here["status_id"] == b_statuses[0]["id"] and here["owner_id"] is None
    won = other.ok("GET", f"/opportunity/{made['opportunity']['id']}/")
    b_won = next(s for s in other.ok("GET", "/status/opportunity/")["data"] if s["type"] == "won")
    assert won["status_id"] == b_won["id"] and won["pipeline_id"] == b_won["pipeline_id"]  # same label and type
    assert won["owner_id"] == both.user_id  # a member of both stays
    demo_moved = other.ok("GET", f"/opportunity/{second['id']}/")
    assert demo_moved["status_id"] == other.ok("GET", "/status/opportunity/")["data"][0]["id"]
    assert demo_moved["owner_id"] is None
    assert other.ok("GET", f"/task/{assigned['id']}/")["assigned_to"] is None
    assert other.ok("GET", f"/activity/custom/{visit['id']}/")["custom_activity_type_id"] == b_type["id"]
    unmatched = other.ok("GET", f"/activity/custom/{made['custom']['id']}/")
    assert unmatched["custom_activity_type_id"] is None  # A's other type has no namesake in B
    assert other.ok("GET", f"/opportunity/{made['opportunity']['id']}/line_item/")["data"][0]["id"] == \
        made["line_item"]["id"]
    assert moved["remapped"]["lead.status_id"] == {nurture["id"]: b_statuses[0]["id"]}
    assert moved["cleared"]["lead.owner_id"] == 1 and moved["cleared"]["task.assigned_to"] == 1
    # Genesy's ID for the contact moved with it.
    with Genesy(other) as genesy:
        assert genesy.ok("POST", "/contacts/sync", json={"contacts": [person]})["results"][0]["crmId"] == \
            made["contact"]["id"]
    # B's workspace-level records were only read, and A keeps its own.
    assert api.ok("GET", f"/status/lead/{nurture['id']}/")["label"] == "Nurture"
    assert api.ok("GET", f"/custom_activity_type/{same_type['id']}/")["id"] == same_type["id"]


def test_move_rekeys_custom_values_to_the_targets_fields_of_the_same_name(api: Api, other: Api) -> None:
    """Fields are a workspace's own: a value follows the target's field of the same name and type, or is
    cleared (no namesake, another type, a choice the target lacks)."""
    admin_of_both(api, other)
    tier = api.create("custom_field/lead", name="Tier", type="choices", choices=["gold", "silver"])
    size = api.create("custom_field/lead", name="Size", type="number")
    note = api.create("custom_field/lead", name="Only here", type="text")
    plan = api.create("custom_field/contact", name="Plan", type="choices", choices=["pro", "team"])
    b_tier = other.create("custom_field/lead", name="tier", type="choices", choices=["gold"])
    other.create("custom_field/lead", name="Size", type="text")  # another type: cleared
    b_plan = other.create("custom_field/contact", name="Plan", type="choices", choices=["team"])  # lacks "pro"
    lead = make_lead(api, **{f"custom.{tier['id']}": "gold", f"custom.{size['id']}": 12,
                             f"custom.{note['id']}": "x"})
    contact = make_contact(api, lead_id=lead["id"], **{f"custom.{plan['id']}": "pro"})

    moved = api.ok("POST", f"/lead/{lead['id']}/move/", status=200, json={"target_organization_id": other.org_id})

    assert moved["cleared"]["custom values"] == 3  # Size, Only here, the contact's Plan
    here = other.ok("GET", f"/lead/{lead['id']}/")
    assert here[f"custom.{b_tier['id']}"] == "gold" and here["custom"] == {"tier": "gold"}
    assert other.ok("GET", f"/contact/{contact['id']}/")["custom"] == {}
    assert other.ok("GET", "/lead/", params={f"custom.{b_tier['id']}": "gold"})["data"][0]["id"] == lead["id"]
    assert b_plan["id"] not in other.ok("GET", f"/contact/{contact['id']}/")


def test_move_rules_for_who_may_move_and_where(api: Api, other: Api) -> None:
    lead = make_lead(api)
    # Not an admin of the target.
    body = api.bad("POST", f"/lead/{lead['id']}/move/", "target_organization_id",
                   json={"target_organization_id": other.org_id})
    assert "administer" in body["field-errors"]["target_organization_id"]
    admin_of_both(api, other)
    api.bad("POST", f"/lead/{lead['id']}/move/", "target_organization_id", json={"target_organization_id": api.org_id})
    api.bad("POST", f"/lead/{lead['id']}/move/", "target_organization_id", json={"target_organization_id": "orga_x"})
    api.bad("POST", f"/lead/{lead['id']}/move/", "target_organization_id", json={})
    api.bad("POST", f"/lead/{make_lead(other)['id']}/move/", status=404, json={"target_organization_id": other.org_id})
    # A member (not an admin) of the source may not move its leads, even to a workspace they administer.
    member = member_client(api)
    other.ok("POST", "/membership/", json={"email": api.ok("GET", f"/user/{member.user_id}/")["email"],
                                           "role": "admin"})
    member.bad("POST", f"/lead/{lead['id']}/move/", status=403, json={"target_organization_id": other.org_id})
    assert api.ok("GET", f"/lead/{lead['id']}/")["id"] == lead["id"]
    # The same user's key for B moves a lead of B to A.
    theirs = make_lead(other)
    key = other.ok("POST", "/api_key/", json={"name": "mover", "user_id": api.user_id})["key"]
    with Api(other.server_url, key) as mover:
        assert mover.ok("POST", f"/lead/{theirs['id']}/move/", status=200,
                        json={"target_organization_id": api.org_id})["organization_id"] == api.org_id
    assert api.ok("GET", f"/lead/{theirs['id']}/")["id"] == theirs["id"]


def test_a_move_that_fails_half_way_leaves_the_lead_wholly_where_it_was(api: Api, other: Api) -> None:
    admin_of_both(api, other)
    lead, _ = full_lead(api)
    make_task(api, lead_id=lead["id"], text="FAIL-MOVE")
    before = api.ok("GET", f"/lead/{lead['id']}/"), children(api, lead["id"])
    with failing(api.database_url, "task", "UPDATE OF organization_id", "NEW.text = 'FAIL-MOVE'"):
        response = api.post(f"/lead/{lead['id']}/move/", json={"target_organization_id": other.org_id})
    assert response.status_code == 400 and "refused" in response.json()["error"], response.text
    assert (api.ok("GET", f"/lead/{lead['id']}/"), children(api, lead["id"])) == before
    other.bad("GET", f"/lead/{lead['id']}/", status=404)
    assert children(other, lead["id"]) == {name: [] for name in before[1]}



def test_a_lead_with_messages_waiting_to_be_sent_does_not_move(api: Api, other: Api) -> None:
    """The send job and the sending account are the source workspace's: the move is refused, not half done."""
    from tests.smtp_server import shared

    admin_of_both(api, other)
    lead = make_lead(api)
    contact = make_contact(api, lead_id=lead["id"], emails=[{"email": "jane@buyer.example"}])
    account = shared().account(api)
    email = api.create("activity/email", lead_id=lead["id"], contact_id=contact["id"], to=["jane@buyer.example"],
                       subject="Later", body_text="Hello", sender=account["email"], status="scheduled",
                       date_scheduled="2099-01-01T09:00:00Z")
    body = api.bad("POST", f"/lead/{lead['id']}/move/", "target_organization_id",
                   json={"target_organization_id": other.org_id})
    assert "waiting to be sent" in body["error"] and email["id"] in body["error"]
    other.bad("GET", f"/lead/{lead['id']}/", status=404)
    # Back to draft, the lead moves with it.
    api.ok("PUT", f"/activity/email/{email['id']}/", json={"status": "draft"})
    assert api.ok("POST", f"/lead/{lead['id']}/move/", status=200,
                  json={"target_organization_id": other.org_id})["status"] == "moved"
    assert other.ok("GET", f"/activity/email/{email['id']}/")["status"] == "draft"

# --- a lead with a large history moves as a job ----------------------------------------------------------
@pytest.fixture(scope="module")
def small_limit_server(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A second server on the same database that moves any lead of more than 5 records as a job, with a
    worker of its own that retries quickly."""
    srv = start_server(server.database_url, tmp_path_factory.mktemp("moves") / "server.log",
                       GENIZIZ_LEAD_MOVE_INLINE_RECORDS="5", GENIZIZ_INPROCESS_WORKER="true",
                       GENIZIZ_WORKER_POLL_SECONDS="0.1", GENIZIZ_JOB_BACKOFF_SECONDS="3")
    yield srv
    stop_server(srv)
    assert "Unhandled error" not in srv.log()


def test_a_large_lead_moves_as_a_job_atomically_even_when_an_attempt_fails(
        small_limit_server: Server, api: Api, other: Api) -> None:
    admin_of_both(api, other)
    lead, _ = full_lead(api)
    make_task(api, lead_id=lead["id"], text="FAIL-MOVE")
    before = children(api, lead["id"])
    with Api(small_limit_server.base_url, api.key) as mover, \
            failing(api.database_url, "task", "UPDATE OF organization_id", "NEW.text = 'FAIL-MOVE'"):
        queued = mover.ok("POST", f"/lead/{lead['id']}/move/", status=200,
                          json={"target_organization_id": other.org_id})
        assert queued["status"] == "queued" and queued["organization_id"] == api.org_id
        # A repeat while it waits is the same job.
        assert mover.ok("POST", f"/lead/{lead['id']}/move/", status=200,
                        json={"target_organization_id": other.org_id})["job_id"] == queued["job_id"]
        failed = wait_until(lambda: (job := api.ok("GET", f"/job/{queued['job_id']}/"))["last_error"] and job,
                            what="the first attempt to fail")
        assert "injected" in failed["last_error"] or "refused" in failed["last_error"], failed
        assert children(api, lead["id"]) == before  # wholly in A between attempts
        assert children(other, lead["id"]) == {name: [] for name in before}
    done = wait_until(lambda: (job := api.ok("GET", f"/job/{queued['job_id']}/"))["status"] in ("succeeded", "failed")
                      and job, timeout=60, what="the move job to finish")
    assert done["status"] == "succeeded", done
    assert done["result"]["status"] == "moved" and done["result"]["organization_id"] == other.org_id
    assert children(other, lead["id"]) == before
    assert children(api, lead["id"]) == {name: [] for name in before}
