"""Conversations over the real stack: the spec's seven operations (list, create, get, update, soft delete,
restore, message), notes/emails/SMS added through the real delivery state machine (a real SMTP server and
the local SMS provider, on a server of this module's own with its in-process worker), inbound replies
threading in unread, isolation between workspaces, and the MCP send_email tool.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from geniziz.db import Database

from tests.conftest import Api, Server, new_workspace, start_server, stop_server, wait_until
from tests.factories import make_contact, make_lead
from tests.sms_provider import NUMBER, SmsProvider, wait_sent
from tests.smtp_server import SmtpServer
from tests.test_mcp import Mcp
from tests.test_messaging import FAST, _fresh_url

PHONE = "+14155550123"
PUBLIC = "https://crm.example.test"  # the server's public address, which unsubscribe links use


@pytest.fixture(scope="module")
def send_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("conversations")
    urls = _fresh_url(directory)
    server = start_server(next(urls), directory / "server.log", **FAST, GENIZIZ_PUBLIC_URL=PUBLIC)
    yield server
    stop_server(server)
    assert "Unhandled error" not in server.log(), server.log()
    next(urls, None)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def provider() -> Iterator[SmsProvider]:
    server = SmsProvider().start()
    yield server
    server.stop()


def execute(database_url: str, statement: str, **params: Any) -> None:
    """A write no API action makes (a flag another domain sets), straight into the server's database."""
    async def run() -> None:
        db = Database(database_url)
        try:
            async with db.system_session(write=True) as session:
                await session.execute(text(statement), params)
        finally:
            await db.dispose()

    asyncio.run(run())


def contact_of(api: Api, **body: Any) -> dict[str, Any]:
    return make_contact(api, name="Jane Roe", emails=[{"email": "jane@buyer.example"}],
                        phones=[{"phone": PHONE}], **body)


def conversation(api: Api, **body: Any) -> dict[str, Any]:
    if "contact_id" not in body and "lead_id" not in body:
        body["contact_id"] = contact_of(api)["id"]
    return api.create("conversation", **body)


def message(api: Api, conversation_id: str, **body: Any) -> dict[str, Any]:
    return api.ok("POST", f"/conversation/{conversation_id}/message/", json=body)


# --- the seven operations ----------------------------------------------------------------------------
def test_create_get_list_update(api: Api) -> None:
    contact = contact_of(api)
    created = api.create("conversation", contact_id=contact["id"], subject="Renewal", channels=["sms", "email"])
    assert created["id"].startswith("conv_") and created["lead_id"] == contact["lead_id"]
    assert created["channels"] == ["email", "sms"] and created["n_messages"] == 0 and created["is_unread"] is False
    assert created["date_deleted"] is None and created["participants"] == []
    got = api.ok("GET", f"/conversation/{created['id']}/")
    assert got["messages"] == [] and got["subject"] == "Renewal"
    assert api.ok("GET", f"/conversation/{created['id']}/", params={"_fields": "id,subject"}) == {
        "id": created["id"], "subject": "Renewal"}
    assert api.ok("GET", f"/conversation/{created['id']}/", params={"_fields": "id,messages"}) == {
        "id": created["id"], "messages": []}
    # A lead alone is enough; the newest activity first.
    lead_only = api.create("conversation", lead_id=contact["lead_id"])
    assert lead_only["contact_id"] is None
    listed = api.ok("GET", "/conversation/")
    assert [c["id"] for c in listed["data"]] == [lead_only["id"], created["id"]] and listed["has_more"] is False
    assert "messages" not in listed["data"][0]
    assert [c["id"] for c in api.ok("GET", "/conversation/", params={"channel": "sms"})["data"]] == [created["id"]]
    assert api.ok("GET", "/conversation/", params={"_limit": 1})["has_more"] is True
    assert [c["id"] for c in api.ok("GET", "/conversation/", params={"contact_id": contact["id"]})["data"]] == [
        created["id"]]

    updated = api.ok("PUT", f"/conversation/{created['id']}/", json={"subject": "Renewal 2027", "channels": ["sms"]})
    assert updated["subject"] == "Renewal 2027" and updated["channels"] == ["sms"]

    # 400 naming the field.
    api.bad("POST", "/conversation/", "contact_id", json={})
    api.bad("POST", "/conversation/", "contact_id", json={"contact_id": "cont_" + "0" * 22})
    api.bad("POST", "/conversation/", "channels", json={"contact_id": contact["id"], "channels": ["fax"]})
    api.bad("POST", "/conversation/", "bogus", json={"contact_id": contact["id"], "bogus": 1})
    other_lead = make_lead(api)
    api.bad("POST", "/conversation/", "contact_id", json={"contact_id": contact["id"], "lead_id": other_lead["id"]})
    api.bad("PUT", f"/conversation/{created['id']}/", "channels", json={"channels": None})
    api.bad("GET", "/conversation/", "_fields", params={"_fields": "nope"})
    api.bad("GET", "/conversation/conv_0000000000000000000000/", status=404)


