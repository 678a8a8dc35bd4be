"""Activities of every writable type, as a client sees them: create, list, get, partial update, delete and
bad input; then each type's own rules (sanitized HTML, the email/SMS life cycle, threads, meetings) and
the read-only types refusing writes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import Api
from tests.factories import make_activity, make_contact, make_lead
from tests.smtp_server import SmtpServer

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NEVER = "lead_" + "0" * 22


# kind: (create body, what the response shows where it differs from the body, partial update, bad inputs)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[tuple[dict[str, Any], str]]]] = {
    "note": (
        {"note": "Discussed pricing", "activity_at": "2026-01-10T09:00:00+01:00"},
        {"activity_at": "2026-01-10T08:00:00.000Z", "note_html": None},
        {"note": "Discussed pricing and terms"},
        [({"note": None}, "note"), ({"note_html": 5}, "note_html"), ({"activity_at": "yesterday"}, "activity_at")],
    ),
    "call": (
        {"direction": "inbound", "status": "no-answer", "duration": 0, "phone": "(415) 555-0100",
         "disposition": "vm-left", "recording_url": "https://rec.example/1.mp3", "note": "Left a message"},
        {"phone": "+14155550100"},
        {"status": "completed", "duration": 95},
        [({"phone": "12"}, "phone"), ({"duration": -1}, "duration"), ({"duration": "long"}, "duration"),
         ({"direction": "sideways"}, "direction"), ({"status": "exploded"}, "status"),
         ({"recording_url": "ftp://rec.example/1"}, "recording_url")],
    ),
    "email": (
        {"subject": "Proposal", "body_text": "See attached", "sender": "me@seller.example",
         "to": ["buyer@acme.example"], "cc": ["boss@acme.example"], "bcc": ["crm@seller.example"],
         "template_id": "tmpl_welcome", "attachments": [{"name": "proposal.pdf", "size": 1024,
                                                         "content_type": "application/pdf",
                                                         "url": "https://files.example/p.pdf"}]},
        {"direction": "outbound", "status": "draft", "body_html": None, "date_sent": None},
        {"subject": "Proposal v2", "to": ["buyer@acme.example", "cfo@acme.example"]},
        [({"to": ["not-an-address"]}, "to"), ({"sender": "me@"}, "sender"), ({"status": "lost"}, "status"),
         ({"attachments": [{"size": 1}]}, "attachments"), ({"status": "scheduled"}, "date_scheduled"),
         ({"attachments": [{"name": "x", "url": "javascript:alert(1)"}]}, "attachments")],
    ),
    "sms": (
        {"direction": "outbound", "status": "sent", "local_phone": "+1 415 555 0100",
         "remote_phone": "(415) 555-0101", "text": "On my way"},
        {"local_phone": "+14155550100", "remote_phone": "+14155550101"},
        {"text": "On my way!"},
        [({"remote_phone": "call me"}, "remote_phone"), ({"status": "delivered"}, "status"),
         ({"text": "x" * 10_001}, "text")],
    ),
    "meeting": (
        {"title": "Demo", "starts_at": "2026-02-01T15:00:00+01:00", "ends_at": "2026-02-01T14:45:00Z",
         "location": "Zoom", "note": "Went well", "outcome": "next-steps"},
        {"starts_at": "2026-02-01T14:00:00.000Z", "ends_at": "2026-02-01T14:45:00.000Z",
         "activity_at": "2026-02-01T14:00:00.000Z", "attendees": []},
        {"outcome": "closed", "location": "Office"},
        [({"title": ""}, "title"), ({"ends_at": "2026-02-01T13:00:00Z"}, "ends_at"),
         ({"starts_at": "tomorrow"}, "starts_at"), ({"attendees": [{"email": "nobody"}]}, "attendees")],
    ),
    "channel_message": (
        {"channel": "WhatsApp", "direction": "inbound", "text": "Hola", "external_id": "wamid.1",
         "external_thread_id": "chat-9"},
        {"channel": "whatsapp"},
        {"text": "Hola!"},
        [({"channel": ""}, "channel"), ({"channel": "what's up"}, "channel"), ({"direction": "up"}, "direction")],
    ),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_every_writable_type_round_trips(kind: str, api: Api) -> None:
    body, shown, update, bad_inputs = CASES[kind]
    lead = make_lead(api)
    path = f"/activity/{kind}/"
    made = api.ok("POST", path, json={"lead_id": lead["id"], **body})
    assert made["id"].startswith("acti_") and made["_type"] == kind
    assert made["lead_id"] == lead["id"] and made["contact_id"] is None
    assert made["user_id"] == made["created_by"] == api.user_id
    assert all(TIMESTAMP.match(made[k]) for k in ("activity_at", "date_created", "date_updated"))
    expected = {**body, **shown}
    assert {k: made[k] for k in expected} == expected

    assert api.ok("GET", f"{path}{made['id']}/") == made
    assert api.ok("GET", path)["data"] == [made]
    assert api.ok("GET", path, params={"lead_id": make_lead(api)["id"]})["data"] == []
    other_kind = "call" if kind == "note" else "note"
    assert made["id"] not in {row["id"] for row in api.ok("GET", f"/activity/{other_kind}/")["data"]}
    assert api.ok("GET", f"{path}{made['id']}/", params={"_fields": "id,_type"}) == {"id": made["id"], "_type": kind}

    updated = api.ok("PUT", f"{path}{made['id']}/", json=update)
    assert {k: updated[k] for k in update} == update
    untouched = set(made) - set(update) - {"date_updated", "body_text"}
    assert {k: updated[k] for k in untouched} == {k: made[k] for k in untouched}  # only the fields sent change
    assert updated["date_updated"] >= made["date_updated"]

    for bad, field in bad_inputs:
        api.bad("POST", path, field, json={"lead_id": lead["id"], **body, **bad})
        api.bad("PUT", f"{path}{made['id']}/", field, json=bad)
    api.bad("POST", path, "surprise", json={"lead_id": lead["id"], **body, "surprise": 1})
    api.bad("POST", path, "lead_id", json=body)
    api.bad("POST", path, "lead_id", json={"lead_id": NEVER, **body})
    api.bad("PUT", f"{path}{made['id']}/", "activity_at", json={"activity_at": None})
    api.bad("PUT", f"{path}{made['id']}/", "lead_id", json={"lead_id": None})
    assert api.ok("GET", f"{path}{made['id']}/") == updated  # refused writes changed nothing
    assert len(api.ok("GET", path)["data"]) == 1

    assert api.ok("DELETE", f"{path}{made['id']}/") == {}
    api.bad("GET", f"{path}{made['id']}/", status=404)
    api.bad("DELETE", f"{path}{made['id']}/", status=404)
    api.bad("GET", f"/activity/{other_kind}/{made['id']}/", status=404)  # a type reads only its own records
    assert api.ok("GET", path)["data"] == []


def test_an_activity_is_on_a_lead_and_optionally_one_of_its_contacts(api: Api) -> None:
    lead = make_lead(api)
    contact = make_contact(api, lead_id=lead["id"])
    stranger = make_contact(api)  # on another lead
    on_contact = make_activity(api, "call", contact_id=contact["id"])
    assert on_contact["lead_id"] == lead["id"] and on_contact["contact_id"] == contact["id"]
    api.bad("POST", "/activity/call/", "contact_id", json={"lead_id": lead["id"], "contact_id": stranger["id"]})
    api.bad("PUT", f"/activity/call/{on_contact['id']}/", "contact_id", json={"contact_id": stranger["id"]})
    moved = api.ok("PUT", f"/activity/call/{on_contact['id']}/", json={"contact_id": stranger["id"],
                                                                       "lead_id": stranger["lead_id"]})
    assert moved["lead_id"] == stranger["lead_id"] and moved["contact_id"] == stranger["id"]
    detached = api.ok("PUT", f"/activity/call/{on_contact['id']}/", json={"contact_id": None})
    assert detached["contact_id"] is None and detached["lead_id"] == stranger["lead_id"]

    member = api.ok("POST", "/membership/", json={"email": "rep@example.com"})
    by_member = make_activity(api, lead_id=lead["id"], user_id=member["user_id"])
    assert by_member["user_id"] == member["user_id"] and by_member["created_by"] == api.user_id
    api.bad("POST", "/activity/note/", "user_id", json={"lead_id": lead["id"], "note": "x",
                                                        "user_id": "user_" + "0" * 22})


def test_deleting_a_contact_keeps_its_activities_and_deleting_a_lead_deletes_them(api: Api) -> None:
    lead = make_lead(api)
    contact = make_contact(api, lead_id=lead["id"])
    note = make_activity(api, contact_id=contact["id"])
    email = make_activity(api, "email", lead_id=lead["id"])
    api.ok("DELETE", f"/contact/{contact['id']}/")
    assert api.ok("GET", f"/activity/note/{note['id']}/")["contact_id"] is None

    api.ok("DELETE", f"/lead/{lead['id']}/")
    api.bad("GET", f"/activity/note/{note['id']}/", status=404)
    api.bad("GET", f"/activity/email/{email['id']}/", status=404)
    api.bad("GET", f"/activity/emailthread/{email['thread_id']}/", status=404)
    assert api.ok("GET", "/activity/", params={"lead_id": lead["id"]})["data"] == []


def test_note_html_is_sanitized_and_gives_the_plain_text(api: Api) -> None:
    lead = make_lead(api)
    html = ('<p onclick="steal()">Hello<br>world <script>alert(1)</script><b>bold</b> &amp; '
            '<a href="javascript:alert(1)">link</a><img src="x" onerror="alert(1)"></p><iframe src="x"></iframe>'
            '<div>Next</div>')
    note = api.create("activity/note", lead_id=lead["id"], note_html=html)
    for forbidden in ("script", "onclick", "onerror", "javascript", "iframe", "alert"):
        assert forbidden not in note["note_html"], note["note_html"]
    assert "<b>bold</b>" in note["note_html"]
    assert note["note"] == "Hello\nworld bold & link\nNext"
    both = make_activity(api, "note", lead_id=lead["id"], note="Mine", note_html="<p>Theirs</p>")
    assert both["note"] == "Mine"
    rewritten = api.ok("PUT", f"/activity/note/{both['id']}/", json={"note_html": "<i>New</i>"})
    assert rewritten["note"] == "New" and rewritten["note_html"] == "<i>New</i>"
    api.bad("POST", "/activity/note/", "note", json={"lead_id": lead["id"]})
    api.bad("PUT", f"/activity/note/{both['id']}/", "note", json={"note": "", "note_html": None})

    email = make_activity(api, "email", lead_id=lead["id"], body_html='<p>Hi <a href="https://x.example" '
                                                                        'onmouseover="x()">there</a></p>')
    assert "onmouseover" not in email["body_html"] and email["body_text"] == "Hi there"


def test_email_status_follows_the_delivery_life_cycle(api: Api) -> None:
    # Queuing (scheduled, outbox) needs a recipient and an account of the caller's (test_messaging.py sends);
    # its server stops once the account is connected, so no real send races the walk below.
    mail = SmtpServer().start()
    mail.account(api)
    mail.stop()
    lead = make_lead(api)
    draft = make_activity(api, "email", lead_id=lead["id"], activity_at="2020-01-01T00:00:00Z", to=["a@b.example"])
    path = f"/activity/email/{draft['id']}/"
    assert draft["status"] == "draft" and draft["date_sent"] is None
    api.bad("PUT", path, "status", json={"status": "sent"})  # must go through the outbox
    api.bad("PUT", path, "status", json={"status": "inbox"})
    api.bad("PUT", path, "status", json={"status": None})
    api.bad("PUT", path, "date_scheduled", json={"status": "scheduled"})
    scheduled = api.ok("PUT", path, json={"status": "scheduled", "date_scheduled": "2026-03-01T09:00:00Z"})
    assert scheduled["date_scheduled"] == "2026-03-01T09:00:00.000Z"
    assert api.ok("PUT", path, json={"status": "draft"})["status"] == "draft"
    for status in ("outbox", "sending", "error", "outbox", "sending"):
        assert api.ok("PUT", path, json={"status": status})["status"] == status
    sent = api.ok("PUT", path, json={"status": "sent"})
    assert sent["status"] == "sent" and TIMESTAMP.match(sent["date_sent"])
    assert sent["activity_at"] == sent["date_sent"] > draft["activity_at"]  # it happened when it was sent
    for status in ("draft", "outbox", "sending", "error", "scheduled"):
        body = api.bad("PUT", path, "status", json={"status": status})
        assert "sent" in body["field-errors"]["status"]
    assert api.ok("PUT", path, json={"status": "sent", "subject": "Fixed typo"})["subject"] == "Fixed typo"

    logged = make_activity(api, "email", lead_id=lead["id"], status="sent", date_sent="2026-01-05T10:00:00Z")
    assert logged["activity_at"] == logged["date_sent"] == "2026-01-05T10:00:00.000Z"
    inbound = make_activity(api, "email", lead_id=lead["id"], direction="inbound")
    assert inbound["status"] == "inbox"
    api.bad("PUT", f"/activity/email/{inbound['id']}/", "status", json={"status": "draft"})
    api.bad("POST", "/activity/email/", "status", json={"lead_id": lead["id"], "direction": "inbound",
                                                        "status": "draft"})
    api.bad("POST", "/activity/email/", "status", json={"lead_id": lead["id"], "status": "inbox"})

    sms = make_activity(api, "sms", lead_id=lead["id"], status="sent")
    api.bad("PUT", f"/activity/sms/{sms['id']}/", "status", json={"status": "draft"})
    # Queuing an SMS needs a number to send it to (and an SMS account: tests/test_sms.py sends for real).
    api.bad("POST", "/activity/sms/", "remote_phone", json={"lead_id": lead["id"], "status": "outbox"})
    assert make_activity(api, "sms", lead_id=lead["id"], direction="inbound")["status"] == "inbox"


def test_emails_are_grouped_in_threads(api: Api, other: Api) -> None:
    lead = make_lead(api)
    first = make_activity(api, "email", lead_id=lead["id"], subject="Pricing", sender="me@seller.example",
                          to=["Ann@Acme.example"], bcc=["secret@seller.example"],
                          activity_at="2026-01-01T10:00:00Z")
    thread_id = first["thread_id"]
    assert thread_id.startswith("thrd_")
    reply = make_activity(api, "email", lead_id=lead["id"], thread_id=thread_id, subject="Re: Pricing",
                          direction="inbound", sender="ann@acme.example", to=["me@seller.example"],
                          cc=["bob@acme.example"], activity_at="2026-01-02T10:00:00Z")
    assert reply["thread_id"] == thread_id
    thread = api.ok("GET", f"/activity/emailthread/{thread_id}/")
    assert thread["_type"] == "emailthread" and thread["lead_id"] == lead["id"]
    assert thread["subject"] == "Pricing" and thread["n_emails"] == 2
    assert thread["participants"] == ["me@seller.example", "ann@acme.example", "bob@acme.example"]  # no bcc
    assert thread["latest_email_id"] == reply["id"] and thread["activity_at"] == reply["activity_at"]
    assert [e["id"] for e in thread["emails"]] == [first["id"], reply["id"]]  # oldest first
    assert thread["emails"][1] == api.ok("GET", f"/activity/email/{reply['id']}/")
    listed = api.ok("GET", "/activity/emailthread/", params={"lead_id": lead["id"]})["data"]
    assert [t["id"] for t in listed] == [thread_id] and "emails" not in listed[0]
    assert api.ok("GET", f"/activity/emailthread/{thread_id}/", params={"_fields": "n_emails,emails"})[
        "n_emails"] == 2
    api.bad("GET", "/activity/emailthread/", "_fields", params={"_fields": "emails"})  # detail only

    solo = make_activity(api, "email", lead_id=lead["id"], activity_at="2026-01-03T10:00:00Z")
    assert solo["thread_id"] != thread_id
    newest_first = api.ok("GET", "/activity/emailthread/", params={"lead_id": lead["id"]})["data"]
    assert [t["id"] for t in newest_first] == [solo["thread_id"], thread_id]

    elsewhere = make_lead(api)
    api.bad("POST", "/activity/email/", "thread_id", json={"lead_id": elsewhere["id"], "thread_id": thread_id})
    other_lead = make_lead(other)
    other.bad("POST", "/activity/email/", "thread_id", json={"lead_id": other_lead["id"], "thread_id": thread_id})
    other.bad("GET", f"/activity/emailthread/{thread_id}/", status=404)

    # The summary stays exact as emails change, move and go.
    api.ok("PUT", f"/activity/email/{reply['id']}/", json={"activity_at": "2025-12-31T10:00:00Z"})
    thread = api.ok("GET", f"/activity/emailthread/{thread_id}/")
    assert thread["latest_email_id"] == first["id"] and thread["subject"] == "Re: Pricing"
    moved = api.ok("PUT", f"/activity/email/{reply['id']}/", json={"thread_id": solo["thread_id"]})
    assert moved["thread_id"] == solo["thread_id"]
    assert api.ok("GET", f"/activity/emailthread/{thread_id}/")["n_emails"] == 1
    assert api.ok("GET", f"/activity/emailthread/{solo['thread_id']}/")["n_emails"] == 2
    split = api.ok("PUT", f"/activity/email/{reply['id']}/", json={"thread_id": None})
    assert split["thread_id"] not in (thread_id, solo["thread_id"])
    rehomed = api.ok("PUT", f"/activity/email/{solo['id']}/", json={"lead_id": elsewhere["id"]})
    assert rehomed["thread_id"] != solo["thread_id"]  # a thread stays on one lead
    api.bad("GET", f"/activity/emailthread/{solo['thread_id']}/", status=404)  # it was left empty
    assert api.ok("GET", f"/activity/emailthread/{rehomed['thread_id']}/")["lead_id"] == elsewhere["id"]
    api.ok("DELETE", f"/activity/email/{first['id']}/")
    api.bad("GET", f"/activity/emailthread/{thread_id}/", status=404)


def test_meetings_check_their_times_and_match_attendees_to_contacts(api: Api, other: Api) -> None:
    lead = make_lead(api)
    ann = make_contact(api, lead_id=lead["id"], name="Ann", emails=[{"email": "ann@acme.example"}])
    make_contact(api, name="Ann elsewhere", emails=[{"email": "ann@acme.example"}])  # same email, other lead
    bob = make_contact(api, name="Bob", emails=[{"email": "bob@beta.example"}])
    meeting = make_activity(api, "meeting", lead_id=lead["id"], starts_at="2026-02-01T14:00:00Z", attendees=[
        {"email": "ANN@acme.example", "name": "Ann"}, {"email": "bob@beta.example"}, {"email": "new@x.example"},
        {"email": "ann@acme.example", "contact_id": bob["id"]}])
    assert [a["contact_id"] for a in meeting["attendees"]] == [ann["id"], bob["id"], None, bob["id"]]
    assert meeting["attendees"][0] == {"email": "ANN@acme.example", "name": "Ann", "contact_id": ann["id"]}
    assert meeting["activity_at"] == "2026-02-01T14:00:00.000Z"

    path = f"/activity/meeting/{meeting['id']}/"
    moved = api.ok("PUT", path, json={"starts_at": "2026-02-02T09:00:00Z"})
    assert moved["activity_at"] == "2026-02-02T09:00:00.000Z" and moved["attendees"] == meeting["attendees"]
    api.bad("PUT", path, "ends_at", json={"ends_at": "2026-02-02T08:00:00Z"})
    api.bad("PUT", path, "ends_at", json={"ends_at": "2026-02-02T09:00:00Z"})  # ends after it starts
    api.bad("PUT", path, "starts_at", json={"starts_at": None})
    assert api.ok("PUT", path, json={"ends_at": "2026-02-02T10:00:00Z"})["ends_at"] == "2026-02-02T10:00:00.000Z"
    api.bad("PUT", path, "starts_at", json={"starts_at": "2026-02-02T11:00:00Z"})  # now after its end
    foreign = make_contact(other)
    api.bad("PUT", path, "attendees.0.contact_id", json={"attendees": [{"email": "a@b.example",
                                                                        "contact_id": foreign["id"]}]})


@pytest.mark.parametrize("kind", ["created", "status_change/lead", "status_change/opportunity", "task_completed"])
def test_generated_types_refuse_writes(kind: str, api: Api) -> None:
    lead = make_lead(api)
    created = api.ok("GET", "/activity/created/", params={"lead_id": lead["id"]})["data"][0]
    api.bad("POST", f"/activity/{kind}/", status=405, json={"lead_id": lead["id"]})
    api.bad("PUT", f"/activity/{kind}/{created['id']}/", status=405, json={})
    api.bad("DELETE", f"/activity/{kind}/{created['id']}/", status=405)
    api.bad("PUT", "/activity/note/" + created["id"] + "/", status=404, json={"note": "x"})  # not a note
    api.bad("DELETE", "/activity/note/" + created["id"] + "/", status=404)
    assert api.ok("GET", f"/activity/created/{created['id']}/") == created


def test_the_stream_and_threads_are_read_only(api: Api) -> None:
    email = make_activity(api, "email")
    api.bad("POST", "/activity/", status=405, json={"note": "x"})
    api.bad("POST", "/activity/emailthread/", status=405, json={})
    api.bad("PUT", f"/activity/emailthread/{email['thread_id']}/", status=405, json={})
    api.bad("DELETE", f"/activity/emailthread/{email['thread_id']}/", status=405)
