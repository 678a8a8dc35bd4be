#!/usr/bin/env python3
"""Activities benchmark: the timeline at 1M activities across 10k leads, on PostgreSQL, over HTTP.

    .venv/bin/python bench/bench_activities.py                    # full size: 10k leads, 1M activities
    .venv/bin/python bench/bench_activities.py --leads 500 --activities 20000 --big-lead 2000 \
        --deep-skip 1000 --requests 50                              # a smoke run (well under a minute)

What it does:

1. creates a fresh database on --postgres-url's server (dropped at the end, even on failure) and runs
   the migrations;
2. seeds one workspace: ``create_workspace`` (which gives an API key), --leads leads, and --activities
   activities of every type, written with COPY (the activity table's secondary indexes are dropped
   for the load and rebuilt after it, then VACUUM ANALYZE, as autovacuum would). One "big" lead gets
   --big-lead activities so that one lead's stream has deep pages; the others share the rest
   (about 98 each at full size). Activities happened at random times over the last two years;
3. starts ``geniziz serve`` (one process) with rate limits out of the way, checks the responses, then
   measures sequential requests (one at a time: latency, not throughput) per scenario:
   the floor (GET /me/), one lead's stream (first page, and _skip=--deep-skip on the big lead),
   a typical lead's stream, the workspace-wide stream (first page and deep pages);
4. prints p50/p99 per scenario, and the SQL alone for the deep pages two ways (plain OFFSET, and
   the ID-first page the service runs) to show why the service pages over IDs first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing, too

# type: (weight, direction choices, status choices)
MIX: dict[str, tuple[int, tuple[str | None, ...], tuple[str | None, ...]]] = {
    "email": (30, ("outbound", "inbound"), ("sent",)),
    "call": (20, ("outbound", "inbound"), ("completed", "completed", "no-answer", "busy")),
    "note": (18, (None,), (None,)),
    "sms": (8, ("outbound", "inbound"), ("sent",)),
    "meeting": (6, (None,), (None,)),
    "channel_message": (4, ("outbound", "inbound"), (None,)),
    "status_change/lead": (5, (None,), (None,)),
    "task_completed": (5, (None,), (None,)),
    "created": (4, (None,), (None,)),
}
WORDS = ("pricing proposal renewal onboarding demo budget contract security review integration pilot "
         "timeline kickoff discount procurement champion rollout feedback training invoice").split()
COLUMNS = ("id", "organization_id", "type", "lead_id", "contact_id", "user_id", "activity_at", "direction", "status",
           "thread_id", "custom_activity_type_id", "data", "date_created", "date_updated", "created_by", "updated_by")


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def activity_data(rng: random.Random, kind: str, lead_id: str, direction: str | None, at: datetime) -> dict[str, Any]:
    """The type's fields, in the shape the services store them."""
    phone = f"+1555{rng.randint(0, 9_999_999):07d}"
    if kind == "email":
        us, them = "rep@seller.example", f"buyer{rng.randint(1, 999)}@acme.example"
        sender, to = (us, them) if direction == "outbound" else (them, us)
        return {"subject": sentence(rng, 4), "body_text": sentence(rng, 60), "body_html": None, "sender": sender,
                "to": [to], "cc": [], "bcc": [], "template_id": None, "attachments": [], "date_scheduled": None,
                "date_sent": at.isoformat()}
    if kind == "call":
        return {"duration": rng.randint(0, 1800), "phone": phone, "disposition": rng.choice(["answered", "vm-left"]),
                "recording_url": None, "note": sentence(rng, 12)}
    if kind == "note":
        return {"note": sentence(rng, 25), "note_html": None}
    if kind == "sms":
        return {"local_phone": "+15550000001", "remote_phone": phone, "text": sentence(rng, 15)}
    if kind == "meeting":
        return {"title": sentence(rng, 3), "starts_at": at.isoformat(),
                "ends_at": (at + timedelta(minutes=30)).isoformat(),
                "attendees": [{"email": "buyer@acme.example", "name": None, "contact_id": None}],
                "location": "Zoom", "note": None, "outcome": None}
    if kind == "channel_message":
        return {"channel": "linkedin", "text": sentence(rng, 15), "external_id": secrets.token_hex(8),
                "external_thread_id": None}
    if kind == "status_change/lead":
        return {"old_status_id": None, "old_status_label": "Potential", "new_status_id": None,
                "new_status_label": "Qualified"}
    if kind == "task_completed":
        return {"task_id": None, "task_text": sentence(rng, 4)}
    return {"object_type": "lead", "object_id": lead_id, "source": "api"}