def test_delete_is_soft_and_restore_brings_it_back(api: Api) -> None:
    thread = conversation(api)
    note = message(api, thread["id"], type="note", note="Called Jane")
    assert api.ok("DELETE", f"/conversation/{thread['id']}/") == {}
    assert thread["id"] not in [c["id"] for c in api.ok("GET", "/conversation/")["data"]]
    assert [c["id"] for c in api.ok("GET", "/conversation/", params={"is_deleted": "true"})["data"]] == [thread["id"]]
    gone = api.ok("GET", f"/conversation/{thread['id']}/")
    assert gone["date_deleted"] and [m["id"] for m in gone["messages"]] == [note["id"]]  # messages kept
    assert api.ok("GET", f"/activity/note/{note['id']}/")["note"] == "Called Jane"
    assert api.ok("DELETE", f"/conversation/{thread['id']}/") == {}  # again: nothing changes
    api.bad("POST", f"/conversation/{thread['id']}/message/", "conversation_id", json={"type": "note", "note": "x"})

    restored = api.ok("POST", f"/conversation/{thread['id']}/restore/", status=200, json={})  # the spec's body
    assert restored["date_deleted"] is None and restored["n_messages"] == 1
    assert [c["id"] for c in api.ok("GET", "/conversation/")["data"]] == [thread["id"]]
    assert api.ok("POST", f"/conversation/{thread['id']}/restore/", status=200)["date_deleted"] is None
    assert api.ok("GET", "/conversation/", params={"is_deleted": "true"})["data"] == []


def test_another_workspace_sees_and_reaches_nothing(api: Api, other: Api) -> None:
    thread = conversation(api, subject="Private")
    message(api, thread["id"], type="note", note="secret")
    path = f"/conversation/{thread['id']}/"
    other.bad("GET", path, status=404)
    other.bad("PUT", path, status=404, json={"subject": "x"})
    other.bad("DELETE", path, status=404)
    other.bad("POST", f"{path}restore/", status=404)
    other.bad("POST", f"{path}message/", status=404, json={"type": "note", "note": "x"})
    assert other.ok("GET", "/conversation/")["data"] == []
    assert other.ok("GET", "/conversation/", params={"is_deleted": "true"})["data"] == []
    # Another workspace's contact is refused by name.
    other.bad("POST", "/conversation/", "contact_id", json={"contact_id": thread["contact_id"]})
    got = api.ok("GET", path)
    assert got["subject"] == "Private" and got["date_deleted"] is None and got["n_messages"] == 1


