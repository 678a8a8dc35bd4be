"""Bulk enrolment in a sequence (POST /bulk_action/ with action enrol), run by a real `geniziz worker`,
through HTTP on the real server: each contact goes through the single enrolment's checks (unsubscribed,
already enrolled, no email address refused with why, the others enrolled with the same history), over IDs,
a contact filter or leads; the request checked up front; a job that crashed mid-way resumes without
enrolling anyone twice; and an agent reaches it over MCP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Api, Server, running_worker, wait_until
from tests.factories import make_contact, make_lead
from tests.smtp_server import shared
from tests.test_mcp import Mcp
from tests.test_merge_move import failing

FAST = {"GENIZIZ_WORKER_POLL_SECONDS": "0.1", "GENIZIZ_JOB_BACKOFF_SECONDS": "0.5", "GENIZIZ_LOG_LEVEL": "info"}
HOUR = 3600
PATH = "/bulk_action/"


@pytest.fixture(scope="module", autouse=True)
def worker(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A worker for the session's database."""
    with running_worker(server.database_url, tmp_path_factory.mktemp("bulk-worker") / "worker.log", **FAST):
        yield


def wait_done(api: Api, bulk_id: str, timeout: float = 120) -> dict[str, Any]:
    return wait_until(lambda: (now := api.ok("GET", f"{PATH}{bulk_id}/"))["status"] in ("succeeded", "failed")
                      and now, timeout=timeout, what="the bulk action to finish")


def enrol_all(api: Api, **body: Any) -> dict[str, Any]:
    return wait_done(api, api.ok("POST", PATH, json={"resource": "contact", "action": "enrol", **body})["id"])


def email_sequence(api: Api) -> dict[str, Any]:
    """An email first step an hour after enrolment: nothing is sent while the test runs."""
    template = api.create("email_template", name="Outreach", subject="Hello", body_text="Hi", is_shared=True)
    return api.create("sequence", name="Outbound", steps=[
        {"type": "email", "template_id": template["id"], "delay_seconds": HOUR}])


def person(api: Api, email: str | None, **body: Any) -> dict[str, Any]:
    return make_contact(api, **({"emails": [{"email": email}]} if email else {}), **body)


def subscriptions(api: Api, sequence_id: str, **params: Any) -> list[dict[str, Any]]:
    return api.ok("GET", "/sequence_subscription/", params={"sequence_id": sequence_id, "_limit": 200,
                                                              **params})["data"]


def history(api: Api, sub_id: str) -> list[tuple[str, str | None]]:
    events = api.ok("GET", f"/sequence_subscription/{sub_id}/history/")["data"]
    return [(e["kind"], e["outcome"]) for e in events]


def test_bulk_enrolment_checks_each_contact_as_a_single_enrolment_would(api: Api, other: Api) -> None:
    account = shared().account(api)
    seq = email_sequence(api)
    fine = [person(api, f"buyer{i}@buyer.example") for i in range(3)]
    gone = person(api, "gone@buyer.example")
    api.create("unsubscribed_email", email="Gone@Buyer.example")
    mute = person(api, None)
    already = person(api, "already@buyer.example")
    single = api.create("sequence_subscription", sequence_id=seq["id"], contact_id=already["id"])
    theirs = make_contact(other, emails=[{"email": "theirs@buyer.example"}])

    ids = [c["id"] for c in (*fine, gone, mute, already, theirs)]
    done = enrol_all(api, sequence_id=seq["id"], ids=ids)
    assert done["status"] == "succeeded" and done["sequence_id"] == seq["id"], done
    assert done["sender_account_id"] == account["id"]  # the one a single enrolment picks, kept for all
    assert (done["total"], done["processed"], done["succeeded"], done["failed"]) == (6, 6, 3, 3), done  # B's not among them
    why = {f["id"]: f["field-errors"] for f in done["failures"]}
    assert "unsubscribed" in why[gone["id"]]["contact_id"]
    assert "no email address" in why[mute["id"]]["contact_id"]
    assert "already subscribed" in why[already["id"]]["contact_id"]

    subs = {s["contact_id"]: s for s in subscriptions(api, seq["id"])}
    assert set(subs) == {*(c["id"] for c in fine), already["id"]}
    assert subs[already["id"]]["id"] == single["id"]  # left as it was
    for contact in fine:  # as a single enrolment makes it
        sub = subs[contact["id"]]
        assert (sub["status"], sub["step_index"], sub["lead_id"]) == ("active", 0, contact["lead_id"])
        assert (sub["sender_account_id"], sub["calls_assigned_to"]) == (account["id"], api.user_id)
        assert history(api, sub["id"]) == history(api, single["id"]) == [("enrolled", None)]
    assert other.ok("GET", "/sequence_subscription/")["data"] == []

    # Asked again: nobody is enrolled twice, each says why.
    again = enrol_all(api, sequence_id=seq["id"], ids=ids)
    assert (again["succeeded"], again["failed"]) == (0, 6), again
    assert len(subscriptions(api, seq["id"])) == 4


