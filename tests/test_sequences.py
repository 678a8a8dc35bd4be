"""Sequences end to end: a server of this module's own whose in-process worker runs the engine every
second (GENIZIZ_SEQUENCE_TICK_SECONDS=1), real SMTP delivery (aiosmtpd), real `geniziz worker`
processes racing, on SQLite and PostgreSQL.

The stop rules run through the real paths: replies are inbound emails (over REST), auto-replies and
bounces come from an IMAP sync (tests/imap_server.py), unsubscribes from the suppression list, SMS
replies from the provider's signed webhook (tests/sms_provider.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api, Server, new_workspace, start_server, stop_server, wait_until
from tests.factories import make_contact, make_lead
from tests.imap_server import ImapServer, make_bounce, make_email
from tests.sms_provider import SmsProvider
from tests.smtp_server import SmtpServer
from tests.test_mcp import Mcp
from tests.test_messaging import _fresh_url

FAST = {"GENIZIZ_WORKER_POLL_SECONDS": "0.05", "GENIZIZ_WORKER_LEASE_SECONDS": "5",
        "GENIZIZ_JOB_BACKOFF_SECONDS": "0.3", "GENIZIZ_INPROCESS_WORKER": "1",
        "GENIZIZ_SEQUENCE_TICK_SECONDS": "1", "GENIZIZ_SEQUENCE_LEASE_SECONDS": "10"}
HOUR = 3600


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")  # one mailbox: another workspace's mail stays unmatched in each
def imap() -> Iterator[ImapServer]:
    server = ImapServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sms_provider() -> Iterator[SmsProvider]:
    server = SmsProvider().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def seq_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("sequences")
    urls = _fresh_url(directory)
    server = start_server(next(urls), directory / "server.log", **FAST)
    yield server
    stop_server(server)
    assert "Unhandled error" not in server.log(), server.log()
    next(urls, None)


@pytest.fixture
def sapi(seq_server: Server) -> Iterator[Api]:
    client = new_workspace(seq_server, "Sequences")
    yield client
    client.close()


# --- helpers ------------------------------------------------------------------------------------------
def template(api: Api, subject: str = "Hello {{ contact.first_name }}", body: str = "Hi {{ contact.first_name }}") -> str:
    return api.create("email_template", name="Outreach", subject=subject, body_text=body, is_shared=True)["id"]


def sequence(api: Api, *steps: dict[str, Any], **body: Any) -> dict[str, Any]:
    return api.create("sequence", name=body.pop("name", "Outbound"), steps=list(steps), **body)


def contact(api: Api, email: str = "jane@buyer.example", **body: Any) -> dict[str, Any]:
    return make_contact(api, name="Jane Roe", emails=[{"email": email}], **body)


def sub_of(api: Api, sub_id: str) -> dict[str, Any]:
    return api.ok("GET", f"/sequence_subscription/{sub_id}/")


def wait_sub(api: Api, sub_id: str, status: str, timeout: float = 30, **fields: Any) -> dict[str, Any]:
    return wait_until(lambda: (s := sub_of(api, sub_id))["status"] == status
                      and all(s[k] == v for k, v in fields.items()) and s,
                      timeout, f"subscription {sub_id} to be {status} {fields}")


def history(api: Api, sub_id: str) -> list[dict[str, Any]]:
    return api.ok("GET", f"/sequence_subscription/{sub_id}/history/")["data"]


def emails_of(api: Api, lead_id: str) -> list[dict[str, Any]]:
    return api.ok("GET", "/activity/email/", params={"lead_id": lead_id})["data"]


def enrol(api: Api, seq: dict[str, Any], person: dict[str, Any], **body: Any) -> dict[str, Any]:
    return api.create("sequence_subscription", sequence_id=seq["id"], contact_id=person["id"], **body)


# --- sequences ----------------------------------------------------------------------------------------
def test_a_sequence_is_validated_and_put_replaces_its_steps(sapi: Api, smtp: SmtpServer) -> None:
    tpl = template(sapi)
    won = next(s for s in sapi.ok("GET", "/status/lead/")["data"])
    seq = sequence(sapi, {"type": "email", "template_id": tpl}, {"type": "call", "delay_seconds": 86400},
                   {"type": "email", "template_id": tpl, "reply_in_thread": True, "delay_seconds": 172800},
                   timezone="Europe/Madrid", goal_status_id=won["id"], holidays=["2026-12-25", "2026-12-25"],
                   schedule=[{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}])
    assert seq["id"].startswith("seq_") and seq["status"] == "active" and seq["holidays"] == ["2026-12-25"]
    assert [s["type"] for s in seq["steps"]] == ["email", "call", "email"]
    assert seq["steps"][1] == {"type": "call", "delay_seconds": 86400, "template_id": None, "reply_in_thread": False,
                               "text": None, "status_id": None, "user_id": None}
    bad = [({"timezone": "Mars/Olympus"}, "timezone"), ({"steps": [{"type": "email"}]}, "steps.0.template_id"),
           ({"steps": [{"type": "email", "template_id": "emtp_0000000000000000000000"}]}, "steps.0.template_id"),
           ({"steps": [{"type": "email", "template_id": tpl, "reply_in_thread": True}]}, "steps.0.reply_in_thread"),
           ({"steps": [{"type": "fax"}]}, "steps.0.type"), ({"steps": [{"type": "task"}]}, "steps.0.text"),
           ({"steps": [{"type": "task", "text": "x", "delay_seconds": -1}]}, "steps.0.delay_seconds"),
           ({"steps": [{"type": "assign_user", "user_id": "user_0000000000000000000000"}]}, "steps.0.user_id"),
           ({"schedule": [{"days": ["mon"], "start": "17:00", "end": "09:00"}]}, "schedule.0"),
           ({"schedule": [{"days": ["someday"], "start": "09:00", "end": "10:00"}]}, "schedule.0.days"),
           ({"schedule": [{"days": ["mon"], "start": "9am", "end": "10:00"}]}, "schedule.0.start"),
           ({"holidays": ["2026-13-01"]}, "holidays.0"), ({"goal_status_id": "stat_0000000000000000000000"}, "goal_status_id"),
           ({"status": "paused"}, "status"), ({"colour": "red"}, "colour")]
    for body, field in bad:
        sapi.bad("POST", "/sequence/", field, json={"name": "Bad", **body})
    opportunity_status = sapi.ok("GET", "/status/opportunity/")["data"][0]["id"]
    sapi.bad("POST", "/sequence/", "goal_status_id", json={"name": "Bad", "goal_status_id": opportunity_status})
    sapi.bad("PUT", f"/sequence/{seq['id']}/", "name", json={"name": None})

    updated = sapi.ok("PUT", f"/sequence/{seq['id']}/", json={"steps": [{"type": "task", "text": "Research"}]})
    assert [s["type"] for s in updated["steps"]] == ["task"] and updated["timezone"] == "Europe/Madrid"
    assert sapi.ok("GET", "/sequence/", params={"status": "active", "_fields": "id,name"})["data"] == [
        {"id": seq["id"], "name": "Outbound"}]
    assert sapi.ok("PUT", f"/sequence/{seq['id']}/", json={"status": "archived"})["status"] == "archived"
    assert sapi.ok("GET", "/sequence/", params={"status": "active"})["data"] == []


# --- enrolment --------------------------------------------------------------------------------------------
def test_enrolment_rules(sapi: Api, other: Api, smtp: SmtpServer) -> None:
    tpl = template(sapi)
    emails = sequence(sapi, {"type": "email", "template_id": tpl, "delay_seconds": HOUR})
    person = contact(sapi)
    path = "/sequence_subscription/"
    sapi.bad("POST", path, "sender_account_id", json={"sequence_id": emails["id"], "contact_id": person["id"]})
    account = smtp.account(sapi)
    sapi.bad("POST", path, "sequence_id", json={"sequence_id": "seq_0000000000000000000000", "contact_id": person["id"]})
    sapi.bad("POST", path, "contact_id", json={"sequence_id": emails["id"], "contact_id": make_contact(other)["id"]})
    sapi.bad("POST", path, "contact_id", json={"sequence_id": emails["id"], "contact_id": make_contact(sapi)["id"]})
    sapi.bad("POST", path, "contact_id", json={"sequence_id": emails["id"]})
    sapi.bad("POST", path, "calls_assigned_to", json={"sequence_id": emails["id"], "contact_id": person["id"],
                                                     "calls_assigned_to": other.user_id})
    sapi.bad("POST", path, "sequence_id", json={"sequence_id": sapi.create("sequence", name="Empty")["id"],
                                                "contact_id": person["id"]})

    sub = enrol(sapi, emails, person)
    assert sub["id"].startswith("seqsub_") and sub["status"] == "active" and sub["step_index"] == 0
    assert sub["sender_account_id"] == account["id"] and sub["calls_assigned_to"] == sapi.user_id
    assert sub["lead_id"] == person["lead_id"]
    due = datetime.fromisoformat(sub["next_step_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=59) < due - datetime.now(UTC) <= timedelta(hours=1)
    # Once at a time: a second enrolment is refused; after DELETE (stopped, kept) the contact can come back.
    sapi.bad("POST", path, "contact_id", json={"sequence_id": emails["id"], "contact_id": person["id"]})
    assert sapi.ok("DELETE", f"{path}{sub['id']}/") == {}
    stopped = sub_of(sapi, sub["id"])
    assert stopped["status"] == "finished" and stopped["status_reason"] == "manual" and stopped["next_step_at"] is None
    sapi.bad("PUT", f"{path}{sub['id']}/", "status", json={"status": "active"})
    again = enrol(sapi, emails, person)
    assert sapi.ok("GET", path, params={"contact_id": person["id"], "status": "active", "_fields": "id"})["data"] == [
        {"id": again["id"]}]
    assert len(sapi.ok("GET", path, params={"sequence_id": emails["id"]})["data"]) == 2
    sapi.bad("PUT", f"{path}{again['id']}/", "paused_until", json={"paused_until": "2030-01-01T00:00:00Z"})
    sapi.bad("PUT", f"{path}{again['id']}/", "status", json={"status": "finished"})
    # Another workspace sees none of it.
    other.bad("GET", f"{path}{again['id']}/", status=404)
    other.bad("PUT", f"{path}{again['id']}/", status=404, json={"status": "paused"})
    assert other.ok("GET", path)["data"] == []
    archived = sapi.ok("PUT", f"/sequence/{emails['id']}/", json={"status": "archived"})
    sapi.bad("POST", path, "sequence_id", json={"sequence_id": archived["id"], "contact_id": contact(sapi)["id"]})


# --- the engine -------------------------------------------------------------------------------------------
def test_three_steps_run_in_order_and_a_reply_stops_the_rest(sapi: Api, smtp: SmtpServer) -> None:
    """The README's worked example: email now, a call task a second later, a follow-up in the thread in a day."""
    account = smtp.account(sapi)
    tpl = template(sapi, subject="Quick question, {{ contact.first_name }}")
    follow_up = template(sapi, body="Following up")
    seq = sequence(sapi, {"type": "email", "template_id": tpl},
                   {"type": "call", "delay_seconds": 1, "text": "Call Jane about the proposal"},
                   {"type": "email", "template_id": follow_up, "reply_in_thread": True, "delay_seconds": 86400})
    person = contact(sapi)
    sub = enrol(sapi, seq, person, sender_account_id=account["id"])

    after_call = wait_sub(sapi, sub["id"], "active", step_index=2)
    [email] = emails_of(sapi, person["lead_id"])
    assert email["subject"] == "Quick question, Jane" and email["to"] == ["jane@buyer.example"]
    assert email["sender"] == account["email"] and email["template_id"] == tpl
    delivered = wait_until(lambda: smtp.with_id(sub_email(sapi, email["id"])), what="the first email to arrive")
    assert len(delivered) == 1 and delivered[0].rcpt_tos == ["jane@buyer.example"]
    [task] = sapi.ok("GET", "/task/", params={"lead_id": person["lead_id"]})["data"]
    assert task["type"] == "call" and task["text"] == "Call Jane about the proposal"
    assert task["assigned_to"] == sapi.user_id and task["contact_id"] == person["id"]
    assert after_call["thread_id"] == email["thread_id"]
    due = datetime.fromisoformat(after_call["next_step_at"].replace("Z", "+00:00"))
    assert due - datetime.now(UTC) > timedelta(hours=23)

    # Jane replies (an inbound email on her lead): the subscription finishes; the follow-up never goes.
    sapi.create("activity/email", contact_id=person["id"], direction="inbound", status="inbox",
                sender="jane@buyer.example", to=[account["email"]], subject="Re: Quick question, Jane",
                body_text="Sounds good", thread_id=email["thread_id"])
    done = sub_of(sapi, sub["id"])
    assert done["status"] == "finished" and done["status_reason"] == "replied" and done["next_step_at"] is None
    assert [(e["kind"], e["step_index"], e["outcome"]) for e in history(sapi, sub["id"])] == [
        ("enrolled", None, None), ("step", 0, "sent"), ("step", 1, "created"), ("finished", 1, "replied")]
    steps = [e for e in history(sapi, sub["id"]) if e["kind"] == "step"]
    assert steps[0]["activity_id"] == email["id"] and steps[1]["task_id"] == task["id"]