# --- messages ---------------------------------------------------------------------------------------------
def test_notes_and_drafts_join_the_thread_in_order(api: Api) -> None:
    thread = conversation(api, subject="Pricing")
    note = message(api, thread["id"], type="note", note="Jane asked for pricing")
    assert note["_type"] == "note" and note["conversation_id"] == thread["id"] and note["is_unread"] is False
    time.sleep(0.01)
    draft = message(api, thread["id"], type="email", body_text="Here it is")
    # Draft by default, to the conversation's contact, with the conversation's subject, on its lead.
    assert draft["_type"] == "email" and draft["status"] == "draft" and draft["to"] == ["jane@buyer.example"]
    assert draft["subject"] == "Pricing" and draft["lead_id"] == thread["lead_id"]
    assert draft["contact_id"] == thread["contact_id"]
    time.sleep(0.01)
    sms = message(api, thread["id"], type="sms", text="Sent you the pricing")
    assert sms["_type"] == "sms" and sms["status"] == "draft" and sms["remote_phone"] == PHONE

    got = api.ok("GET", f"/conversation/{thread['id']}/")
    assert [m["id"] for m in got["messages"]] == [note["id"], draft["id"], sms["id"]]
    assert [m["_type"] for m in got["messages"]] == ["note", "email", "sms"]
    assert got["n_messages"] == 3 and got["latest_message_id"] == sms["id"] and got["channels"] == ["email", "sms"]
    assert got["thread_id"] == draft["thread_id"] and got["participants"] == ["jane@buyer.example", PHONE]
    # A second email stays in the same email thread; the activity stream has them all.
    second = message(api, thread["id"], type="email", body_text="And the terms", subject="Terms")
    assert second["thread_id"] == draft["thread_id"]
    stream = {a["id"] for a in api.ok("GET", "/activity/", params={"lead_id": thread["lead_id"]})["data"]}
    assert {note["id"], draft["id"], sms["id"], second["id"]} <= stream

    # Each type's fields only, checked as its activity checks them.
    api.bad("POST", f"/conversation/{thread['id']}/message/", "text", json={"type": "note", "text": "x"})
    api.bad("POST", f"/conversation/{thread['id']}/message/", "note", json={"type": "note"})
    api.bad("POST", f"/conversation/{thread['id']}/message/", "type", json={"type": "fax"})
    api.bad("POST", f"/conversation/{thread['id']}/message/", "to", json={"type": "email", "to": ["not an address"]})
    api.bad("POST", f"/conversation/{thread['id']}/message/", "date_scheduled",
            json={"type": "email", "status": "scheduled"})
    # Sending needs an account: a 400 naming it, and nothing is stored.
    api.bad("POST", f"/conversation/{thread['id']}/message/", "sender", json={"type": "email", "status": "outbox"})
    api.bad("POST", f"/conversation/{thread['id']}/message/", "local_phone",
            json={"type": "sms", "text": "hi", "status": "outbox"})
    assert api.ok("GET", f"/conversation/{thread['id']}/")["n_messages"] == 4

    # A message deleted leaves the summary: its count, and the latest message when it was that one.
    api.ok("DELETE", f"/activity/email/{second['id']}/")
    api.ok("DELETE", f"/activity/note/{note['id']}/")
    got = api.ok("GET", f"/conversation/{thread['id']}/")
    assert got["n_messages"] == 2 and got["latest_message_id"] == sms["id"]
    assert [m["id"] for m in got["messages"]] == [draft["id"], sms["id"]]
    api.ok("DELETE", f"/activity/sms/{sms['id']}/")
    got = api.ok("GET", f"/conversation/{thread['id']}/")
    assert got["n_messages"] == 1 and got["latest_message_id"] == draft["id"]


