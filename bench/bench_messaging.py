#!/usr/bin/env python3
"""Messaging benchmark: inbound messages threaded per second by the IMAP sync.

    .venv/bin/python bench/bench_messaging.py                        # SQLite, 2,000 messages
    .venv/bin/python bench/bench_messaging.py --backend postgresql   # on --postgres-url's server
    .venv/bin/python bench/bench_messaging.py --messages 200         # a quick look

It starts `geniziz serve` (with its in-process worker) on a fresh database, a local SMTP server
(aiosmtpd) and the test suite's IMAP server (tests/imap_server.py), connects an account, sends
--threads emails to as many contacts for real, then puts --messages messages in the IMAP inbox: 80%
replies to those emails (In-Reply-To/References: threaded into the email's thread), 20% new
messages from the same contacts (matched by address: a new thread each). It then times one sync,
from the request to its job's end, and checks every message became an activity. The figure is the
whole path: IMAP FETCH, parsing, matching, the activity and thread writes, the cursor, in batches of
50 per transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.conftest import new_workspace, start_server, stop_server, wait_until  # noqa: E402
from tests.imap_server import ImapServer, make_email  # noqa: E402
from tests.smtp_server import SmtpServer  # noqa: E402


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def run(database_url: str, args: argparse.Namespace, directory: Path) -> float:
    env = {"PYTHONPATH": str(ROOT / "src"), "GENIZIZ_INPROCESS_WORKER": "1", "GENIZIZ_WORKER_POLL_SECONDS": "0.05",
           "GENIZIZ_LOG_LEVEL": "warning"}
    server = start_server(database_url, directory / "server.log", **env)
    smtp, imap = SmtpServer().start(), ImapServer().start()
    try:
        api = new_workspace(server)
        account = smtp.account(api, **imap.account())
        sent = []
        for n in range(args.threads):
            address = f"client{n}@client.example"
            lead = api.create("lead", name=f"Client {n}")
            api.create("contact", lead_id=lead["id"], name=f"C {n}", emails=[{"email": address}])
            email = api.create("activity/email", lead_id=lead["id"], to=[address], subject=f"Proposal {n}",
                               body_text="Here it is", sender=account["email"], status="outbox")
            sent.append((address, email["id"]))
        messages = {}
        for address, email_id in sent:
            messages[address] = wait_until(lambda e=email_id: (x := api.ok("GET", f"/activity/email/{e}/"))["status"]
                                           == "sent" and x["message_id"], timeout=120, what="the emails sent")
        for n in range(args.messages):
            address, _ = sent[n % len(sent)]
            if n % 5 == 4:
                data = make_email(sender=address, to=account["email"], subject=f"New question {n}", body="?")
            else:
                mid = messages[address]
                data = make_email(sender=address, to=account["email"], subject="Re: Proposal", body=f"Reply {n}",
                                  In_Reply_To=mid, References=mid)
            imap.deliver(data)
        started = time.perf_counter()
        queued = api.ok("POST", f"/connected_account/{account['id']}/sync/", 200, json={})
        job = wait_until(lambda: (j := api.ok("GET", f"/job/{queued['job_ids'][0]}/"))["status"]
                         in ("succeeded", "failed") and j, timeout=3600, what="the sync")
        elapsed = time.perf_counter() - started
        assert job["status"] == "succeeded", job
        state = api.ok("GET", f"/connected_account/{account['id']}/sync/")
        assert state["outcomes"]["activity"] == args.messages, state
        return elapsed
    finally:
        imap.stop()
        smtp.stop()
        stop_server(server)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=20)
    args = parser.parse_args()
    print(f"# inbound mail: {args.messages} messages, {args.threads} threads, {args.backend}, "
          f"Python {platform.python_version()}, {platform.machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        if args.backend == "sqlite":
            elapsed = run(f"sqlite+aiosqlite:///{directory / 'bench.db'}", args, directory)
        else:
            name = f"geniziz_bench_mail_{secrets.token_hex(4)}"
            base = args.postgres_url.rpartition("/")[0]
            asyncio.run(_admin(args.postgres_url, f'CREATE DATABASE "{name}"'))
            try:
                elapsed = run(f"{base}/{name}", args, directory)
            finally:
                asyncio.run(_admin(args.postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(f"synced and threaded {args.messages} messages in {elapsed:.2f} s: {args.messages / elapsed:.0f} messages/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