def sub_email(api: Api, activity_id: str) -> str | None:
    return api.ok("GET", f"/activity/email/{activity_id}/")["message_id"]


def test_pause_and_resume_with_and_without_a_resume_date(sapi: Api) -> None:
    seq = sequence(sapi, {"type": "task", "text": "First"}, {"type": "task", "text": "Second", "delay_seconds": 2})
    person = contact(sapi)
    sub = enrol(sapi, seq, person)
    wait_sub(sapi, sub["id"], "active", step_index=1)
    paused = sapi.ok("PUT", f"/sequence_subscription/{sub['id']}/", json={"status": "paused"})
    assert paused["status"] == "paused" and paused["status_reason"] == "manual" and paused["next_step_at"] is None
    time.sleep(3.5)  # the second step's time passes while paused
    assert sub_of(sapi, sub["id"])["step_index"] == 1
    assert len(sapi.ok("GET", "/task/", params={"lead_id": person["lead_id"]})["data"]) == 1
    sapi.ok("PUT", f"/sequence_subscription/{sub['id']}/", json={"status": "active"})
    done = wait_sub(sapi, sub["id"], "finished")
    assert done["status_reason"] == "completed" and done["step_index"] == 2
    assert len(sapi.ok("GET", "/task/", params={"lead_id": person["lead_id"]})["data"]) == 2

    # Paused until a date: it resumes by itself then.
    later = contact(sapi, email="later@buyer.example")
    sub = enrol(sapi, seq, later, start_date=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    until = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    paused = sapi.ok("PUT", f"/sequence_subscription/{sub['id']}/", json={"status": "paused", "paused_until": until})
    assert paused["paused_until"] and paused["status"] == "paused"
    sapi.bad("PUT", f"/sequence_subscription/{sub['id']}/", "paused_until",
             json={"status": "paused", "paused_until": "2020-01-01T00:00:00Z"})
    wait_sub(sapi, sub["id"], "finished", timeout=30)
    kinds = [(e["kind"], e["outcome"]) for e in history(sapi, sub["id"])]
    assert ("resumed", "resume date") in kinds and kinds[-1] == ("finished", "completed")


def test_steps_wait_for_the_sending_window_and_follow_new_delays(sapi: Api) -> None:
    # A window on one weekday that is not today, in Tokyo: the first step waits for its opening.
    tokyo_today = datetime.now(UTC).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    other_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][(tokyo_today.weekday() + 3) % 7]
    seq = sequence(sapi, {"type": "task", "text": "Hello"}, timezone="Asia/Tokyo",
                   schedule=[{"days": [other_day], "start": "10:00", "end": "11:00"}])
    sub = enrol(sapi, seq, contact(sapi))
    due = datetime.fromisoformat(sub["next_step_at"].replace("Z", "+00:00")).astimezone(tokyo_today.tzinfo)
    assert due.strftime("%a").lower()[:3] == other_day and (due.hour, due.minute) == (10, 0)
    assert timedelta(days=2) < due - datetime.now(UTC) < timedelta(days=4)

    # A PUT of the steps: pending steps follow the new delays (and the new, open schedule).
    slow = sequence(sapi, {"type": "task", "text": "One"}, {"type": "task", "text": "Two", "delay_seconds": HOUR})
    sub = enrol(sapi, slow, contact(sapi))
    wait_sub(sapi, sub["id"], "active", step_index=1)
    sapi.ok("PUT", f"/sequence/{slow['id']}/", json={"steps": [
        {"type": "task", "text": "One"}, {"type": "task", "text": "Two", "delay_seconds": 1}]})
    assert wait_sub(sapi, sub["id"], "finished")["status_reason"] == "completed"
    # Steps cut below where a subscription is: it is complete.
    sub = enrol(sapi, slow, contact(sapi, email="cut@buyer.example"))
    sapi.ok("PUT", f"/sequence/{slow['id']}/", json={"steps": [
        {"type": "task", "text": "One"}, {"type": "task", "text": "Two", "delay_seconds": HOUR}]})
    wait_sub(sapi, sub["id"], "active", step_index=1)
    sapi.ok("PUT", f"/sequence/{slow['id']}/", json={"steps": [{"type": "task", "text": "One"}]})
    assert sub_of(sapi, sub["id"])["status_reason"] == "completed"


