"""Messaging through real servers: connected accounts tested against a real SMTP server (aiosmtpd, in
this process), templates rendered in the sandbox, and email activities delivered by the worker.

Delivery runs on servers of this module's own (own database, the in-process worker with short polls,
leases and backoffs), so a server can be killed mid-send and restarted on the same database. On
SQLite those servers run without GENIZIZ_SECRET_KEY, so the generated key file is exercised too.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from geniziz.db import Database
from tests.conftest import BACKEND, Api, Server, fresh_database, member_client, new_workspace, start_server, \
    stop_server, wait_until
from tests.factories import make_contact, make_lead
from tests import imap_server
from tests.smtp_server import PASSWORD, SmtpServer

FAST = {"GENIZIZ_WORKER_POLL_SECONDS": "0.05", "GENIZIZ_WORKER_LEASE_SECONDS": "2",
        "GENIZIZ_JOB_BACKOFF_SECONDS": "0.3", "GENIZIZ_INPROCESS_WORKER": "1", "GENIZIZ_LOG_LEVEL": "info"}
if BACKEND == "sqlite":
    FAST["GENIZIZ_SECRET_KEY"] = ""  # the key is generated next to the database


def sql(database_url: str, statement: str, **params: Any) -> list[Any]:
    async def run() -> list[Any]:
        db = Database(database_url)
        try:
            async with db.system_session() as session:
                return list((await session.execute(text(statement), params)).all())
        finally:
            await db.dispose()

    return asyncio.run(run())


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


# --- servers of our own ---------------------------------------------------------------------------
def _fresh_url(directory: Path) -> Iterator[str]:
    yield from fresh_database(directory, "mail")


@pytest.fixture
def fresh_url(tmp_path: Path) -> Iterator[str]:
    yield from _fresh_url(tmp_path)


@pytest.fixture(scope="module")
def mail_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One delivery server for the module; each test takes a new workspace on it."""
    directory = tmp_path_factory.mktemp("mail")
    urls = _fresh_url(directory)
    server = start_server(next(urls), directory / "server.log", **FAST)
    yield server
    stop_server(server)
    assert "Unhandled error" not in server.log(), server.log()
    next(urls, None)  # drops the PostgreSQL database


def email_of(api: Api, activity_id: str) -> dict[str, Any]:
    return api.ok("GET", f"/activity/email/{activity_id}/")


def wait_email(api: Api, activity_id: str, *statuses: str, timeout: float = 30) -> dict[str, Any]:
    return wait_until(lambda: (e := email_of(api, activity_id))["status"] in statuses and e, timeout,
                      f"email {activity_id} to be {'/'.join(statuses)}")


def outbox_body(api: Api, account: dict[str, Any], **body: Any) -> dict[str, Any]:
    contact = make_contact(api, name="Jane Roe", emails=[{"email": "jane@buyer.example"}])
    return {"contact_id": contact["id"], "to": ["jane@buyer.example"], "subject": "Proposal",
            "body_text": "Hello Jane", "sender": account["email"], "status": "outbox", **body}


def outbox(api: Api, account: dict[str, Any], **body: Any) -> dict[str, Any]:
    return api.create("activity/email", **outbox_body(api, account, **body))