def test_bulk_enrolment_over_a_filter_or_leads(api: Api) -> None:
    calls = api.create("sequence", name="Calls", steps=[{"type": "call", "text": "Ring", "delay_seconds": HOUR}])
    qualified = next(s["id"] for s in api.ok("GET", "/status/lead/")["data"] if s["label"] == "Qualified")
    hot = [make_lead(api, status_id=qualified) for _ in range(2)]
    cold = make_lead(api)
    team = [person(api, None, lead_id=hot[0]["id"]), person(api, "b@hot.example", lead_id=hot[0]["id"]),
            person(api, None, lead_id=hot[1]["id"])]
    outside = person(api, None, lead_id=cold["id"])
    # A contact filter: the first lead's contacts (a sequence without email steps needs no address).
    done = enrol_all(api, sequence_id=calls["id"], filters={"lead_id": hot[0]["id"]}, start_date="2030-01-01T09:00:00Z")
    assert (done["total"], done["succeeded"], done["failed"]) == (2, 2, 0), done
    subs = subscriptions(api, calls["id"])
    assert sorted(s["contact_id"] for s in subs) == sorted(c["id"] for c in team[:2])
    assert all(s["start_date"] == "2030-01-01T09:00:00.000Z" and s["next_step_at"] == "2030-01-01T10:00:00.000Z"
               for s in subs), subs
    # Leads by filter: every contact of each qualified lead; the first lead's are already in it.
    by_lead = wait_done(api, api.ok("POST", PATH, json={"resource": "lead", "action": "enrol", "sequence_id": calls["id"],
                                                         "filters": {"status_id": qualified}})["id"])
    assert (by_lead["total"], by_lead["succeeded"], by_lead["failed"]) == (3, 1, 2), by_lead
    assert {f["id"] for f in by_lead["failures"]} == {c["id"] for c in team[:2]}
    assert sorted(s["contact_id"] for s in subscriptions(api, calls["id"])) == sorted(c["id"] for c in team)
    assert subscriptions(api, calls["id"], contact_id=outside["id"]) == []


def test_a_bulk_enrolment_is_checked_before_anything_runs(api: Api, other: Api) -> None:
    body = {"resource": "contact", "action": "enrol", "all": True}
    # Emails to send and no account to send them from: refused once, not once per contact.
    theirs = email_sequence(other)
    other.bad("POST", PATH, "sender_account_id", json={**body, "sequence_id": theirs["id"]})
    shared().account(api)
    seq = email_sequence(api)
    for extra, field in [({}, "sequence_id"), ({"sequence_id": theirs["id"]}, "sequence_id"),
                         ({"sequence_id": "seq_0000000000000000000000"}, "sequence_id"),
                         ({"sequence_id": api.create("sequence", name="Empty")["id"]}, "sequence_id"),
                         ({"sequence_id": seq["id"], "calls_assigned_to": other.user_id}, "calls_assigned_to"),
                         ({"sequence_id": seq["id"], "sender_account_id": shared().account(other)["id"]},
                          "sender_account_id"),
                         ({"sequence_id": seq["id"], "start_date": "soon"}, "start_date"),
                         ({"sequence_id": seq["id"], "resource": "opportunity"}, "resource"),
                         ({"sequence_id": seq["id"], "changes": {"name": "x"}}, "changes"),
                         ({"sequence_id": seq["id"], "action": "delete"}, "sequence_id")]:
        api.bad("POST", PATH, field, json={**body, **extra})
    archived = email_sequence(api)
    api.ok("PUT", f"/sequence/{archived['id']}/", json={"status": "archived"})
    api.bad("POST", PATH, "sequence_id", json={**body, "sequence_id": archived["id"]})
    assert api.ok("GET", PATH)["data"] == []