def test_operational_steps_and_a_step_that_cannot_run(sapi: Api, sms_provider: SmsProvider) -> None:
    statuses = sapi.ok("GET", "/status/lead/")["data"]
    member = sapi.ok("POST", "/membership/", json={"email": "rep@seller.example", "role": "member"})
    seq = sequence(sapi, {"type": "update_lead_status", "status_id": statuses[1]["id"]},
                   {"type": "assign_user", "user_id": member["user_id"]})
    person = contact(sapi)
    sub = enrol(sapi, seq, person)
    assert wait_sub(sapi, sub["id"], "finished")["status_reason"] == "completed"
    lead = sapi.ok("GET", f"/lead/{person['lead_id']}/")
    assert lead["status_id"] == statuses[1]["id"] and lead["owner_id"] == member["user_id"]
    # An SMS step for a contact without a phone: error, with the reason, and nothing half done.
    sms = sequence(sapi, {"type": "sms", "text": "Hi {{ contact.first_name }}"})
    sub = enrol(sapi, sms, contact(sapi, email="nophone@buyer.example"))
    failed = wait_sub(sapi, sub["id"], "error")
    assert failed["status_reason"] == "step_failed" and failed["step_index"] == 0
    assert "phone" in history(sapi, sub["id"])[-1]["detail"]
    # With a phone and an SMS account to send through: the SMS is queued and sent.
    sms_provider.account(sapi)
    texted = enrol(sapi, sms, contact(sapi, email="phone@buyer.example", phones=[{"phone": "+14155550100"}]))
    wait_sub(sapi, texted["id"], "finished")
    [sms_activity] = sapi.ok("GET", "/activity/sms/", params={"contact_id": texted["contact_id"]})["data"]
    assert sms_activity["text"] == "Hi Jane" and sms_activity["status"] in ("outbox", "sending", "sent")
    wait_until(lambda: sapi.ok("GET", f"/activity/sms/{sms_activity['id']}/")["status"] == "sent", what="the SMS sent")


