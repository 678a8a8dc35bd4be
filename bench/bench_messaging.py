#!/usr/bin/env python3
"""Messaging benchmark: emails sent per second by 1 and 2 `geniziz worker` processes to a local SMTP
server, and inbound messages threaded per second by the IMAP sync.

    .venv/bin/python bench/bench_messaging.py                        # SQLite: 1,000 sends per run, 2,000 inbound
    .venv/bin/python bench/bench_messaging.py --backend postgresql   # on --postgres-url's server
    .venv/bin/python bench/bench_messaging.py --sends 200 --messages 200   # a quick look
    .venv/bin/python bench/bench_messaging.py --parts send           # only the sending part

Sending: it starts `geniziz serve` WITHOUT its in-process worker on a fresh database and a local SMTP
server (aiosmtpd, tests/smtp_server.py), then for each worker count (1, then 2): connects a new account
(sending limits out of the way: 100,000 a day and an hour, no gap), queues --sends emails with status
`outbox` over the API (each gets its Message-ID and `email.send` job in its transaction), starts the
workers and waits until every email is `sent`. Figures from the database rows: sends/s from the first
job's start to the last `date_sent`; queue-to-sent latency per email, counted from when the workers
began draining (the batch was queued before them, so the wait for workers to boot is left out); the
time one send takes (its job's start to `date_sent`). It checks the SMTP server took each Message-ID
exactly once (duplicates must be 0) and none is missing.

Inbound: it starts `geniziz serve` (with its in-process worker) on a fresh database, a local SMTP server
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
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import logging
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from geniziz.activities.models import Activity  # noqa: E402
from geniziz.db import Database  # noqa: E402
from geniziz.messaging.handlers import SEND_JOB  # noqa: E402
from geniziz.worker.models import Job  # noqa: E402
from tests.conftest import SECRET_KEY, new_workspace, start_server, stop_server, wait_until  # noqa: E402
from tests.imap_server import ImapServer, make_email  # noqa: E402
from tests.smtp_server import SmtpServer  # noqa: E402

# aiosmtpd's AUTH logs, once per session, that an attribute it sets itself is deprecated: noise here.
logging.getLogger("mail.log").setLevel(logging.ERROR)


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _naive(value: datetime | str) -> datetime:
    """Stored datetimes as naive UTC (SQLite returns them naive, PostgreSQL aware; date_sent is ISO text)."""
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def _start_workers(database_url: str, count: int, args: argparse.Namespace, logs: Path) -> list[subprocess.Popen]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "GENIZIZ_DATABASE_URL": database_url,
           "GENIZIZ_SECRET_KEY": SECRET_KEY, "GENIZIZ_ALLOW_PRIVATE_HOSTS": "1", "GENIZIZ_LOG_LEVEL": "info",
           "GENIZIZ_WORKER_POLL_SECONDS": "0.1"}
    processes = []
    for n in range(count):
        log = logs / f"worker-{count}-{n}.log"
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "geniziz.cli", "worker", "--concurrency", str(args.concurrency)], cwd=ROOT,
            env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT))  # noqa: SIM115
    return processes


def _stop_workers(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


async def _sent_count(db: Database, ids: list[str]) -> int:
    async with db.system_session() as session:
        return await session.scalar(select(func.count()).select_from(Activity)
                                    .where(Activity.id.in_(ids), Activity.status == "sent"))


async def _rows(db: Database, ids: list[str]) -> tuple[list[Activity], dict[str, datetime]]:
    """The batch's emails, and each one's send job start (one job each: the limits never make a send wait)."""
    wanted = set(ids)
    async with db.system_session() as session:
        emails = list(await session.scalars(select(Activity).where(Activity.id.in_(ids))))
        jobs = await session.scalars(select(Job).where(Job.kind == SEND_JOB, Job.date_started.is_not(None)))
        return emails, {job.payload["activity_id"]: _naive(job.date_started) for job in jobs
                        if job.payload.get("activity_id") in wanted}


def run_sends(database_url: str, args: argparse.Namespace, directory: Path) -> list[dict]:
    env = {"PYTHONPATH": str(ROOT / "src"), "GENIZIZ_INPROCESS_WORKER": "0", "GENIZIZ_LOG_LEVEL": "warning"}
    server = start_server(database_url, directory / "server-send.log", **env)
    smtp = SmtpServer().start()
    loop = asyncio.Runner()  # one event loop for the database's pool (asyncpg's connections belong to one)
    db = Database(database_url)
    results = []
    try:
        api = new_workspace(server)
        lead = api.create("lead", name="Bench client")
        for workers in args.workers:
            account = smtp.account(api, max_per_day=100_000, max_per_hour=100_000, min_gap_seconds=0)
            queued_at = time.perf_counter()
            ids = [api.create("activity/email", lead_id=lead["id"], to=[f"client{n}@client.example"],
                              subject=f"Offer {n}", body_text="Here it is.", sender=account["email"],
                              status="outbox")["id"] for n in range(args.sends)]
            queue_seconds = time.perf_counter() - queued_at
            processes = _start_workers(database_url, workers, args, directory)
            try:
                deadline = time.monotonic() + args.timeout
                while (done := loop.run(_sent_count(db, ids))) < len(ids):
                    if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                        raise SystemExit(f"{done}/{len(ids)} sent when stopped (worker logs in {directory})")
                    time.sleep(0.2)
            finally:
                _stop_workers(processes)
            emails, starts = loop.run(_rows(db, ids))
            sent_at = {e.id: _naive(e.data["date_sent"]) for e in emails}
            began, ended = min(starts.values()), max(sent_at.values())
            mids = {e.data["message_id"] for e in emails}
            received = Counter(r.message["Message-ID"] for r in smtp.mailbox.received
                               if r.message["Message-ID"] in mids)
            results.append({
                "workers": workers, "sends": len(ids), "queue_s": queue_seconds,
                "seconds": (ended - began).total_seconds(),
                "latency": [(sent_at[e.id] - max(_naive(e.date_created), began)).total_seconds() for e in emails],
                "service": [(sent_at[i] - starts[i]).total_seconds() for i in ids if i in starts],
                "duplicates": sum(n - 1 for n in received.values()), "missing": len(mids - set(received)),
            })
        return results
    finally:
        loop.run(db.dispose())
        loop.close()
        smtp.stop()
        stop_server(server)


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


def _machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")), "") if cpuinfo.exists() else ""
    return (f"{platform.node()}, {os.cpu_count()} cores, {cpu or platform.machine()}, "
            f"Python {platform.python_version()}")


def _load() -> str:
    return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def _print_sends(results: list[dict]) -> None:
    print(f"{'workers':>7}  {'sends':>6}  {'seconds':>8}  {'sends/s':>7}  {'q-to-sent p50':>13}  {'p95':>7}  "
          f"{'one send p50':>12}  {'p95':>7}  {'dupl.':>5}  {'missing':>7}")
    for r in results:
        print(f"{r['workers']:>7}  {r['sends']:>6}  {r['seconds']:>8.2f}  {r['sends'] / r['seconds']:>7.1f}  "
              f"{statistics.median(r['latency']):>11.2f} s  {_percentile(r['latency'], 0.95):>5.2f} s  "
              f"{statistics.median(r['service']) * 1000:>9.0f} ms  {_percentile(r['service'], 0.95) * 1000:>4.0f} ms  "
              f"{r['duplicates']:>5}  {r['missing']:>7}")
    queueing = ", ".join(f"{r['queue_s']:.1f}" for r in results)
    print(f"(queueing each batch over the API took {queueing} s, not counted)")


def _with_database(args: argparse.Namespace, directory: Path, part: str, body):
    if args.backend == "sqlite":
        return body(f"sqlite+aiosqlite:///{directory / f'bench-{part}.db'}", args, directory)
    name = f"geniziz_bench_mail_{secrets.token_hex(4)}"
    base = args.postgres_url.rpartition("/")[0]
    asyncio.run(_admin(args.postgres_url, f'CREATE DATABASE "{name}"'))
    try:
        return body(f"{base}/{name}", args, directory)
    finally:
        asyncio.run(_admin(args.postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--parts", choices=("send", "inbound", "both"), default="both")
    parser.add_argument("--sends", type=int, default=1000, help="emails queued per worker-count run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker process counts to measure")
    parser.add_argument("--concurrency", type=int, default=1, help="slots per worker process (its default)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for a batch to be sent")
    parser.add_argument("--messages", type=int, default=2000, help="inbound messages")
    parser.add_argument("--threads", type=int, default=20, help="inbound: emails sent first, replied to")
    args = parser.parse_args()
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, backend: {args.backend}")
    print(f"machine: {_machine()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"{_load()} (before)\n")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        if args.parts in ("send", "both"):
            print(f"# sending: {args.sends} emails per run to a local SMTP server, `geniziz worker` processes "
                  f"--concurrency {args.concurrency}")
            _print_sends(_with_database(args, directory, "send", run_sends))
            print(f"{_load()}\n")
        if args.parts in ("inbound", "both"):
            print(f"# inbound mail: {args.messages} messages, {args.threads} threads")
            elapsed = _with_database(args, directory, "inbound", run)
            print(f"synced and threaded {args.messages} messages in {elapsed:.2f} s: "
                  f"{args.messages / elapsed:.0f} messages/s")
            print(f"{_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
