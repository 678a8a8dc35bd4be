"""Mailing exports against local doubles of Mailchimp, Brevo and Klaviyo (tests/mailing_platforms.py):
connecting (verified, key never returned), dry-run counts, pushes in batches with per-contact failures,
429s honoured, a server killed mid-export and resumed without duplicates, listing and isolation.

Exports run on a server of this module's own, with a separate `geniziz worker` process (short polls,
leases and backoffs, on both databases) that a test kills mid-export and replaces.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from geniziz.db import Database, new_id
from tests.conftest import SECRET_KEY, Api, Server, member_client, new_workspace, start_server, stop_server, wait_until
from tests.factories import make_contact, make_lead
from tests.mailing_platforms import BAD_DOMAIN, Platforms
from tests.test_messaging import _fresh_url, sql

FAST = {"GENIZIZ_WORKER_POLL_SECONDS": "0.05", "GENIZIZ_WORKER_LEASE_SECONDS": "2",
        "GENIZIZ_JOB_BACKOFF_SECONDS": "0.3", "GENIZIZ_MAILING_POLL_SECONDS": "0.1", "GENIZIZ_ALLOW_PRIVATE_HOSTS": "1"}
LISTS = {"mailchimp": "a1b2c3d4e5", "brevo": "7", "klaviyo": "XyZ123"}


@pytest.fixture
def platforms() -> Iterator[Platforms]:
    doubles = Platforms().start()
    yield doubles
    doubles.stop()


class Worker:
    """The module's `geniziz worker` process: one at a time, replaced after a test kills it."""

    def __init__(self, database_url: str, logs: Path) -> None:
        self.url, self.logs, self.count = database_url, logs, 0
        self.process = self.start()

    def start(self) -> subprocess.Popen[bytes]:
        self.count += 1
        log_path = self.logs / f"worker-{self.count}.log"
        env = {**os.environ, "GENIZIZ_DATABASE_URL": self.url, "GENIZIZ_SECRET_KEY": SECRET_KEY,
               "GENIZIZ_LOG_LEVEL": "info", **FAST}
        self.process = subprocess.Popen([sys.executable, "-m", "geniziz.cli", "worker"], env=env,
                                        stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
        wait_until(lambda: " started (concurrency" in log_path.read_text(errors="replace")
                   or self.process.poll() is not None, 60, "a worker to start")
        assert self.process.poll() is None, log_path.read_text(errors="replace")
        return self.process

    def kill(self) -> None:
        """SIGKILL: no shutdown, no release of the running job; its lease has to expire."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def export_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("exports")
    urls = _fresh_url(directory)
    server = start_server(next(urls), directory / "server.log", GENIZIZ_INPROCESS_WORKER="0", **FAST)
    yield server
    stop_server(server)
    assert "Unhandled error" not in server.log(), server.log()
    next(urls, None)


@pytest.fixture(scope="module")
def worker(export_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    process = Worker(export_server.database_url, tmp_path_factory.mktemp("workers"))
    yield process
    process.stop()


@pytest.fixture
def ws(export_server: Server, worker: Worker) -> Iterator[Api]:
    client = new_workspace(export_server, "Exports")
    yield client
    client.close()


def add_contacts(api: Api, count: int, *, bad: int = 0, prefix: str | None = None) -> list[str]:
    """``count`` contacts (``bad`` of them at an address the platforms refuse), 50 per lead, written
    straight into the server's database: a few thousand through the API would take most of a minute."""
    status_id = api.ok("GET", "/status/lead/")["data"][0]["id"]
    prefix = prefix or secrets.token_hex(3)
    emails = [f"{prefix}.{i}@{BAD_DOMAIN if i < bad else 'buyer.example'}" for i in range(count)]

    async def insert() -> None:
        from geniziz.app import load_domains
        from geniziz.contacts.models import Contact
        from geniziz.leads.models import Lead

        load_domains()  # every model mapped, for the foreign keys the rows name

        db = Database(api.database_url)
        try:
            async with db.unit(api.org_id, write=True) as session:
                leads = {start: Lead(id=new_id("lead"), organization_id=api.org_id, name=f"Company {prefix} {start}",
                                     status_id=status_id, owner_id=api.user_id, emails=[], phones=[], addresses=[],
                                     search_text="") for start in range(0, count, 50)}
                session.add_all(leads.values())
                await session.flush()  # the leads first: contacts name them
                session.add_all([Contact(id=new_id("cont"), organization_id=api.org_id, lead_id=leads[i - i % 50].id,
                                         name=f"Person{i} Example", emails=[{"email": email, "type": "office"}],
                                         phones=[], urls=[], email_keys=f"|{email}|", phone_keys="|")
                                 for i, email in enumerate(emails)])
        finally:
            await db.dispose()

    asyncio.run(insert())
    return emails


def connect(api: Api, platforms: Platforms, platform: str) -> dict[str, Any]:
    return platforms.connect(api, platform)


def export(api: Api, platform: str, **body: Any) -> dict[str, Any]:
    config = {"list_id": LISTS[platform], **body.pop("config", {})}
    return api.ok("POST", "/mailing_export/", json={"platform": platform, "config": config, **body})


def wait_export(api: Api, export_id: str, *statuses: str, timeout: float = 60) -> dict[str, Any]:
    return wait_until(lambda: (e := api.ok("GET", f"/mailing_export/{export_id}/"))["status"] in statuses and e,
                      timeout, f"export {export_id} to be {'/'.join(statuses)}")


# --- platforms and connections -------------------------------------------------------------------------
def test_platforms_list_their_config_and_connections_are_verified_and_write_only(
        ws: Api, platforms: Platforms) -> None:
    listed = ws.ok("GET", "/mailing_export/platforms/")
    assert [p["name"] for p in listed["data"]] == ["mailchimp", "brevo", "klaviyo"] and listed["has_more"] is False
    assert not any(p["connected"] for p in listed["data"])
    fields = {f["name"]: f for f in listed["data"][0]["config_fields"]}
    assert fields["list_id"]["required"] is True and "double_opt_in" in fields
    assert ws.ok("GET", "/mailing_export/platforms/", params={"_limit": 1, "_skip": 1, "_fields": "name"}) == {
        "data": [{"name": "brevo"}], "has_more": True}
    ws.bad("GET", "/mailing_export/platforms/", "_fields", params={"_fields": "nope"})

    # Refused keys name the field: a malformed one before any call, a wrong one as the platform answers.
    ws.bad("POST", "/mailing_connection/", "api_key", json={"platform": "mailchimp", "api_key": "no-datacenter-key",
                                                            "base_url": platforms.urls["mailchimp"]})
    ws.bad("POST", "/mailing_connection/", "api_key", json={
        "platform": "mailchimp", "api_key": "ffffffffffffffffffffffffffffffff-us6", "base_url": platforms.urls["mailchimp"]})
    ws.bad("POST", "/mailing_connection/", "api_key", json={"platform": "brevo", "api_key": "xkeysib-wrong-key",
                                                            "base_url": platforms.urls["brevo"]})
    ws.bad("POST", "/mailing_connection/", "base_url", json={"platform": "brevo", "api_key": "xkeysib-wrong-key",
                                                             "base_url": "ftp://files.example"})
    connections = {name: connect(ws, platforms, name) for name in ("mailchimp", "brevo", "klaviyo")}
    assert {c["account_name"] for c in connections.values()} == {"Mailchimp Test Co", "Brevo Test Co", "Klaviyo Test Co"}
    ws.bad("POST", "/mailing_connection/", "platform", json={
        "platform": "brevo", "api_key": platforms.keys["brevo"], "base_url": platforms.urls["brevo"]})

    reads = [*connections.values(), ws.ok("GET", "/mailing_connection/"),
             ws.ok("GET", f"/mailing_connection/{connections['brevo']['id']}/"),
             ws.ok("PUT", f"/mailing_connection/{connections['brevo']['id']}/", json={"api_key": platforms.keys["brevo"]}),
             ws.ok("GET", "/mailing_export/platforms/")]
    for body in reads:
        assert not any(key in str(body) for key in platforms.keys.values()), body
    stored = sql(ws.database_url, "SELECT credentials FROM mailing_connection WHERE organization_id = :o", o=ws.org_id)
    assert len(stored) == 3 and not any(key in row[0] for row in stored for key in platforms.keys.values())
    assert all(p["connected"] and p["account_name"] for p in reads[-1]["data"])
    # A change of key is verified again; a wrong one leaves the stored one in place.
    ws.bad("PUT", f"/mailing_connection/{connections['klaviyo']['id']}/", "api_key", json={"api_key": "pk_wrong_key_123"})
    with member_client(ws) as member:
        member.bad("POST", "/mailing_connection/", status=403, json={
            "platform": "mailchimp", "api_key": platforms.keys["mailchimp"], "base_url": platforms.urls["mailchimp"]})
        assert member.ok("GET", "/mailing_export/platforms/")["data"][0]["connected"] is True

    # The lists a UI picks from, as each platform answers (Klaviyo's over two pages).
    for name, expected in (("mailchimp", 2), ("brevo", 2), ("klaviyo", 3)):
        audiences = ws.ok("GET", f"/mailing_connection/{connections[name]['id']}/audiences/")["data"]
        assert len(audiences) == expected and LISTS[name] in {a["id"] for a in audiences}, audiences


def test_outbound_requests_refuse_private_hosts_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    from geniziz.config import get_settings
    from geniziz.mailing import outbound

    get_settings.cache_clear()
    monkeypatch.delenv("GENIZIZ_ALLOW_PRIVATE_HOSTS", raising=False)
    try:
        for url in ("https://127.0.0.1/x", "https://localhost:8443/", "https://10.1.2.3/", "https://[::1]/",
                    "https://169.254.169.254/latest", "http://api.brevo.com/v3", "file:///etc/passwd"):
            with pytest.raises(outbound.HostRefused):
                asyncio.run(outbound.check_url(url))
        monkeypatch.setenv("GENIZIZ_ALLOW_PRIVATE_HOSTS", "1")
        get_settings.cache_clear()
        asyncio.run(outbound.check_url("http://127.0.0.1:9/x"))
    finally:
        get_settings.cache_clear()


# --- the audience -----------------------------------------------------------------------------------------
def test_the_dry_run_count_follows_the_filters_and_leaves_out_unsubscribed_and_addressless(
        ws: Api, export_server: Server, platforms: Platforms) -> None:
    connect(ws, platforms, "mailchimp")
    statuses = ws.ok("GET", "/status/lead/")["data"]
    hot, cold = statuses[0]["id"], statuses[1]["id"]
    lead_a = make_lead(ws, status_id=hot, owner_id=ws.user_id)
    lead_b = make_lead(ws, status_id=cold)
    for name, email in (("Ann One", "ann@a.example"), ("Bob Two", "BOB@a.example"), ("No Mail", None),
                        ("Gone Person", "gone@a.example")):
        make_contact(ws, lead_id=lead_a["id"], name=name, emails=[{"email": email}] if email else [])
    make_contact(ws, lead_id=lead_b["id"], name="Ann Again", emails=[{"email": "Ann@A.example"}])  # same address
    make_contact(ws, lead_id=lead_b["id"], name="Cy Three", emails=[{"email": "cy@b.example"}])
    ws.create("unsubscribed_email", email="gone@a.example")

    everyone = export(ws, "mailchimp", name="Everyone")
    # ann, bob and cy: one address once (ann is at both leads), none without an address or unsubscribed.
    assert everyone["total"] == 3 and everyone["status"] in ("queued", "running", "done")
    assert export(ws, "mailchimp", filters={"status_ids": [hot]})["total"] == 2
    assert export(ws, "mailchimp", filters={"status_ids": [cold]})["total"] == 2
    assert export(ws, "mailchimp", filters={"lead_ids": [lead_b["id"]]})["total"] == 2
    assert export(ws, "mailchimp", filters={"owner_ids": [ws.user_id]})["total"] == 2
    assert export(ws, "mailchimp", filters={"lead_created_after": "2000-01-01T00:00:00Z",
                                            "contact_created_before": "2000-01-01"})["total"] == 0
    # Custom field values, as lists filter them: the leads' tier, the contacts' seats.
    tier = ws.create("custom_field/lead", name="Tier", type="choices", choices=["gold", "silver"])
    seats = ws.create("custom_field/contact", name="Seats", type="number")
    ws.ok("PUT", f"/lead/{lead_b['id']}/", json={f"custom.{tier['id']}": "gold"})
    cy = next(c for c in ws.ok("GET", "/contact/", params={"lead_id": lead_b["id"]})["data"] if c["name"] == "Cy Three")
    ws.ok("PUT", f"/contact/{cy['id']}/", json={"custom.Seats": 40})
    assert export(ws, "mailchimp", filters={"lead_custom": {f"custom.{tier['id']}": "gold"}})["total"] == 2
    assert export(ws, "mailchimp", filters={"lead_custom": {"Tier__is_set": False}})["total"] == 2
    assert export(ws, "mailchimp", filters={"contact_custom": {"Seats__gte": 10},
                                            "lead_custom": {"Tier": "gold"}})["total"] == 1
    ws.bad("POST", "/mailing_export/", f"filters.contact_custom.custom.{seats['id']}__gte", json={
        "platform": "mailchimp", "config": {"list_id": LISTS["mailchimp"]},
        "filters": {"contact_custom": {f"custom.{seats['id']}__gte": "many"}}})
    ws.bad("POST", "/mailing_export/", "filters.lead_custom.custom.Nope", json={
        "platform": "mailchimp", "config": {"list_id": LISTS["mailchimp"]}, "filters": {"lead_custom": {"Nope": 1}}})
    empty = export(ws, "mailchimp", filters={"lead_created_before": "2000-01-01T00:00:00Z"})
    assert empty["total"] == 0 and empty["status"] == "done"

    done = wait_export(ws, everyone["id"], "done")
    assert (done["pushed"], done["failed"], done["skipped"]) == (3, 0, 0) and done["failures"] == []
    members = platforms["mailchimp"].members[LISTS["mailchimp"]]
    assert set(members) == {"ann@a.example", "bob@a.example", "cy@b.example"}
    assert members["bob@a.example"]["FNAME"] == "Bob" and members["bob@a.example"]["LNAME"] == "Two"

    # Bad input names the field; another workspace's IDs are not filters of this one.
    ws.bad("POST", "/mailing_export/", "platform", json={"platform": "sendgrid", "config": {"list_id": "x"}})
    ws.bad("POST", "/mailing_export/", "platform", json={"platform": "brevo", "config": {"list_id": "7"}})
    ws.bad("POST", "/mailing_export/", "config", json={"platform": "mailchimp"})
    ws.bad("POST", "/mailing_export/", "config.list_id", json={"platform": "mailchimp", "config": {"list_id": "NOT ok"}})
    ws.bad("POST", "/mailing_export/", "config.batch_size", json={
        "platform": "mailchimp", "config": {"list_id": LISTS["mailchimp"], "batch_size": 501}})
    ws.bad("POST", "/mailing_export/", "config.fields", json={
        "platform": "mailchimp", "config": {"list_id": LISTS["mailchimp"], "fields": {"COMPANY": "lead.revenue"}}})
    ws.bad("POST", "/mailing_export/", "filters.status_ids", json={
        "platform": "mailchimp", "config": {"list_id": LISTS["mailchimp"]}, "filters": {"status_ids": ["stat_nope"]}})
    other = new_workspace(export_server, "Other")
    foreign = make_lead(other)
    other.close()
    ws.bad("POST", "/mailing_export/", "filters.lead_ids", json={
        "platform": "mailchimp", "config": {"list_id": LISTS["mailchimp"]}, "filters": {"lead_ids": [foreign["id"]]}})
    ws.bad("POST", "/mailing_export/", "filters.lead_created_after", json={
        "platform": "mailchimp", "config": {"list_id": LISTS["mailchimp"]}, "filters": {"lead_created_after": "soon"}})


# --- pushing ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("platform,count,batch", [("mailchimp", 2400, None), ("brevo", 900, 300),
                                                  ("klaviyo", 900, 400)])