# --- connected accounts ---------------------------------------------------------------------------
def test_an_account_is_tested_on_create_and_its_credentials_are_never_returned(api: Api, smtp: SmtpServer) -> None:
    account = smtp.account(api, display_name="Sam Seller")
    assert account["id"].startswith("acct_") and account["has_smtp_password"] is True
    assert account["has_imap_password"] is False and account["smtp_username"] == "seller"
    assert account["last_tested_at"] and account["last_test_error"] is None
    reads = [account, api.ok("GET", f"/connected_account/{account['id']}/"), api.ok("GET", "/connected_account/"),
             api.ok("PUT", f"/connected_account/{account['id']}/", json=imap_server.shared().account())]
    for body in reads:
        assert PASSWORD not in str(body) and imap_server.PASSWORD not in str(body)
        assert "smtp_password" not in str(body).replace("has_smtp_password", "")
    assert reads[-1]["has_imap_password"] is True
    # Encrypted at rest: neither password is in the row.
    stored = sql(api.database_url, "SELECT credentials FROM connected_account WHERE id = :i", i=account["id"])[0][0]
    assert stored and PASSWORD not in stored and imap_server.PASSWORD not in stored

    body = api.bad("POST", "/connected_account/", "smtp_password", json={
        "email": "x@seller.example", "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_tls": "none",
        "smtp_username": "seller", "smtp_password": "wrong"})
    assert "535" in body["field-errors"]["smtp_password"]  # the server's reason
    # A password is sent as typed: surrounding spaces are not trimmed away (so this one is wrong too).
    body = api.bad("POST", "/connected_account/", "smtp_password", json={
        "email": "x@seller.example", "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_tls": "none",
        "smtp_username": "seller", "smtp_password": f" {PASSWORD} "})
    assert "535" in body["field-errors"]["smtp_password"]
    closed = SmtpServer()  # nothing listens on its port
    body = api.bad("POST", "/connected_account/", "smtp_host", json={
        "email": "x@seller.example", "smtp_host": "127.0.0.1", "smtp_port": closed.port, "smtp_tls": "none"})
    assert "cannot connect" in body["error"]
    api.bad("POST", "/connected_account/", "smtp_tls", json={"email": "x@seller.example", "smtp_host": "h",
                                                             "smtp_tls": "tls1.0"})
    for host in ("a..b", "x" * 70, "mail\x00.example", "-mail.example"):  # refused before any connection
        api.bad("POST", "/connected_account/", "smtp_host", json={"email": "x@seller.example", "smtp_host": host})


def test_a_credential_change_is_tested_and_the_test_action_reports(api: Api, smtp: SmtpServer) -> None:
    account = smtp.account(api)
    path = f"/connected_account/{account['id']}/"
    api.bad("PUT", path, "smtp_password", json={"smtp_password": "wrong"})
    assert api.ok("PUT", path, json={"display_name": "Renamed"})["display_name"] == "Renamed"
    tested = api.ok("POST", f"{path}test/", status=200)
    assert tested["ok"] is True and tested["detail"]
    smtp.stop()
    tested = api.ok("POST", f"{path}test/", status=200)
    assert tested["ok"] is False and "cannot connect" in tested["detail"]
    assert api.ok("GET", path)["last_test_error"] == tested["detail"]
    smtp.start()
    assert api.ok("POST", f"{path}test/", status=200)["ok"] is True  # the stored password still works


def test_accounts_are_private_to_their_owner_unless_an_admin_shares_them(api: Api, other: Api,
                                                                          smtp: SmtpServer) -> None:
    mine = smtp.account(api)
    other.bad("GET", f"/connected_account/{mine['id']}/", status=404)
    assert other.ok("GET", "/connected_account/")["data"] == []
    member = member_client(api)
    member.bad("GET", f"/connected_account/{mine['id']}/", status=404)
    # A member can neither send through the admin's private account nor connect one for someone else.
    contact = make_contact(api)
    member.bad("POST", "/activity/email/", "sender", json={"contact_id": contact["id"], "to": ["a@b.example"],
                                                           "sender": mine["email"], "status": "outbox"})
    member.bad("POST", "/connected_account/", "user_id", json={
        "email": "m@seller.example", "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_tls": "none",
        "user_id": api.user_id})
    member.bad("POST", "/connected_account/", "is_shared", json={
        "email": "m@seller.example", "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_tls": "none",
        "is_shared": True})
    own = smtp.account(member)
    assert own["user_id"] == member.user_id
    assert {a["id"] for a in api.ok("GET", "/connected_account/")["data"]} == {mine["id"], own["id"]}  # admin
    assert [a["id"] for a in member.ok("GET", "/connected_account/")["data"]] == [own["id"]]
    # Shared by the admin: the member sees it and may send through it, but not change it.
    api.ok("PUT", f"/connected_account/{mine['id']}/", json={"is_shared": True})
    assert member.ok("GET", f"/connected_account/{mine['id']}/")["is_shared"] is True
    member.bad("PUT", f"/connected_account/{mine['id']}/", json={"display_name": "x"}, status=403)
    member.bad("DELETE", f"/connected_account/{mine['id']}/", status=403)
    api.ok("DELETE", f"/connected_account/{own['id']}/")
    member.close()