# --- stop rules --------------------------------------------------------------------------------------------
def test_stop_rules(seq_server: Server, sapi: Api, smtp: SmtpServer, imap: ImapServer,
                    sms_provider: SmsProvider) -> None:
    account = smtp.account(sapi, **imap.account())  # sends, and receives the auto-replies and bounces
    phones = sms_provider.account(sapi)
    tpl = template(sapi)
    statuses = sapi.ok("GET", "/status/lead/")["data"]
    goal = statuses[-1]["id"]
    mail = sequence(sapi, {"type": "email", "template_id": tpl, "delay_seconds": HOUR}, goal_status_id=goal)
    calls = sequence(sapi, {"type": "call", "delay_seconds": HOUR})

    def enrolled(email: str, seq: dict[str, Any] = mail, phone: str = "+14155550123") -> tuple[dict, dict]:
        person = contact(sapi, email=email, phones=[{"phone": phone}])
        return person, enrol(sapi, seq, person)

    def inbound(person: dict[str, Any], subject: str = "Re: hello") -> dict[str, Any]:
        return sapi.create("activity/email", contact_id=person["id"], direction="inbound", status="inbox",
                           sender=person["emails"][0]["email"], to=["me@seller.example"], subject=subject)

    def reason(sub: dict[str, Any]) -> tuple[str, str | None]:
        body = sub_of(sapi, sub["id"])
        return body["status"], body["status_reason"]

    # A meeting with the contact (as an attendee).
    person, sub = enrolled("meet@buyer.example")
    sapi.create("activity/meeting", lead_id=person["lead_id"], title="Demo", starts_at="2026-12-01T10:00:00Z",
                attendees=[{"email": "meet@buyer.example"}])
    assert reason(sub) == ("finished", "meeting_booked")
    # The lead reaches the goal status; another status does nothing.
    person, sub = enrolled("goal@buyer.example")
    sapi.ok("PUT", f"/lead/{person['lead_id']}/", json={"status_id": statuses[1]["id"]})
    assert reason(sub) == ("active", None)
    sapi.ok("PUT", f"/lead/{person['lead_id']}/", json={"status_id": goal})
    assert reason(sub) == ("finished", "status_changed")
    # Unsubscribed: its email sequences stop, a sequence without email goes on, and enrolling again is refused.
    person, sub = enrolled("unsub@buyer.example")
    call_sub = enrol(sapi, calls, person)
    sapi.create("unsubscribed_email", email="UNSUB@buyer.example")
    assert reason(sub) == ("finished", "unsubscribed") and reason(call_sub) == ("active", None)
    # SMS reply, through the provider's signed webhook (the contact has the sender's number).
    person, sub = enrolled("sms@buyer.example", phone="+14155550124")
    answer = sms_provider.webhook(seq_server.base_url, phones["id"], From="+14155550124", Body="Stop")
    assert answer.status_code == 200, answer.text
    assert reason(sub) == ("finished", "replied")
    # An email from the contact's address on its lead, in no thread of ours.
    person, sub = enrolled("reply@buyer.example")
    inbound(person)
    assert reason(sub) == ("finished", "replied")
    # Bounces and auto-replies, received by an IMAP sync: hard finishes, soft errs (retryable), an
    # out-of-office with a return date pauses until then, one without a date changes nothing.
    back = (datetime.now(UTC) + timedelta(days=7)).date()
    cases = {}
    for kind, bounce, resume, expected in [
            ("bounce", "hard", None, ("finished", "bounced")), ("bounce", "soft", None, ("error", "soft_bounce")),
            ("auto_reply", None, back, ("paused", "out_of_office")), ("auto_reply", None, None, ("active", None))]:
        address = f"{kind}-{bounce}-{resume is not None}@buyer.example".replace("_", "-").lower()
        _person, sub = enrolled(address)
        if kind == "bounce":
            status, action = ("5.1.1", "failed") if bounce == "hard" else ("4.2.2", "delayed")
            imap.deliver(make_bounce(original_message_id=f"<{address}>", recipient=address, to=account["email"],
                                     status=status, action=action))
        else:
            imap.deliver(make_email(sender=address, to=account["email"], subject="Automatic reply: hello",
                                    body=f"I am out of the office, back on {resume.isoformat()}." if resume
                                    else "I am out of the office.", Auto_Submitted="auto-replied"))
        cases[kind, bounce] = sub, expected
    sync(sapi, account["id"])
    for (kind, bounce), (sub, expected) in cases.items():
        assert reason(sub) == expected, (kind, bounce)
        if expected[0] == "paused":
            assert sub_of(sapi, sub["id"])["paused_until"] == f"{back.isoformat()}T00:00:00.000Z"
        if expected[0] == "error":  # retryable: PUT active resumes it
            assert sapi.ok("PUT", f"/sequence_subscription/{sub['id']}/", json={"status": "active"})["status"] == "active"