def test_a_job_that_failed_mid_way_resumes_and_enrols_nobody_twice(api: Api, server: Server) -> None:
    """130 contacts: the first batch of 100 commits, the second batch's commit is refused (an injected
    failure), its enrolments roll back with it, and the retry enrols them, each once."""
    calls = api.create("sequence", name="Calls", steps=[{"type": "call", "text": "Ring", "delay_seconds": HOUR}])
    lead = make_lead(api)
    people = [person(api, None, lead_id=lead["id"]) for _ in range(130)]
    with failing(server.database_url, "bulk_action", "UPDATE", "NEW.processed > 100"):
        started = api.ok("POST", PATH, json={"resource": "lead", "action": "enrol", "sequence_id": calls["id"],
                                             "ids": [lead["id"]]})
        job = wait_until(lambda: (j := api.ok("GET", f"/job/{started['job_id']}/"))["last_error"] and j,
                         timeout=60, what="the second batch to fail")
        assert "injected failure" in job["last_error"]
        midway = api.ok("GET", f"{PATH}{started['id']}/")
        assert (midway["processed"], midway["succeeded"], midway["status"]) == (100, 100, "running"), midway
        assert len(subscriptions(api, calls["id"])) == 100  # the failed batch's enrolments rolled back with it
    done = wait_done(api, started["id"])
    assert (done["status"], done["total"], done["processed"], done["succeeded"], done["failed"]) == (
        "succeeded", 130, 130, 130, 0), done
    subs = subscriptions(api, calls["id"])
    assert sorted(s["contact_id"] for s in subs) == sorted(p["id"] for p in people)
    assert all(history(api, s["id"]) == [("enrolled", None)] for s in subs[:3] + subs[-3:])


def test_an_agent_enrols_in_bulk_over_mcp(api: Api) -> None:
    calls = api.create("sequence", name="Calls", steps=[{"type": "task", "text": "Research", "delay_seconds": HOUR}])
    contact = person(api, None)
    started = Mcp(api, "write_safe").call("create_record", resource="bulk_action", body={
        "resource": "contact", "action": "enrol", "sequence_id": calls["id"], "ids": [contact["id"]]})
    assert wait_done(api, started["id"])["succeeded"] == 1
    assert [s["contact_id"] for s in subscriptions(api, calls["id"])] == [contact["id"]]


def test_a_bulk_delete_over_mcp_needs_the_destructive_scope(api: Api) -> None:
    """create_record is a write_safe tool, but a bulk delete cannot be undone: it asks for write_destructive."""
    doomed = make_lead(api)
    body = {"resource": "lead", "action": "delete", "ids": [doomed["id"]]}
    refused = Mcp(api, "write_safe").fail("create_record", resource="bulk_action", body=body)
    assert "write_destructive" in refused["error"]
    assert not [b for b in api.ok("GET", "/bulk_action/")["data"] if b["action"] == "delete"]  # nothing queued
    started = Mcp(api, "write_destructive").call("create_record", resource="bulk_action", body=body)
    assert wait_done(api, started["id"])["succeeded"] == 1
    api.bad("GET", f"/lead/{doomed['id']}/", status=404)