def test_inbound_replies_land_in_their_conversation_unread(api: Api) -> None:
    thread = conversation(api, subject="Proposal")
    sent = message(api, thread["id"], type="email", body_text="Our proposal", status="draft")
    # A reply in the email thread (as inbound mail matching records it) joins this conversation, unread.
    reply = api.create("activity/email", lead_id=thread["lead_id"], contact_id=thread["contact_id"],
                       direction="inbound", thread_id=sent["thread_id"], subject="Re: Proposal",
                       sender="jane@buyer.example", to=["me@seller.example"], body_text="Looks good")
    got = api.ok("GET", f"/conversation/{thread['id']}/")
    assert [m["id"] for m in got["messages"]] == [sent["id"], reply["id"]]
    assert got["messages"][-1]["is_unread"] is True and got["n_unread"] == 1 and got["is_unread"] is True
    assert [c["id"] for c in api.ok("GET", "/conversation/", params={"is_unread": "true"})["data"]] == [thread["id"]]

    # Read: every message read; unread again: the latest.
    read = api.ok("PUT", f"/conversation/{thread['id']}/", json={"is_unread": False})
    assert read["n_unread"] == 0 and read["is_unread"] is False
    assert api.ok("GET", "/conversation/", params={"is_unread": "true"})["data"] == []
    assert api.ok("PUT", f"/conversation/{thread['id']}/", json={"is_unread": True})["n_unread"] == 1

    # Without a thread, an inbound message goes to the contact's latest conversation.
    sms = api.create("activity/sms", contact_id=thread["contact_id"], direction="inbound", remote_phone=PHONE,
                     text="Call me")
    assert api.ok("GET", f"/conversation/{thread['id']}/")["messages"][-1]["id"] == sms["id"]
    # A reply to a deleted conversation brings it back.
    api.ok("DELETE", f"/conversation/{thread['id']}/")
    api.create("activity/email", contact_id=thread["contact_id"], direction="inbound", thread_id=sent["thread_id"],
               sender="jane@buyer.example", body_text="Any news?")
    back = api.ok("GET", f"/conversation/{thread['id']}/")
    assert back["date_deleted"] is None and back["n_messages"] == 4 and back["n_unread"] == 3

    # A contact with no conversation yet: the inbound message starts one.
    stranger = make_contact(api, name="Sam New", emails=[{"email": "sam@new.example"}])
    first = api.create("activity/email", contact_id=stranger["id"], direction="inbound", subject="Question",
                       sender="sam@new.example", body_text="Hi")
    [started] = api.ok("GET", "/conversation/", params={"contact_id": stranger["id"]})["data"]
    assert started["subject"] == "Question" and started["latest_message_id"] == first["id"]
    assert started["n_unread"] == 1 and started["thread_id"] == first["thread_id"]
    # An outbound email outside any conversation stays on the timeline only.
    lone = make_contact(api, name="Lone", emails=[{"email": "lone@x.example"}])
    api.create("activity/email", contact_id=lone["id"], to=["lone@x.example"], body_text="hello")
    assert api.ok("GET", "/conversation/", params={"contact_id": lone["id"]})["data"] == []


def test_email_and_sms_messages_are_really_sent(send_server: Server, smtp: SmtpServer,
                                                provider: SmsProvider) -> None:
    api = new_workspace(send_server)
    account = smtp.account(api)
    provider.account(api)
    thread = conversation(api, subject="Kick-off")
    email = message(api, thread["id"], type="email", body_text="See you Monday", status="outbox")
    assert email["status"] == "outbox" and email["message_id"]
    text = message(api, thread["id"], type="sms", text="See you Monday!", status="outbox")
    wait_until(lambda: api.ok("GET", f"/activity/email/{email['id']}/")["status"] == "sent", what="the email sent")
    wait_until(lambda: api.ok("GET", f"/activity/sms/{text['id']}/")["status"] == "sent", what="the SMS sent")
    time.sleep(0.5)
    [got] = smtp.with_id(email["message_id"])
    assert got.rcpt_tos == ["jane@buyer.example"] and got.message["Subject"] == "Kick-off"
    assert got.mail_from == account["email"]
    [sent] = wait_sent(provider, 1)
    assert (sent.to, sent.sender, sent.body) == (PHONE, NUMBER, "See you Monday!")
    assert api.ok("GET", f"/activity/sms/{text['id']}/")["provider_sid"] == sent.sid
    got = api.ok("GET", f"/conversation/{thread['id']}/")
    assert [m["status"] for m in got["messages"]] == ["sent", "sent"]
    api.close()