def sync(api: Api, account_id: str) -> None:
    """Sync the account's mailbox now and wait for its job."""
    queued = api.ok("POST", f"/connected_account/{account_id}/sync/", 200, json={})
    for job_id in queued["job_ids"]:
        job = wait_until(lambda: (j := api.ok("GET", f"/job/{job_id}/"))["status"] in ("succeeded", "failed") and j,
                         what="the sync job")
        assert job["status"] == "succeeded", job


# --- MCP -------------------------------------------------------------------------------------------------
def test_an_agent_enrols_pauses_reads_history_and_needs_destructive_to_stop(sapi: Api) -> None:
    seq = sequence(sapi, {"type": "task", "text": "Hi", "delay_seconds": HOUR})
    person = contact(sapi)
    agent = Mcp(sapi, "write_safe")
    sub = agent.call("create_record", resource="sequence_subscription",
                     body={"sequence_id": seq["id"], "contact_id": person["id"]})
    assert agent.call("update_record", resource="sequence_subscription", id=sub["id"],
                      body={"status": "paused"})["status"] == "paused"
    events = agent.call("run_action", action="sequence_subscription_history", args={"subscription_id": sub["id"]})
    assert [e["kind"] for e in events["data"]] == ["enrolled", "paused"]
    agent.fail("delete_record", resource="sequence_subscription", id=sub["id"])
    Mcp(sapi, "write_destructive").call("delete_record", resource="sequence_subscription", id=sub["id"])
    assert sub_of(sapi, sub["id"])["status_reason"] == "manual"