def test_a_push_goes_in_batches_and_records_each_refused_contact(
        ws: Api, platforms: Platforms, platform: str, count: int, batch: int | None) -> None:
    connect(ws, platforms, platform)
    emails = add_contacts(ws, count, bad=7)
    config = {"fields": {"COMPANY" if platform != "klaviyo" else "industry": "lead.name"}}
    if batch:
        config["batch_size"] = batch
    created = export(ws, platform, config=config)
    assert created["total"] == count and created["pushed"] == 0
    done = wait_export(ws, created["id"], "done", timeout=90)
    assert (done["total"], done["pushed"], done["failed"], done["skipped"]) == (count, count - 7, 7, 0)
    assert done["error"] is None and done["date_started"] and done["date_finished"]
    assert sorted(f["email"] for f in done["failures"]) == sorted(emails[:7])
    assert all(f["state"] == "failed" and f["error"] and f["contact_id"].startswith("cont_") for f in done["failures"])

    state = platforms[platform]
    size = batch or 500
    assert state.calls == math.ceil(count / size) and max(state.batch_sizes) <= size
    members = state.members[LISTS[platform]]
    assert len(members) == count - 7 and set(members) == set(emails[7:])
    assert set(state.pushes.values()) == {1}
    sample = members[emails[-1]]
    if platform == "mailchimp":
        assert sample["FNAME"].startswith("Person") and sample["LNAME"] == "Example"
        assert sample["COMPANY"].startswith("Company") and sample["status"] == "subscribed"
    elif platform == "brevo":
        assert sample["FIRSTNAME"].startswith("Person") and sample["COMPANY"].startswith("Company")
    else:
        assert sample["first_name"].startswith("Person") and sample["organization"].startswith("Company")
        assert sample["properties"]["industry"].startswith("Company")