# --- database ------------------------------------------------------------------------------------------
async def admin(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def seed(app_url: str, raw_url: str, args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    import asyncpg
    from sqlalchemy import select

    from geniziz.app import load_domains
    from geniziz.db import Database, new_id
    from geniziz.identity.service import create_workspace
    from geniziz.statuses.models import Status

    load_domains()
    db = Database(app_url)
    try:
        async with db.system_session(write=True) as session:  # a new workspace: no workspace yet
            org, user, _key, secret = await create_workspace(session, "Bench", "bench@example.com", "Bench")
            status_id = await session.scalar(select(Status.id).where(
                Status.organization_id == org.id, Status.kind == "lead").order_by(Status.id).limit(1))
    finally:
        await db.dispose()

    conn = await asyncpg.connect(raw_url)
    try:
        started = time.monotonic()
        now = datetime.now(UTC)
        lead_ids = [new_id("lead") for _ in range(args.leads)]
        await conn.copy_records_to_table("lead", columns=(
            "id", "organization_id", "name", "status_id", "emails", "phones", "addresses", "search_text",
            "date_created", "date_updated", "created_by", "updated_by"), records=[
            (lead_id, org.id, f"Company {i}", status_id, "[]", "[]", "[]", f"company {i}", now, now, user.id, user.id)
            for i, lead_id in enumerate(lead_ids)])

        # Secondary indexes are rebuilt once after the load rather than maintained row by row.
        indexes = await conn.fetch("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'activity' "
                                   "AND indexname <> 'pk_activity'")
        for row in indexes:
            await conn.execute(f'DROP INDEX "{row["indexname"]}"')
        big, others = lead_ids[0], lead_ids[1:]
        kinds = list(MIX)
        weights = [MIX[k][0] for k in kinds]
        span = timedelta(days=730).total_seconds()
        batch = 50_000
        written = 0
        while written < args.activities:  # bounded: activities / batch iterations
            records = []
            for i in range(written, min(written + batch, args.activities)):
                lead_id = big if i < args.big_lead or not others else rng.choice(others)
                kind = rng.choices(kinds, weights)[0]
                _, directions, statuses = MIX[kind]
                direction = rng.choice(directions)
                status = "inbox" if kind in ("email", "sms") and direction == "inbound" else rng.choice(statuses)
                at = now - timedelta(seconds=rng.random() * span)
                data = json.dumps(activity_data(rng, kind, lead_id, direction, at))
                records.append((new_id("acti"), org.id, kind, lead_id, None, user.id, at, direction, status, None,
                                None, data, at, at, user.id, user.id))
            await conn.copy_records_to_table("activity", columns=COLUMNS, records=records)
            written += len(records)
            print(f"  seeded {written:,} activities ({time.monotonic() - started:.0f} s)", flush=True)
        for row in indexes:
            await conn.execute(row["indexdef"])
        await conn.execute("VACUUM ANALYZE activity")
        await conn.execute("VACUUM ANALYZE lead")
        seconds = time.monotonic() - started
        typical = await conn.fetchval(
            "SELECT lead_id FROM activity WHERE lead_id <> $1 GROUP BY lead_id ORDER BY count(*) DESC, lead_id "
            "OFFSET $2 LIMIT 1", big, len(others) // 2)  # a median lead
        counts = {lead: await conn.fetchval("SELECT count(*) FROM activity WHERE lead_id = $1", lead)
                  for lead in (big, typical)}
        size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('activity'))")
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return {"key": secret, "org_id": org.id, "big": big, "typical": typical, "counts": counts, "seconds": seconds,
            "size": size, "pg": version}


async def sql_pages(raw_url: str, org_id: str, lead_id: str, skips: list[tuple[str, int]], repeat: int) -> list[tuple]:
    """The page query alone, two ways: plain OFFSET over rows, and IDs first (what the service runs)."""
    import asyncpg

    where = "organization_id = $1 AND ($2::text IS NULL OR lead_id = $2)"
    order = "ORDER BY activity_at DESC, id DESC"
    plain = f"SELECT * FROM activity WHERE {where} {order} OFFSET $3 LIMIT 101"
    ids_first = (f"SELECT * FROM activity WHERE id IN (SELECT id FROM activity WHERE {where} {order} "
                 f"OFFSET $3 LIMIT 101) {order}")
    conn = await asyncpg.connect(raw_url)
    rows = []
    try:
        for label, skip in skips:
            lead = lead_id if label.startswith("lead") else None
            timings = {}
            for name, query in (("plain OFFSET", plain), ("IDs first", ids_first)):
                samples = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    await conn.fetch(query, org_id, lead, skip)
                    samples.append((time.perf_counter() - started) * 1000)
                timings[name] = statistics.median(samples)
            rows.append((f"{label}, _skip={skip:,}", timings["plain OFFSET"], timings["IDs first"]))
    finally:
        await conn.close()
    return rows


# --- server and measurements ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(app_url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "GENIZIZ_DATABASE_URL": app_url, "GENIZIZ_LOG_LEVEL": "warning",
           "GENIZIZ_RATE_LIMIT_READ": "10000000/minute", "GENIZIZ_RATE_LIMIT_WRITE": "10000000/minute",
           "GENIZIZ_RATE_LIMIT_HEAVY": "10000000/minute"}
    process = subprocess.Popen([sys.executable, "-m", "geniziz.cli", "serve", "--port", str(port)],
                               stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # bounded wait for the server to answer
        if process.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/api/v1/openapi.json", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"server did not start:\n{log.read_text()}")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def measure(client: httpx.Client, path: str, params: dict[str, Any], n: int) -> tuple[float, float, int]:
    for _ in range(min(10, n)):  # warm-up: caches, connection, plans
        client.get(path, params=params).raise_for_status()
    samples, size = [], 0
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path, params=params)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        size = len(response.content)
    return percentile(samples, 0.5), percentile(samples, 0.99), size


def check(client: httpx.Client, seeded: dict[str, Any], deep: int) -> None:
    """The pages are what they claim before any timing: full, ordered, on the right lead."""
    first = client.get("/activity/", params={"lead_id": seeded["big"]}).json()
    assert len(first["data"]) == 100 and first["has_more"] and {r["lead_id"] for r in first["data"]} == {seeded["big"]}
    deep_page = client.get("/activity/", params={"lead_id": seeded["big"], "_skip": deep}).json()["data"]
    assert len(deep_page) == 100 and deep_page[0]["activity_at"] <= first["data"][-1]["activity_at"]
    stream = client.get("/activity/").json()["data"]
    times = [row["activity_at"] for row in stream]
    assert len(stream) == 100 and times == sorted(times, reverse=True)
    typical = client.get("/activity/", params={"lead_id": seeded["typical"]}).json()["data"]
    assert len(typical) == min(100, seeded["counts"][seeded["typical"]])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--activities", type=int, default=1_000_000)
    parser.add_argument("--big-lead", type=int, default=20_000, help="activities of the one big lead")
    parser.add_argument("--deep-skip", type=int, default=10_000, help="_skip of the deep pages")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per scenario")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--keep", action="store_true", help="keep the database (prints its name)")
    args = parser.parse_args()
    if not 0 < args.deep_skip < min(args.big_lead, args.activities) - 100 or args.leads < 2:
        parser.error("need --leads >= 2 and --deep-skip below --big-lead (and --activities) minus a page")

    from geniziz.migrate import upgrade

    name = f"geniziz_bench_act_{secrets.token_hex(4)}"
    server_url = args.postgres_url.rpartition("/")[0]
    raw_url, app_url = f"{server_url}/{name}", f"{server_url}/{name}".replace("postgresql://", "postgresql+asyncpg://")
    asyncio.run(admin(args.postgres_url, f'CREATE DATABASE "{name}"'))
    process = None
    try:
        upgrade(app_url)
        print(f"Seeding {args.leads:,} leads and {args.activities:,} activities into {name} ...", flush=True)
        seeded = asyncio.run(seed(app_url, raw_url, args, random.Random(args.seed)))
        log = Path(tempfile.gettempdir()) / f"{name}.log"
        process, base = start_server(app_url, log)
        big, typical = seeded["big"], seeded["typical"]
        workspace_deep = sorted({args.deep_skip, min(args.deep_skip * 10, args.activities - 200)})
        scenarios: list[tuple[str, str, dict[str, Any]]] = [
            ("floor: GET /me/", "/me/", {}),
            (f"one lead ({seeded['counts'][big]:,}): first page", "/activity/", {"lead_id": big}),
            (f"one lead ({seeded['counts'][big]:,}): _skip={args.deep_skip:,}", "/activity/",
             {"lead_id": big, "_skip": args.deep_skip}),
            (f"typical lead ({seeded['counts'][typical]:,}): first page", "/activity/", {"lead_id": typical}),
            ("one lead, _type=email,call: first page", "/activity/", {"lead_id": big, "_type": "email,call"}),
            ("workspace: first page", "/activity/", {}),
            *[(f"workspace: _skip={skip:,}", "/activity/", {"_skip": skip}) for skip in workspace_deep],
            ("workspace, _type=call: first page", "/activity/", {"_type": "call"}),
            ("floor again: GET /me/", "/me/", {}),
        ]
        results = []
        with httpx.Client(base_url=f"{base}/api/v1", auth=(seeded["key"], ""), timeout=60) as client:
            check(client, seeded, args.deep_skip)
            for label, path, params in scenarios:
                results.append((label, *measure(client, path, params, args.requests)))
        sql = asyncio.run(sql_pages(raw_url, seeded["org_id"], big, [("one lead", args.deep_skip)] + [
            ("workspace", skip) for skip in workspace_deep], repeat=15))

        floor = results[0][1]
        print(f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} CPUs, "
              f"PostgreSQL {seeded['pg']}, Python {platform.python_version()}")
        print(f"{args.leads:,} leads, {args.activities:,} activities (table and indexes: {seeded['size']}), "
              f"seeded in {seeded['seconds']:.0f} s; {args.requests} sequential requests per scenario, _limit=100\n")
        print(f"{'scenario':<44} {'p50 ms':>8} {'p99 ms':>8} {'p50/floor':>10} {'KB':>7}")
        for label, p50, p99, size in results:
            print(f"{label:<44} {p50:>8.1f} {p99:>8.1f} {p50 / floor:>10.1f} {size / 1024:>7.1f}")
        print(f"\nThe page query alone (median of 15, ms):\n{'page':<44} {'plain OFFSET':>13} {'IDs first':>10}")
        for label, plain, ids_first in sql:
            print(f"{label:<44} {plain:>13.1f} {ids_first:>10.1f}")
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if args.keep:
            print(f"kept database {name}")
        else:
            asyncio.run(admin(args.postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