# --- the sales report ------------------------------------------------------------------------------------
def test_workflow_performance_in_the_sales_report(sapi: Api, smtp: SmtpServer, imap: ImapServer) -> None:
    account = smtp.account(sapi, **imap.account())
    tpl = template(sapi)
    seq = sequence(sapi, {"type": "email", "template_id": tpl}, {"type": "task", "text": "Later", "delay_seconds": HOUR},
                   name="Report me")
    people = [contact(sapi, email=f"r{i}@buyer.example") for i in range(4)]
    subs = [enrol(sapi, seq, p) for p in people]
    for sub in subs:
        wait_sub(sapi, sub["id"], "active", step_index=1)
    # 0 replies, 1 bounces (hard), 2 is stopped by hand, 3 stays active.
    sapi.create("activity/email", contact_id=people[0]["id"], direction="inbound", status="inbox",
                sender="r0@buyer.example", to=["me@seller.example"], subject="Re")
    # The bounce comes back through the mailbox, naming the email it returns.
    message_id = wait_until(lambda: emails_of(sapi, people[1]["lead_id"])[-1]["message_id"], what="a Message-ID")
    imap.deliver(make_bounce(original_message_id=message_id, recipient="r1@buyer.example", to=account["email"]))
    sync(sapi, account["id"])
    sapi.ok("DELETE", f"/sequence_subscription/{subs[2]['id']}/")
    report = sapi.ok("POST", "/report/sales/", status=200, json={"relative_range": "today"})
    [row] = [r for r in report["workflow_performance"] if r["sequence_id"] == seq["id"]]
    assert row["name"] == "Report me"
    assert {k: row[k] for k in ("enrolled", "active", "paused", "error", "sent", "replied", "bounced")} == {
        "enrolled": 4, "active": 1, "paused": 0, "error": 0, "sent": 4, "replied": 1, "bounced": 1}
    assert row["finished"] == {"replied": 1, "bounced": 1, "manual": 1}
    assert row["steps"] == [
        {"step_index": 0, "type": "email", "sent": 4, "created": 0, "skipped": 0, "replied": 1, "bounced": 1},
        {"step_index": 1, "type": "task", "sent": 0, "created": 0, "skipped": 0, "replied": 0, "bounced": 0}]