# --- templates ------------------------------------------------------------------------------------
def test_template_crud_and_render(api: Api) -> None:
    lead = make_lead(api, name="Acme Corp", url="https://acme.example")
    contact = make_contact(api, lead_id=lead["id"], name="Jane Roe", title="CTO",
                           emails=[{"email": "jane@acme.example"}])
    template = api.create("email_template", name="Intro", is_shared=True,
                          subject="{{ lead.name }} x {{ organization.name }}",
                          body_text="Hi {{ contact.first_name }}, {{ user.email }} here.",
                          body_html='<p onclick="x()">Hi <b>{{ contact.name }}</b> {{ lead.description }}</p>'
                                    '<script>alert(1)</script>',
                          attachments=[{"name": "deck.pdf", "size": 10}])
    path = f"/email_template/{template['id']}/"
    assert template["id"].startswith("emtp_") and template["attachments"][0]["name"] == "deck.pdf"
    assert api.ok("GET", path)["subject"] == "{{ lead.name }} x {{ organization.name }}"
    me = api.ok("GET", f"/user/{api.user_id}/")

    rendered = api.ok("GET", f"{path}render/", params={"lead_id": lead["id"]})  # the lead's first contact
    assert rendered["subject"] == "Acme Corp x Workspace A" and rendered["contact_id"] == contact["id"]
    assert rendered["body_text"] == f"Hi Jane, {me['email']} here."
    assert "<b>Jane Roe</b>" in rendered["body_html"] and "onclick" not in rendered["body_html"]
    assert "script" not in rendered["body_html"]
    assert api.ok("GET", f"{path}render/", params={"contact_id": contact["id"]})["lead_id"] == lead["id"]
    # The spec's example call: no lead, so `lead` is undefined, named in the 400.
    body = api.bad("GET", f"{path}render/?_limit=100&_skip=0&_fields=", "subject")
    assert "'lead' is undefined" in body["error"]
    assert set(api.ok("GET", f"{path}render/", params={"lead_id": lead["id"], "_fields": "subject"})) == {"subject"}
    api.bad("GET", f"{path}render/", "contact_id", params={"lead_id": make_lead(api)["id"],
                                                             "contact_id": contact["id"]})
    api.bad("GET", f"{path}render/", "lead_id", params={"lead_id": "lead_0000000000000000000000"})

    api.ok("PUT", path, json={"body_text": "Dear {{ contact.nickname }}"})
    body = api.bad("GET", f"{path}render/", "body_text", params={"lead_id": lead["id"]})
    assert "nickname" in body["error"]
    api.bad("POST", "/email_template/", "subject", json={"name": "Broken", "subject": "{{ lead.name "})
    api.bad("POST", "/email_template/", "name", json={"subject": "x"})

    private = api.create("email_template", name="Mine", subject="s")
    member = member_client(api)
    ids = {t["id"] for t in member.ok("GET", "/email_template/")["data"]}
    assert template["id"] in ids and private["id"] not in ids
    member.bad("GET", f"/email_template/{private['id']}/render/", status=404)
    member.bad("PUT", path, json={"name": "Mine now"}, status=403)
    api.ok("DELETE", path)
    api.bad("GET", path, status=404)
    member.close()


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ lead.__class__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ user.update({'email': 'x'}) }}",
    "{{ 'a' * 100000000 }}",
    "{{ 2 ** 1000000 }}",
    "{{ config }}",
    "{% for x in range(10**9) %}{% endfor %}",
])
def test_template_sandbox_refuses_escapes(api: Api, source: str) -> None:
    template = api.create("email_template", name="Evil", subject="s", body_text=source)
    body = api.bad("GET", f"/email_template/{template['id']}/render/", "body_text")
    assert "Traceback" not in body["error"]