@pytest.mark.parametrize("platform", ["mailchimp", "brevo", "klaviyo"])
def test_a_429_is_honoured_with_the_platforms_hint(ws: Api, platforms: Platforms, platform: str) -> None:
    connect(ws, platforms, platform)
    add_contacts(ws, 120, bad=0)
    state = platforms[platform]
    state.throttle(2, 1.0)  # the next two calls answer 429 asking for a second's wait
    created = export(ws, platform, config={"batch_size": 50})
    done = wait_export(ws, created["id"], "done", timeout=60)
    assert done["pushed"] == 120 and done["failed"] == 0
    assert state.throttled == 2 and state.early == [], state.early  # nothing came back before the hint expired
    assert len(state.members[LISTS[platform]]) == 120


def test_a_refusal_of_the_whole_call_fails_the_export_with_the_platforms_reason(ws: Api, platforms: Platforms) -> None:
    connect(ws, platforms, "mailchimp")
    add_contacts(ws, 3)
    created = export(ws, "mailchimp", config={"list_id": "0000000000"})  # a well-formed ID the platform lacks
    failed = wait_export(ws, created["id"], "failed")
    assert "404" in failed["error"] and failed["pushed"] == 0 and failed["date_finished"]


# --- durability -------------------------------------------------------------------------------------------
def test_a_worker_killed_mid_export_resumes_without_duplicates(ws: Api, worker: Worker, platforms: Platforms) -> None:
    """Mailchimp (synchronous batches) and Klaviyo (imports the worker polls) exports, both killed midway."""
    size, counts = 200, {"mailchimp": 1600, "klaviyo": 1000}
    emails = {}
    for platform, count in counts.items():
        connect(ws, platforms, platform)
        emails[platform] = add_contacts(ws, count, prefix=platform)
    total, everyone = sum(counts.values()), set(emails["mailchimp"]) | set(emails["klaviyo"])
    for platform in counts:
        platforms[platform].delay = 0.2
    exports = {platform: export(ws, platform, config={"batch_size": size}) for platform in counts}
    assert {e["total"] for e in exports.values()} == {total}
    wait_until(lambda: all(platforms[p].calls >= 3 for p in counts), 60, "a few batches on each platform")
    worker.kill()
    assert all(platforms[p].calls < math.ceil(total / size) for p in counts)
    worker.start()  # a new worker takes the step jobs over once the dead one's leases expire

    for platform, created in exports.items():
        done = wait_export(ws, created["id"], "done", timeout=120)
        assert (done["pushed"], done["failed"]) == (total, 0)
        state = platforms[platform]
        assert set(state.members[LISTS[platform]]) == everyone
        # At most the batch in flight when the worker died went twice (an upsert: still one member each).
        repeats = [email for email, times in state.pushes.items() if times > 1]
        assert max(state.pushes.values()) <= 2 and len(repeats) <= size, (platform, len(repeats))
    # Klaviyo's submitted imports were polled after the restart, not submitted again (one in flight may be).
    assert platforms["klaviyo"].calls <= math.ceil(total / size) + 1