# --- races ------------------------------------------------------------------------------------------------
def test_two_workers_race_and_no_step_runs_twice(seq_server: Server, smtp: SmtpServer, tmp_path: Path) -> None:
    api = new_workspace(seq_server, "Race")
    account = smtp.account(api)
    tpl = template(api)
    seq = sequence(api, {"type": "email", "template_id": tpl},
                   {"type": "email", "template_id": tpl, "reply_in_thread": True, "delay_seconds": 1},
                   {"type": "task", "text": "Call", "delay_seconds": 1})
    env = {**os.environ, "GENIZIZ_DATABASE_URL": seq_server.database_url, **FAST,
           "GENIZIZ_SECRET_KEY": os.environ.get("GENIZIZ_SECRET_KEY", "")}
    env.update({k: v for k, v in _server_env(seq_server).items()})
    workers = [subprocess.Popen([sys.executable, "-m", "geniziz.cli", "worker"], env=env,
                                stdout=open(tmp_path / f"w{i}.log", "wb"), stderr=subprocess.STDOUT)
               for i in range(2)]
    try:
        people = [contact(api, email=f"race{i}@buyer.example") for i in range(16)]
        subs = [enrol(api, seq, p, sender_account_id=account["id"]) for p in people]
        wait_until(lambda: all(s["status"] == "finished" for s in api.ok(
            "GET", "/sequence_subscription/", params={"sequence_id": seq["id"]})["data"]), 120, "every subscription")
        for sub in subs:
            steps = [(e["step_index"], e["outcome"]) for e in history(api, sub["id"]) if e["kind"] == "step"]
            assert steps == [(0, "sent"), (1, "sent"), (2, "created")], steps
        for person in people:
            emails = emails_of(api, person["lead_id"])
            assert len(emails) == 2 and len({e["thread_id"] for e in emails}) == 1
            assert len(api.ok("GET", "/task/", params={"lead_id": person["lead_id"]})["data"]) == 1
        ids = [e["id"] for p in people for e in emails_of(api, p["lead_id"])]
        sent = wait_until(lambda: all(api.ok("GET", f"/activity/email/{i}/")["status"] == "sent" for i in ids)
                          and [sub_email(api, i) for i in ids], 120, "every email to be sent")
        assert all(len(smtp.with_id(mid)) == 1 for mid in sent)  # each handed to SMTP once
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=30)
        api.close()