# --- delivery -------------------------------------------------------------------------------------
def test_an_email_set_to_outbox_is_delivered_once_with_our_headers(mail_server: Server, smtp: SmtpServer) -> None:
    api = new_workspace(mail_server)
    account = smtp.account(api, display_name="Sam Seller")
    if BACKEND == "sqlite":  # no GENIZIZ_SECRET_KEY: a key was generated next to the database, private
        key = Path(mail_server.database_url.split("///", 1)[1] + ".key")
        assert key.exists() and key.stat().st_mode & 0o777 == 0o600
    draft = outbox(api, account, status="draft", cc=["boss@buyer.example"], bcc=["crm@seller.example"],
                   body_html="<p>Hello <b>Jane</b></p>")
    time.sleep(0.5)
    assert not smtp.mailbox.received and email_of(api, draft["id"])["status"] == "draft"  # drafts stay

    queued = api.ok("PUT", f"/activity/email/{draft['id']}/", json={"status": "outbox"})
    message_id = queued["message_id"]
    assert message_id.startswith(f"<{draft['id']}.") and message_id.endswith("@seller.example>")
    sent = wait_email(api, draft["id"], "sent", "error")
    assert sent["status"] == "sent" and sent["date_sent"] and sent["activity_at"] == sent["date_sent"], sent
    time.sleep(1)
    [got] = smtp.with_id(message_id)
    assert got.mail_from == account["email"]
    assert sorted(got.rcpt_tos) == ["boss@buyer.example", "crm@seller.example", "jane@buyer.example"]
    headers = got.message
    assert headers["From"] == f"Sam Seller <{account['email']}>" and headers["To"] == "jane@buyer.example"
    assert headers["Cc"] == "boss@buyer.example" and headers["Bcc"] is None and headers["Subject"] == "Proposal"
    assert headers["Date"] and headers.get_body(("html",)).get_content().strip() == "<p>Hello <b>Jane</b></p>"
    assert headers.get_body(("plain",)).get_content().strip() == "Hello Jane"
    [job] = api.ok("GET", "/job/", params={"owner_id": draft["id"]})["data"]
    assert job["status"] == "succeeded" and job["kind"] == "email.send"
    api.bad("PUT", f"/activity/email/{draft['id']}/", "status", json={"status": "outbox"})  # sent is final

    # Nobody to send to, or no account of the caller's: a 400 at once, never a silent no-op.
    api.bad("POST", "/activity/email/", "to", json={"lead_id": sent["lead_id"], "status": "outbox"})
    member = member_client(api)
    member.bad("POST", "/activity/email/", "sender", json={"lead_id": sent["lead_id"], "to": ["a@b.example"],
                                                           "status": "outbox"})
    member.close()
    api.close()


def test_a_refused_connection_is_retried_until_the_server_is_back(mail_server: Server, smtp: SmtpServer) -> None:
    api = new_workspace(mail_server)
    account = smtp.account(api)
    smtp.stop()
    email = outbox(api, account)
    wait_until(lambda: (jobs := api.ok("GET", "/job/", params={"owner_id": email["id"]})["data"])
               and jobs[0]["attempts"] >= 2 and jobs[0]["last_error"], what="two failed attempts")
    assert email_of(api, email["id"])["status"] == "outbox" and not smtp.mailbox.received
    smtp.start()
    sent = wait_email(api, email["id"], "sent", "error", timeout=60)
    assert sent["status"] == "sent", sent
    time.sleep(1)
    assert len(smtp.with_id(sent["message_id"])) == 1
    api.close()


def test_a_permanent_refusal_ends_in_error_with_the_reason(mail_server: Server, smtp: SmtpServer) -> None:
    api = new_workspace(mail_server)
    account = smtp.account(api)
    smtp.mailbox.reply = "554 5.7.1 Message rejected as spam"
    email = outbox(api, account)
    failed = wait_email(api, email["id"], "error", "sent")
    assert failed["status"] == "error" and "554 5.7.1 Message rejected as spam" in failed["send_error"], failed
    # Sent again from error: a new Message-ID, and this time the server takes it.
    smtp.mailbox.reply = "250 OK"
    again = api.ok("PUT", f"/activity/email/{email['id']}/", json={"status": "outbox"})
    assert again["message_id"] != failed["message_id"] and again["send_error"] is None
    assert wait_email(api, email["id"], "sent", "error")["status"] == "sent"
    api.close()