# --- listing, isolation, MCP ------------------------------------------------------------------------------
def test_exports_are_listed_filtered_and_invisible_to_another_workspace(ws: Api, platforms: Platforms,
                                                                        export_server: Server) -> None:
    connect(ws, platforms, "mailchimp")
    connect(ws, platforms, "klaviyo")
    add_contacts(ws, 5)
    first = export(ws, "mailchimp")
    second = export(ws, "klaviyo")
    wait_export(ws, first["id"], "done")
    wait_export(ws, second["id"], "done")
    listed = ws.ok("GET", "/mailing_export/")["data"]
    assert [e["id"] for e in listed] == [second["id"], first["id"]] and "failures" not in listed[0]
    assert [e["id"] for e in ws.ok("GET", "/mailing_export/", params={"platform": "klaviyo"})["data"]] == [second["id"]]
    assert ws.ok("GET", "/mailing_export/", params={"status": "queued"})["data"] == []
    assert ws.ok("GET", f"/mailing_export/{first['id']}/", params={"_fields": "id,total"}) == {
        "id": first["id"], "total": 5}
    ws.bad("GET", "/mailing_export/", "status", params={"status": "lost"})
    ws.bad("PUT", f"/mailing_export/{first['id']}/", status=405, json={})

    other = new_workspace(export_server, "Other")
    try:
        other.bad("GET", f"/mailing_export/{first['id']}/", status=404)
        assert other.ok("GET", "/mailing_export/")["data"] == []
        assert other.ok("GET", "/mailing_connection/")["data"] == []
        assert not any(p["connected"] for p in other.ok("GET", "/mailing_export/platforms/")["data"])
        other.bad("POST", "/mailing_export/", "platform", json={"platform": "mailchimp",
                                                                "config": {"list_id": LISTS["mailchimp"]}})
        mine = ws.ok("GET", "/mailing_connection/", params={"platform": "mailchimp"})["data"][0]["id"]
        other.bad("GET", f"/mailing_connection/{mine}/audiences/", status=404)
    finally:
        other.close()


