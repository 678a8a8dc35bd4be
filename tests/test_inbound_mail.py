"""Receiving mail through a real IMAP server (tests/imap_server.py, in this process) into a real server
with its worker: the cursor, reply threading, auto-replies and bounces, UIDVALIDITY changes,
reconciliation, failures shown in the sync state, and ``email.received`` (seen through
tests/inbound_events.py, which notes each one on the lead)."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from geniziz.api.auth import Principal
from geniziz.api.context import Ctx
from geniziz.db import Database
from geniziz.messaging.inbound import parse, resume_date
from geniziz.messaging.sync import sync_all
from tests.conftest import Api, Server, new_workspace, start_server, stop_server, wait_until
from tests.factories import make_contact
from tests.imap_server import ImapServer, make_bounce, make_email
from tests.smtp_server import SmtpServer
from tests.test_messaging import FAST, _fresh_url

CLIENT = "ann@client.example"


@pytest.fixture(scope="module")
def inbound_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("inbound")
    urls = _fresh_url(directory)
    server = start_server(next(urls), directory / "server.log", GENIZIZ_JOB_MODULES="tests.inbound_events", **FAST)
    yield server
    stop_server(server)
    assert "Unhandled error" not in server.log(), server.log()
    next(urls, None)


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def imap() -> Iterator[ImapServer]:
    server = ImapServer().start()
    yield server
    server.stop()


@pytest.fixture
def box(inbound_server: Server, smtp: SmtpServer, imap: ImapServer) -> Iterator[Mailbox]:
    api = new_workspace(inbound_server)
    yield Mailbox(api, smtp, imap)
    api.close()


class Mailbox:
    """A workspace with an account sending through `smtp` and receiving from `imap`, and a contact."""

    def __init__(self, api: Api, smtp: SmtpServer, imap: ImapServer) -> None:
        self.api, self.smtp, self.imap = api, smtp, imap
        self.account = smtp.account(api, **imap.account())
        self.address = self.account["email"]
        self.contact = make_contact(api, emails=[{"email": CLIENT}])
        self.lead_id = self.contact["lead_id"]

    def send(self, subject: str = "Proposal") -> dict[str, Any]:
        """An email to the contact, sent for real; returns it once sent (with its Message-ID)."""
        email = self.api.create("activity/email", lead_id=self.lead_id, contact_id=self.contact["id"], to=[CLIENT],
                                subject=subject, body_text="Here it is", sender=self.address, status="outbox")
        return wait_until(lambda: (e := self.api.ok("GET", f"/activity/email/{email['id']}/"))["status"] == "sent"
                          and e, what="the email sent")

    def state(self) -> dict[str, Any]:
        return self.api.ok("GET", f"/connected_account/{self.account['id']}/sync/")

    def sync(self, reconcile: bool = False, **expect: int) -> dict[str, Any]:
        """Sync now, wait for its job, and return the sync state (checking `expect`ed outcome counts)."""
        queued = self.api.ok("POST", f"/connected_account/{self.account['id']}/sync/", 200,
                             json={"reconcile": reconcile})
        for job_id in queued["job_ids"]:
            job = wait_until(lambda: (j := self.api.ok("GET", f"/job/{job_id}/"))["status"] in ("succeeded", "failed")
                             and j, what="the sync job")
            assert job["status"] == "succeeded", job
        state = self.state()
        assert {k: state["outcomes"][k] for k in expect} == expect, state
        return state

    def inbound(self) -> list[dict[str, Any]]:
        return self.api.ok("GET", "/activity/email/", params={"direction": "inbound", "lead_id": self.lead_id})["data"]

    def received(self) -> list[str]:
        """The email.received events, as noted by tests/inbound_events.py."""
        notes = self.api.ok("GET", "/activity/note/", params={"lead_id": self.lead_id})["data"]
        return sorted(n["note"] for n in notes if n["note"].startswith("email.received"))


def test_a_reply_threads_into_the_conversation_once(box: Mailbox) -> None:
    sent = box.send()
    reply = make_email(sender=f"Ann <{CLIENT}>", to=box.address, subject="Re: Proposal", body="Looks good",
                       In_Reply_To=sent["message_id"], References=sent["message_id"])
    box.imap.deliver(reply)
    state = box.sync(activity=1)
    [inbox] = state["folders"]
    assert inbox["last_uid"] == 1 and inbox["fetched"] == 1 and inbox["last_error"] is None
    assert inbox["uidvalidity"] == box.imap.folders["INBOX"].uidvalidity
    assert inbox["highestmodseq"] == box.imap.folders["INBOX"].highestmodseq
    assert state["healthy"] is True and state["last_sync_at"]

    [received] = box.inbound()
    assert received["thread_id"] == sent["thread_id"], "the reply joins the thread of the email it answers"
    assert received["status"] == "inbox" and received["inbound_kind"] == "reply" and received["bounce"] is None
    assert received["contact_id"] == box.contact["id"] and received["sender"] == CLIENT
    assert received["subject"] == "Re: Proposal" and received["body_text"].strip() == "Looks good"
    assert received["message_id"] == parse(reply).message_id
    thread = box.api.ok("GET", f"/activity/emailthread/{sent['thread_id']}/")
    assert [e["id"] for e in thread["emails"]] == [sent["id"], received["id"]]
    assert box.received() == [f"email.received {received['id']} reply None None"]

    # The cursor holds: syncing again fetches nothing twice; a new message is fetched alone.
    box.imap.deliver(make_email(sender=CLIENT, to=box.address, subject="Re: Proposal", body="One more thing",
                                References=f"{sent['message_id']} {parse(reply).message_id}"))
    state = box.sync(activity=2)
    assert state["folders"][0]["fetched"] == 2
    newest = box.inbound()
    assert len(newest) == 2 and {e["thread_id"] for e in newest} == {sent["thread_id"]}
    assert len(box.received()) == 2
    assert all(m.flags == [] for m in box.imap.messages()), "the sync reads without marking messages as read"


def test_a_sent_email_is_copied_to_the_sent_folder_once(box: Mailbox) -> None:
    sent = box.send()
    copies = wait_until(lambda: [m for m in box.imap.messages("Sent") if sent["message_id"].encode() in m.data],
                        what="the Sent-folder copy")
    assert len(copies) == 1 and copies[0].flags == ["\\Seen"]
    copy = parse(copies[0].data)
    assert (copy.subject, copy.to, copy.sender) == ("Proposal", [CLIENT], box.address)
    # Synced back (were the Sent folder synced, or the server to file it in the inbox), it is our own.
    box.imap.deliver(copies[0].data)
    assert box.sync(own=1, activity=0)["folders"][0]["fetched"] == 1
    assert box.inbound() == []


def test_outlook_rewritten_ids_and_other_senders(box: Mailbox) -> None:
    sent = box.send()
    # Outlook answers with its own In-Reply-To but keeps ours here.
    box.imap.deliver(make_email(sender=CLIENT, to=box.address, subject="RE: Proposal", body="ok",
                                In_Reply_To="<AM0PR01@outlook.example>",
                                X_Microsoft_Original_Message_ID=sent["message_id"]))
    # A new conversation from a known contact: a thread of its own on the contact's lead.
    box.imap.deliver(make_email(sender=CLIENT, to=box.address, subject="A question", body="?"))
    # A stranger, and something that is not an email at all: kept and counted, never dropped.
    box.imap.deliver(make_email(sender="nobody@stranger.example", to=box.address, subject="Buy now"))
    box.imap.deliver(b"\r\n\r\nno headers at all")
    state = box.sync(activity=2, unmatched=1, error=1)
    assert state["folders"][0]["last_uid"] == 4 and state["folders"][0]["fetched"] == 4
    assert state["healthy"] is False, "an unreadable message is not a healthy sync"
    by_subject = {e["subject"]: e for e in box.inbound()}
    assert by_subject["RE: Proposal"]["thread_id"] == sent["thread_id"]
    assert by_subject["A question"]["thread_id"] not in (None, sent["thread_id"])
    assert by_subject["A question"]["contact_id"] == box.contact["id"]

    # The stranger becomes a contact: the mail kept as unmatched joins their timeline then.
    stranger = make_contact(box.api, emails=[{"email": "Nobody@Stranger.example"}])
    [kept] = box.api.ok("GET", "/activity/email/", params={"lead_id": stranger["lead_id"]})["data"]
    assert (kept["subject"], kept["contact_id"], kept["status"]) == ("Buy now", stranger["id"], "inbox")
    assert box.state()["outcomes"] | {"error": 0} == {"activity": 3, "own": 0, "duplicate": 0, "unmatched": 0,
                                                      "error": 0}


def test_auto_replies_and_bounces_are_recognised(box: Mailbox) -> None:
    first, second, third = box.send("One"), box.send("Two"), box.send("Three")
    back = (datetime.now(UTC) + timedelta(days=7)).date()
    box.imap.deliver(make_email(sender=CLIENT, to=box.address, subject="Automatic reply: One",
                                body=f"I am out of the office, back on {back.isoformat()}.",
                                In_Reply_To=first["message_id"], Auto_Submitted="auto-replied"))
    box.imap.deliver(make_bounce(original_message_id=second["message_id"], recipient=CLIENT, to=box.address))
    box.imap.deliver(make_bounce(original_message_id=third["message_id"], recipient=CLIENT, to=box.address,
                                 status="4.2.2", action="delayed"))
    box.sync(activity=3)
    by_thread = {e["thread_id"]: e for e in box.inbound()}
    auto, hard, soft = by_thread[first["thread_id"]], by_thread[second["thread_id"]], by_thread[third["thread_id"]]
    assert (auto["inbound_kind"], auto["bounce"]) == ("auto_reply", None)
    assert auto["resume_at"].startswith(back.isoformat())
    assert (hard["inbound_kind"], hard["bounce"]) == ("bounce", "hard")
    assert (soft["inbound_kind"], soft["bounce"]) == ("bounce", "soft")
    assert box.received() == sorted([f"email.received {auto['id']} auto_reply None {back.isoformat()}",
                                     f"email.received {hard['id']} bounce hard None",
                                     f"email.received {soft['id']} bounce soft None"])


def test_a_uidvalidity_change_resyncs_the_folder_without_duplicates(box: Mailbox) -> None:
    for i in range(3):
        box.imap.deliver(make_email(sender=CLIENT, to=box.address, subject=f"Note {i}"))
    box.sync(activity=3)
    box.imap.renumber()  # same messages, new UIDs under a new UIDVALIDITY
    box.imap.deliver(make_email(sender=CLIENT, to=box.address, subject="After the move"))
    state = box.sync(activity=4, duplicate=3)
    [inbox] = state["folders"]
    assert inbox["resyncs"] == 1 and inbox["uidvalidity"] == box.imap.folders["INBOX"].uidvalidity
    assert inbox["last_uid"] == 4
    assert sorted(e["subject"] for e in box.inbound()) == ["After the move", "Note 0", "Note 1", "Note 2"]
    assert len(box.received()) == 4, "no email is announced twice"


def test_reconciliation_finds_and_fills_a_planted_gap(box: Mailbox) -> None:
    box.imap.deliver(make_email(sender=CLIENT, to=box.address, subject="Mail 1"))
    box.imap.folders["INBOX"].uidnext += 1  # servers may skip UIDs: 2 is never used
    box.imap.deliver(make_email(sender=CLIENT, to=box.address, subject="Mail 3"))
    state = box.sync(reconcile=True, activity=2)
    [inbox] = state["folders"]
    assert (inbox["last_uid"], inbox["server_count"], inbox["stored_count"], inbox["missing"]) == (3, 2, 2, [])
    assert state["healthy"] is True

    # A message appears under a UID the cursor has passed (a restored backup, a broken server).
    hidden = make_email(sender=CLIENT, to=box.address, subject="Planted below the cursor")
    box.imap.plant(hidden, uid=2)
    state = box.sync(activity=2)
    assert state["folders"][0]["fetched"] == 2, "a sync alone does not look below its cursor"
    state = box.sync(reconcile=True, activity=3)
    [inbox] = state["folders"]
    assert inbox["missing"] == [parse(hidden).message_id]
    assert (inbox["server_count"], inbox["stored_count"], inbox["fetched"]) == (3, 2, 3)
    assert state["healthy"] is False, "what reconciliation found missing shows until a clean one"
    assert "Planted below the cursor" in {e["subject"] for e in box.inbound()}
    state = box.sync(reconcile=True, activity=3)
    assert state["folders"][0]["missing"] == [] and state["healthy"] is True


def test_imap_settings_are_tested_and_a_failing_sync_shows(inbound_server: Server, smtp: SmtpServer,
                                                           imap: ImapServer) -> None:
    api = new_workspace(inbound_server)
    body = api.bad("POST", "/connected_account/", "imap_password", json={
        "email": "x@seller.example", "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_tls": "none",
        **imap.account(imap_password="wrong")})
    assert "AUTHENTICATIONFAILED" in body["field-errors"]["imap_password"], "the server's reason"
    account = smtp.account(api, **imap.account())
    assert account["imap_port"] == imap.port and account["has_imap_password"] is True
    assert "IMAP INBOX: 0 messages" in api.ok("POST", f"/connected_account/{account['id']}/test/", 200)["detail"]

    imap.password = "revoked"  # the app password was revoked at the provider
    queued = api.ok("POST", f"/connected_account/{account['id']}/sync/", 200, json={})
    job = wait_until(lambda: (j := api.ok("GET", f"/job/{queued['job_ids'][0]}/"))["last_error"] and j,
                     what="the failed attempt")
    assert "login refused" in job["last_error"], "the job shows the failure and is retried"
    state = api.ok("GET", f"/connected_account/{account['id']}/sync/")
    assert "login refused" in state["folders"][0]["last_error"] and state["healthy"] is False
    api.bad("PUT", f"/connected_account/{account['id']}/", "imap_password", json={"imap_password": "still wrong"})

    # An account without IMAP settings has nothing to sync: the client is told which field.
    plain = smtp.account(api)
    api.bad("POST", f"/connected_account/{plain['id']}/sync/", "account_id", json={})
    assert api.ok("GET", f"/connected_account/{plain['id']}/sync/")["enabled"] is False
    api.close()


def test_the_periodic_job_queues_a_sync_of_every_receiving_account(box: Mailbox) -> None:
    box.imap.deliver(make_email(sender=CLIENT, to=box.address, subject="Found by the periodic sync"))

    async def run_periodic() -> dict[str, Any]:
        db = Database(box.api.database_url)
        try:  # as the worker runs it once per period: a system job, across workspaces
            async with db.system_session(write=True) as session:
                ctx = Ctx(session, Principal(None, None, "admin", ""), via="worker")  # type: ignore[arg-type]
                period = SimpleNamespace(id="job_x", idempotency_key=f"imap.sync_all@{secrets.token_hex(4)}")
                result = await sync_all(ctx, period)
                await session.commit()
                return result
        finally:
            await db.dispose()

    assert asyncio.run(run_periodic())["accounts"] >= 1
    wait_until(lambda: box.state()["outcomes"]["activity"] == 1, what="the periodic sync")
    assert [e["subject"] for e in box.inbound()] == ["Found by the periodic sync"]


def test_sync_state_is_the_workspace_own(box: Mailbox, inbound_server: Server) -> None:
    other = new_workspace(inbound_server)
    other.bad("GET", f"/connected_account/{box.account['id']}/sync/", status=404)
    other.bad("POST", f"/connected_account/{box.account['id']}/sync/", status=404, json={})
    other.close()


def test_an_inbound_email_created_over_rest_announces_email_received(box: Mailbox) -> None:
    email = box.api.create("activity/email", lead_id=box.lead_id, direction="inbound", subject="Logged by hand",
                           sender=CLIENT)
    assert email["status"] == "inbox"
    assert box.received() == [f"email.received {email['id']} reply None None"]
    box.api.create("activity/email", lead_id=box.lead_id, subject="A draft")  # outbound: not announced
    assert len(box.received()) == 1


# --- pure functions ---------------------------------------------------------------------------------
def test_resume_dates_in_out_of_office_replies() -> None:
    now = datetime(2026, 11, 26, tzinfo=UTC)
    assert resume_date("I am back on 2026-12-03.", now) == datetime(2026, 12, 3, tzinfo=UTC)
    assert resume_date("Out of the office until December 3rd", now) == datetime(2026, 12, 3, tzinfo=UTC)
    assert resume_date("Returning on Monday, 4 January 2027", now) == datetime(2027, 1, 4, tzinfo=UTC)
    assert resume_date("until Jan 5", now) == datetime(2027, 1, 5, tzinfo=UTC)
    assert resume_date("I will reply soon", now) is None
    assert resume_date("back on 2019-01-01", now) is None  # not a date to wait for


def test_auto_reply_headers() -> None:
    plain = make_email(sender=CLIENT, to="me@x.example")
    assert parse(plain).kind == "reply"
    assert parse(make_email(sender=CLIENT, to="me@x.example", Auto_Submitted="no")).kind == "reply"
    for header, value in (("Auto_Submitted", "auto-replied"), ("Precedence", "auto_reply"), ("X_Loop", "me"),
                          ("X_Autoreply", "yes")):
        assert parse(make_email(sender=CLIENT, to="me@x.example", **{header: value})).kind == "auto_reply", header
    delivered = make_bounce(original_message_id="<a@b>", recipient=CLIENT, action="delivered", status="2.0.0")
    assert parse(delivered).kind != "bounce", "a report of success is no bounce"


def test_mail_kept_as_unmatched_joins_contacts_created_by_an_import(box: Mailbox, inbound_server: Server,
                                                                   tmp_path: Any) -> None:
    """An import announces its contacts for a whole batch at once (events.emit_many): the look-up of unmatched
    mail is then one query for the batch, and finds it as a single create would."""
    box.imap.deliver(make_email(sender="buyer@imported.example", to=box.address, subject="Quote?"))
    box.sync(unmatched=1)
    source = tmp_path / "people.csv"
    source.write_text("Company,Name,Email\nImported,Ann,ann@imported.example\nImported,Bea,Buyer@Imported.example\n")
    result = subprocess.run([sys.executable, "-m", "geniziz.cli", "import", str(source), "--workspace",
                             box.api.org_id], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "GENIZIZ_DATABASE_URL": inbound_server.database_url})
    assert result.returncode == 0, result.stderr
    [lead] = [x for x in box.api.ok("GET", "/lead/", params={"query": "Imported"})["data"] if x["name"] == "Imported"]
    bea = next(c for c in lead["contacts"] if c["name"] == "Bea")
    [kept] = box.api.ok("GET", "/activity/email/", params={"lead_id": lead["id"]})["data"]
    assert (kept["subject"], kept["contact_id"]) == ("Quote?", bea["id"])
    assert box.state()["outcomes"]["unmatched"] == 0