def _server_env(server: Server) -> dict[str, str]:
    from tests.conftest import SECRET_KEY

    return {"GENIZIZ_SECRET_KEY": SECRET_KEY}


def test_a_runner_that_died_mid_claim_is_taken_over_after_its_lease_and_fenced_out(sapi: Api) -> None:
    """A claim whose runner died (next_step_at pushed by the lease, claimed_by naming it) comes due again
    when the lease ends; the live engine runs the step once, and the dead runner, if it came back, is refused."""
    import asyncio

    from sqlalchemy import update
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from geniziz.db import Database, WorkspaceSession
    from geniziz.sequences import engine
    from geniziz.sequences.models import SequenceSubscription

    seq = sequence(sapi, {"type": "task", "text": "Once", "delay_seconds": HOUR})
    person = contact(sapi)
    sub = enrol(sapi, seq, person)
    lease_end = datetime.now(UTC) + timedelta(seconds=2)

    async def in_db(work: Any) -> Any:
        db = Database(sapi.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    async def die_mid_claim(db: Database) -> None:
        async with db.system_session(write=True) as session:
            await session.execute(update(SequenceSubscription).where(SequenceSubscription.id == sub["id"])
                                  .values(claimed_by="dead", next_step_at=lease_end))
            await session.commit()

    asyncio.run(in_db(die_mid_claim))
    assert sub_of(sapi, sub["id"])["step_index"] == 0
    done = wait_sub(sapi, sub["id"], "finished")
    assert datetime.fromisoformat(done["last_step_at"].replace("Z", "+00:00")) >= lease_end
    assert len(sapi.ok("GET", "/task/", params={"lead_id": person["lead_id"]})["data"]) == 1

    async def dead_runner_returns(db: Database) -> Any:
        maker = async_sessionmaker(db.write_engine, expire_on_commit=False, sync_session_class=WorkspaceSession)
        return await engine.run_one(maker, "dead", sub["id"], sapi.org_id)

    assert asyncio.run(in_db(dead_runner_returns)) is None
    assert [e["kind"] for e in history(sapi, sub["id"])] == ["enrolled", "step", "finished"]


def test_the_suppression_list_stops_and_refuses_email_sequences(sapi: Api, smtp: SmtpServer) -> None:
    """Through the real suppression list (/unsubscribed_email/)."""
    smtp.account(sapi)
    mail = sequence(sapi, {"type": "email", "template_id": template(sapi), "delay_seconds": HOUR})
    mixed = sequence(sapi, {"type": "task", "text": "Research"},
                     {"type": "email", "template_id": template(sapi), "delay_seconds": 1},
                     {"type": "task", "text": "Call", "delay_seconds": 1})
    person = contact(sapi, email="gone@buyer.example")
    sub = enrol(sapi, mail, person)
    sapi.create("unsubscribed_email", email="Gone@Buyer.example")
    assert sub_of(sapi, sub["id"])["status_reason"] == "unsubscribed"
    sapi.bad("POST", "/sequence_subscription/", "contact_id", json={"sequence_id": mail["id"],
                                                                    "contact_id": person["id"]})
    # Enrolled before, in a sequence whose email steps come later: the engine skips them, the rest runs.
    other = contact(sapi, email="later-gone@buyer.example")
    sub = enrol(sapi, mixed, other)
    wait_sub(sapi, sub["id"], "active", step_index=1)
    sapi.create("unsubscribed_email", email="later-gone@buyer.example")
    assert sub_of(sapi, sub["id"])["status_reason"] == "unsubscribed"  # email steps were left: it stops
