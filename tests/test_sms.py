"""SMS through the local Twilio-compatible provider (tests/sms_provider.py): SMS connected accounts tested
on create with their token never returned, sends by the worker (at most once, even when it is killed
mid-send), retries of a clear refusal, permanent refusals ending in error with the provider's reason,
and inbound SMS from the signed webhook (stored once, on the contact with the number, unread in its
conversation).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Api, Server, new_workspace, start_server, stop_server, wait_until
from tests.factories import make_contact
from tests.sms_provider import NUMBER, SID, TOKEN, SmsProvider, wait_sent
from tests.test_messaging import FAST, _fresh_url, sql

PHONE = "+14155550199"


@pytest.fixture(scope="module")
def sms_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("sms")
    urls = _fresh_url(directory)
    server = start_server(next(urls), directory / "server.log", **FAST)
    yield server
    stop_server(server)
    assert "Unhandled error" not in server.log(), server.log()
    next(urls, None)


@pytest.fixture
def fresh_url(tmp_path: Path) -> Iterator[str]:
    yield from _fresh_url(tmp_path)


@pytest.fixture
def provider() -> Iterator[SmsProvider]:
    server = SmsProvider().start()
    yield server
    server.stop()


def sms_of(api: Api, activity_id: str) -> dict[str, Any]:
    return api.ok("GET", f"/activity/sms/{activity_id}/")


def wait_sms(api: Api, activity_id: str, *statuses: str, timeout: float = 30) -> dict[str, Any]:
    return wait_until(lambda: (s := sms_of(api, activity_id))["status"] in statuses and s, timeout,
                      f"SMS {activity_id} to be {'/'.join(statuses)}")


def outbox(api: Api, **body: Any) -> dict[str, Any]:
    contact = make_contact(api, name="Jane Roe", phones=[{"phone": PHONE}])
    return api.create("activity/sms", **{"contact_id": contact["id"], "remote_phone": PHONE, "text": "Hi Jane",
                                         "status": "outbox", **body})


def test_an_sms_account_is_tested_and_its_token_never_returned(sms_server: Server, provider: SmsProvider) -> None:
    api = new_workspace(sms_server)
    account = provider.account(api)
    assert account["kind"] == "sms" and account["has_sms_token"] is True and account["phone_numbers"] == [NUMBER]
    assert account["sms_account_sid"] == SID and account["last_tested_at"] and account["email"] == ""
    for body in (account, api.ok("GET", f"/connected_account/{account['id']}/"), api.ok("GET", "/connected_account/")):
        assert TOKEN not in str(body)
    stored = sql(api.database_url, "SELECT credentials FROM connected_account WHERE id = :i", i=account["id"])[0][0]
    assert stored and TOKEN not in stored
    assert api.ok("GET", "/connected_account/", params={"kind": "sms"})["data"][0]["id"] == account["id"]
    assert api.ok("POST", f"/connected_account/{account['id']}/test/", status=200)["ok"] is True

    # The provider's refusal, by field; a missing setting, by name; the kind cannot change.
    body = api.bad("POST", "/connected_account/", "sms_token", json={
        "kind": "sms", "sms_base_url": provider.base_url, "sms_account_sid": SID, "sms_token": "wrong",
        "phone_numbers": [NUMBER]})
    assert "401" in body["field-errors"]["sms_token"]
    api.bad("POST", "/connected_account/", "phone_numbers", json={
        "kind": "sms", "sms_base_url": provider.base_url, "sms_account_sid": SID, "sms_token": TOKEN})
    api.bad("POST", "/connected_account/", "phone_numbers", json={
        "kind": "sms", "sms_base_url": provider.base_url, "sms_account_sid": SID, "sms_token": TOKEN,
        "phone_numbers": ["not a number"]})
    api.bad("POST", "/connected_account/", "smtp_host", json={"email": "x@seller.example"})
    api.bad("PUT", f"/connected_account/{account['id']}/", "kind", json={"kind": "email"})
    api.bad("PUT", f"/connected_account/{account['id']}/", "sms_token", json={"sms_token": "wrong"})
    api.close()


def test_an_sms_in_the_outbox_is_sent_once(sms_server: Server, provider: SmsProvider) -> None:
    api = new_workspace(sms_server)
    provider.account(api)
    draft = outbox(api, status="draft")
    time.sleep(0.5)
    assert not provider.sent and sms_of(api, draft["id"])["status"] == "draft"
    api.ok("PUT", f"/activity/sms/{draft['id']}/", json={"status": "outbox"})
    sent = wait_sms(api, draft["id"], "sent", "error")
    assert sent["status"] == "sent" and sent["date_sent"] and sent["local_phone"] == NUMBER, sent
    [got] = provider.sent
    assert (got.to, got.sender, got.body) == (PHONE, NUMBER, "Hi Jane") and sent["provider_sid"] == got.sid
    assert got.idempotency_token  # the send's key goes along
    [job] = api.ok("GET", "/job/", params={"owner_id": draft["id"]})["data"]
    assert job["status"] == "succeeded" and job["kind"] == "sms.send"
    api.bad("PUT", f"/activity/sms/{draft['id']}/", "status", json={"status": "outbox"})  # sent is final

    # Nothing to send to, no text, or a number of no account of the caller's: a 400 at once.
    contact = make_contact(api, name="No phone")
    api.bad("POST", "/activity/sms/", "remote_phone", json={"contact_id": contact["id"], "text": "x",
                                                            "status": "outbox"})
    api.bad("POST", "/activity/sms/", "text", json={"contact_id": contact["id"], "remote_phone": PHONE,
                                                    "status": "outbox"})
    api.bad("POST", "/activity/sms/", "local_phone", json={"contact_id": contact["id"], "remote_phone": PHONE,
                                                           "text": "x", "local_phone": "+14155550000",
                                                           "status": "outbox"})
    api.bad("POST", "/activity/sms/", "date_scheduled", json={"contact_id": contact["id"], "remote_phone": PHONE,
                                                              "text": "x", "status": "scheduled"})
    api.close()


def test_a_busy_provider_is_retried_and_a_scheduled_sms_waits(sms_server: Server, provider: SmsProvider) -> None:
    api = new_workspace(sms_server)
    provider.account(api)
    provider.fail(2, 503)  # unavailable twice, then fine
    retried = outbox(api)
    sent = wait_sms(api, retried["id"], "sent", "error", timeout=60)
    assert sent["status"] == "sent" and len(provider.sent) == 1, sent
    [job] = api.ok("GET", "/job/", params={"owner_id": retried["id"]})["data"]
    assert job["attempts"] == 3

    scheduled = outbox(api, status="scheduled", date_scheduled="2999-01-01T00:00:00Z")
    assert sms_of(api, scheduled["id"])["status"] == "scheduled"  # waits for its time
    [job] = api.ok("GET", "/job/", params={"owner_id": scheduled["id"]})["data"]
    assert job["status"] == "queued" and job["run_at"].startswith("2999-01-01")
    api.close()


def test_sends_over_an_accounts_limits_wait(sms_server: Server, provider: SmsProvider) -> None:
    api = new_workspace(sms_server)
    provider.account(api, max_per_hour=1)
    first = outbox(api)
    assert wait_sms(api, first["id"], "sent", "error")["status"] == "sent"
    waiting = outbox(api)
    jobs = wait_until(lambda: len(j := api.ok("GET", "/job/", params={"owner_id": waiting["id"]})["data"]) == 2 and j,
                      what="the send to be re-scheduled")
    assert {job["status"] for job in jobs} == {"queued", "succeeded"}
    assert sms_of(api, waiting["id"])["status"] == "outbox" and len(provider.sent) == 1
    api.close()


def test_a_permanent_refusal_ends_in_error(sms_server: Server, provider: SmsProvider) -> None:
    api = new_workspace(sms_server)
    provider.account(api)
    provider.fail(1, 400)  # e.g. a number the provider will not text
    refused = outbox(api)
    failed = wait_sms(api, refused["id"], "error", "sent")
    assert failed["status"] == "error" and "400" in failed["send_error"] and not provider.sent, failed
    [job] = api.ok("GET", "/job/", params={"owner_id": refused["id"]})["data"]
    assert job["attempts"] == 1
    # Back to the outbox sends it (a new key).
    api.ok("PUT", f"/activity/sms/{refused['id']}/", json={"status": "outbox"})
    assert wait_sms(api, refused["id"], "sent", "error")["status"] == "sent" and len(provider.sent) == 1
    api.close()


def test_a_server_killed_mid_send_never_sends_twice(fresh_url: str, tmp_path: Path, provider: SmsProvider) -> None:
    first = start_server(fresh_url, tmp_path / "first.log", **FAST)
    api = new_workspace(first)
    provider.account(api)
    provider.hold()  # the request is recorded, then the answer waits
    sms = outbox(api)
    wait_sent(provider, 1)
    assert sms_of(api, sms["id"])["status"] == "sending"  # the hand-off was committed before the call
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait()
    provider.release()

    second = start_server(fresh_url, tmp_path / "second.log", **FAST)
    try:
        again = Api(second.base_url, api.key)
        settled = wait_sms(again, sms["id"], "error", "sent", timeout=30)
        assert settled["status"] == "error" and "may have been sent" in settled["send_error"], settled
        time.sleep(2)
        assert len(provider.sent) == 1  # never twice
        again.close()
    finally:
        stop_server(second)


def test_inbound_sms_from_the_signed_webhook(sms_server: Server, provider: SmsProvider) -> None:
    api = new_workspace(sms_server)
    account = provider.account(api)
    contact = make_contact(api, name="Jane Roe", phones=[{"phone": PHONE}])
    answer = provider.webhook(sms_server.base_url, account["id"], From=PHONE, Body="Yes, call me", MessageSid="SM1")
    assert answer.status_code == 200 and "<Response>" in answer.text, answer.text
    [received] = api.ok("GET", "/activity/sms/", params={"contact_id": contact["id"]})["data"]
    assert received["direction"] == "inbound" and received["status"] == "inbox" and received["text"] == "Yes, call me"
    assert received["remote_phone"] == PHONE and received["local_phone"] == NUMBER
    assert received["provider_sid"] == "SM1" and received["lead_id"] == contact["lead_id"]
    [thread] = api.ok("GET", "/conversation/", params={"contact_id": contact["id"]})["data"]
    assert thread["latest_message_id"] == received["id"] and thread["n_unread"] == 1 and thread["channels"] == ["sms"]

    # The provider repeats a webhook: stored once.
    again = provider.webhook(sms_server.base_url, account["id"], From=PHONE, Body="Yes, call me", MessageSid="SM1")
    assert again.status_code == 200
    assert len(api.ok("GET", "/activity/sms/", params={"contact_id": contact["id"]})["data"]) == 1
    # A number no contact has: answered (the provider must not retry), kept, no activity.
    unknown = provider.webhook(sms_server.base_url, account["id"], From="+14155550777", Body="Who is this?",
                               MessageSid="SM2")
    assert unknown.status_code == 200
    kept = sql(api.database_url, "SELECT state, reply FROM sms_delivery WHERE send_key = 'in:SM2'")
    assert kept == [("unmatched", "from +14155550777 to +15005550006: Who is this?")]
    # Wrong signature, wrong account SID, unknown account: refused, nothing stored.
    forged = provider.webhook(sms_server.base_url, account["id"], token="not-the-token", From=PHONE, MessageSid="SM3")
    assert forged.status_code == 403 and "field-errors" in forged.json()
    assert provider.webhook(sms_server.base_url, account["id"], AccountSid="AC" + "1" * 30, From=PHONE,
                            MessageSid="SM4").status_code == 403
    assert provider.webhook(sms_server.base_url, "acct_" + "0" * 22, From=PHONE).status_code == 404
    assert httpx.post(f"{sms_server.base_url}/webhooks/sms/{account['id']}/", data={"From": PHONE}).status_code == 403
    assert len(api.ok("GET", "/activity/sms/", params={"contact_id": contact["id"]})["data"]) == 1
    api.close()