def test_mcp_send_email_drafts_unless_asked_to_send(send_server: Server, smtp: SmtpServer) -> None:
    api = new_workspace(send_server)
    smtp.account(api)
    contact = contact_of(api)
    mcp = Mcp(api, scope="write_safe")
    draft = mcp.call("send_email", contact_id=contact["id"], subject="Hello", body_text="Draft for review")
    assert draft["status"] == "draft" and draft["to"] == ["jane@buyer.example"]
    time.sleep(0.5)
    assert not smtp.mailbox.received
    sent = mcp.call("send_email", contact_id=contact["id"], subject="Hello", body_text="Now", send=True)
    assert sent["status"] == "outbox"
    wait_until(lambda: api.ok("GET", f"/activity/email/{sent['id']}/")["status"] == "sent", what="the email sent")
    thread = conversation(api, contact_id=contact["id"], subject="Thread")
    reply = mcp.call("send_email", conversation_id=thread["id"], body_text="In the thread")
    assert reply["conversation_id"] == thread["id"] and reply["status"] == "draft"
    # A read-only agent cannot.
    is_error, _body = Mcp(api, scope="read").raw("send_email", contact_id=contact["id"], body_text="x")
    assert is_error
    api.close()


def test_one_click_unsubscribe(send_server: Server, smtp: SmtpServer) -> None:
    api = new_workspace(send_server)
    account = smtp.account(api)
    lead = make_lead(api)
    email = api.create("activity/email", lead_id=lead["id"], to=["Jane@Buyer.example"], subject="Sequence step",
                       body_text="Hi", sender=account["email"])
    # Sequence mail carries the flag (set by the sequences domain, not by clients).
    execute(api.database_url, "UPDATE activity SET data = :d WHERE id = :i", i=email["id"],
            d=json.dumps({**{k: email[k] for k in ("to", "subject", "body_text", "sender")}, "list_unsubscribe": True}))
    queued = api.ok("PUT", f"/activity/email/{email['id']}/", json={"status": "outbox"})
    wait_until(lambda: api.ok("GET", f"/activity/email/{email['id']}/")["status"] == "sent", what="the email sent")
    time.sleep(0.5)
    [got] = smtp.with_id(queued["message_id"])
    header = got.message["List-Unsubscribe"]
    assert got.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = header.split("<", 1)[1].split(">", 1)[0]
    assert link.startswith(PUBLIC + "/unsubscribe/") and f"<mailto:{account['email']}?subject=" in header
    link = link.replace(PUBLIC, send_server.base_url)

    page = httpx.get(link)  # a GET (a scanner's) shows a button and changes nothing
    assert page.status_code == 200 and "jane@buyer.example" in page.text
    assert api.ok("GET", "/unsubscribed_email/")["data"] == []
    done = httpx.post(link, data={"List-Unsubscribe": "One-Click"})  # RFC 8058, no API key
    assert done.status_code == 200, done.text
    [entry] = api.ok("GET", "/unsubscribed_email/")["data"]
    assert entry["email"] == "jane@buyer.example" and entry["source"] == "one_click"
    assert httpx.post(link).status_code == 200  # again: still one entry
    assert len(api.ok("GET", "/unsubscribed_email/")["data"]) == 1
    # A forged or altered token is refused in the error envelope.
    payload, _, _signature = link.rstrip("/").rsplit("/", 1)[1].partition(".")
    for bad in (f"{payload}.AAAAAAAAAAAAAAAAAAAAAA", "nothing", f"{payload}x.{_signature}"):
        answer = httpx.post(f"{send_server.base_url}/unsubscribe/{bad}/")
        assert answer.status_code == 404 and "field-errors" in answer.json(), answer.text
    # And the address is suppressed from now on.
    api.bad("POST", "/activity/email/", "to", json={"lead_id": lead["id"], "to": ["jane@buyer.example"],
                                                    "status": "outbox", "sender": account["email"]})
    api.close()