def test_an_agent_lists_platforms_and_exports_and_starts_one(ws: Api, platforms: Platforms) -> None:
    from tests.test_mcp import Mcp

    connect(ws, platforms, "brevo")
    add_contacts(ws, 4)
    reader = Mcp(ws, scope="read")
    body = reader.call("run_action", action="platforms_mailing_export", args={})
    assert [p["name"] for p in body["data"] if p["connected"]] == ["brevo"]
    reader.fail("create_record", resource="mailing_export", body={"platform": "brevo", "config": {"list_id": "7"}})
    created = Mcp(ws, scope="write_safe").call("create_record", resource="mailing_export",
                                               body={"platform": "brevo", "config": {"list_id": "7"}})
    assert created["total"] == 4
    listed = reader.call("list_records", resource="mailing_export")
    assert [e["id"] for e in listed["data"]] == [created["id"]]
    assert wait_export(ws, created["id"], "done")["pushed"] == 4


def test_a_rate_limit_hint_is_read_as_each_platform_sends_it() -> None:
    import httpx

    from geniziz.mailing.outbound import MAX_WAIT, retry_after

    def hint(**headers: str) -> float:
        return retry_after(httpx.Response(429, headers=headers))

    assert hint(**{"Retry-After": "3"}) == 3.0  # Mailchimp, Klaviyo: seconds
    assert hint(**{"x-sib-ratelimit-reset": "1.5"}) == 1.5  # Brevo: seconds until the window resets
    assert hint(**{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # an HTTP date already past
    assert hint(**{"Retry-After": "86400"}) == MAX_WAIT and hint(**{"Retry-After": "-5"}) == 0.0
    assert hint(**{"Retry-After": "soon"}) == hint() == 10.0  # unreadable or absent: a default wait