def test_the_suppression_list_stops_sends_before_and_after_queuing(mail_server: Server, smtp: SmtpServer) -> None:
    api = new_workspace(mail_server)
    account = smtp.account(api)
    entry = api.create("unsubscribed_email", email="Jane@Buyer.example", reason="asked by phone")
    assert entry["email"] == "jane@buyer.example" and entry["source"] == "manual"
    assert api.create("unsubscribed_email", email="JANE@buyer.example")["id"] == entry["id"]  # once per address
    assert [e["id"] for e in api.ok("GET", "/unsubscribed_email/", params={"email": "jane@BUYER.example"})["data"]] \
        == [entry["id"]]
    api.bad("POST", "/unsubscribed_email/", "email", json={"email": "not an address"})
    api.bad("POST", "/unsubscribed_email/", "source", json={"email": "a@b.example", "source": "whim"})

    # Queuing to a listed address (in any spelling, in any recipient field) is refused at once.
    api.bad("POST", "/activity/email/", "to", json=outbox_body(api, account, to=["JANE@buyer.example"]))
    api.bad("POST", "/activity/email/", "cc", json=outbox_body(api, account, to=["ok@buyer.example"],
                                                               cc=["jane@buyer.example"]))
    # An address listed after the email was queued: the send ends in error, nothing reaches the server.
    later = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    email = api.create("activity/email", **outbox_body(api, account, to=["sam@buyer.example"], status="scheduled",
                                                       date_scheduled=later))
    api.create("unsubscribed_email", email="sam@buyer.example", source="one_click")
    failed = wait_email(api, email["id"], "error", "sent")
    assert failed["status"] == "error" and "unsubscribed" in failed["send_error"], failed
    assert not smtp.mailbox.received
    # Off the list again, it can be sent; and another workspace's list is its own.
    api.ok("DELETE", f"/unsubscribed_email/{entry['id']}/")
    assert wait_email(api, outbox(api, account)["id"], "sent", "error")["status"] == "sent"
    other = new_workspace(mail_server)
    assert other.ok("GET", "/unsubscribed_email/")["data"] == []
    other.close()
    api.close()


def test_sends_over_an_accounts_limits_wait(mail_server: Server, smtp: SmtpServer) -> None:
    api = new_workspace(mail_server)
    account = smtp.account(api, min_gap_seconds=2)
    first, second = outbox(api, account), outbox(api, account)
    for email in (first, second):
        assert wait_email(api, email["id"], "sent", "error")["status"] == "sent"
    times = sorted(time.mktime(r.message["Date"].datetime.timetuple()) for r in smtp.mailbox.received)
    assert len(times) == 2 and times[1] - times[0] >= 1  # Date has whole seconds; the gap was 2 s
    # One per hour: the next one waits (its job re-scheduled about an hour ahead), it is not dropped.
    hourly = smtp.account(api, max_per_hour=1)
    assert wait_email(api, outbox(api, hourly)["id"], "sent", "error")["status"] == "sent"
    waiting = outbox(api, hourly)
    jobs = wait_until(lambda: len(j := api.ok("GET", "/job/", params={"owner_id": waiting["id"]})["data"]) == 2 and j,
                      what="the send to be re-scheduled")
    assert {job["status"] for job in jobs} == {"queued", "succeeded"}
    assert email_of(api, waiting["id"])["status"] == "outbox" and len(smtp.mailbox.received) == 3
    api.close()


def test_a_server_killed_mid_send_never_sends_twice(fresh_url: str, tmp_path: Path, smtp: SmtpServer) -> None:
    first = start_server(fresh_url, tmp_path / "first.log", **FAST)
    api = new_workspace(first)
    account = smtp.account(api)
    smtp.hold()  # DATA is received, then the answer waits
    email = outbox(api, account)
    wait_until(lambda: smtp.mailbox.received, what="the message to reach DATA")
    assert email_of(api, email["id"])["status"] == "sending"  # the hand-off was committed before DATA
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait()
    smtp.release()

    second = start_server(fresh_url, tmp_path / "second.log", **FAST)
    try:
        again = Api(second.base_url, api.key)
        settled = wait_email(again, email["id"], "error", "sent", timeout=30)
        assert settled["status"] == "error" and "may have been delivered" in settled["send_error"], settled
        time.sleep(2)
        assert len(smtp.with_id(settled["message_id"])) == 1  # never twice
        again.close()
    finally:
        stop_server(second)
