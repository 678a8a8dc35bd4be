#!/usr/bin/env python3
"""Reports benchmark: every report over 1M activities, 100k opportunities and 20 users, on PostgreSQL, over HTTP.

    .venv/bin/python bench/bench_reports.py                                     # full size
    .venv/bin/python bench/bench_reports.py --activities 50000 --opportunities 5000 --requests 10   # a smoke run

What it does:

1. creates a fresh database on --postgres-url's server (dropped at the end, even on failure) and runs the
   migrations (so the reports' indexes are the ones the migrations create);
2. seeds one workspace in Europe/Madrid with 20 users, a pipeline of three active stages plus won and lost,
   --leads leads, --opportunities opportunities (created over the last two years, half still open, a third
   won, the rest lost; each with the status changes that took it there) and --activities activities in all
   (the status changes included; the rest in bench_activities.py's mix, a fifth of the sent emails with a
   template), by COPY with the activity triggers off, then builds the report summaries once
   (report_summaries_rebuild, migrations 0019 and 0023) and checks they agree with the activities, then
   VACUUM ANALYZE;
3. starts ``geniziz serve`` with rate limits out of the way and times sequential requests per report
   (one at a time: latency, not throughput), after checking each answers 200 with figures in it;
4. prints p50/p99 per report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_activities import COLUMNS, MIX, activity_data, admin, percentile, start_server  # noqa: E402

USERS = 20
STAGES = ("Qualified", "Demo", "Proposal")  # after the default pipeline's Active
TEMPLATES = [f"tmpl_{i:02d}" for i in range(12)]
TABLES = ("activity", "lead", "opportunity", "status", "membership", '"user"', "activity_day", "opportunity_change")


async def seed(app_url: str, raw_url: str, args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    import asyncpg
    from sqlalchemy import select

    from geniziz.app import load_domains
    from geniziz.db import Database, new_id
    from geniziz.identity.models import Organization
    from geniziz.identity.service import create_workspace
    from geniziz.statuses.models import Status

    load_domains()
    db = Database(app_url)
    try:
        async with db.system_session(write=True) as session:
            org, user, _key, secret = await create_workspace(session, "Bench", "bench@example.com", "Bench")
            (await session.get(Organization, org.id)).time_zone = "Europe/Madrid"
            statuses = list(await session.scalars(select(Status).where(Status.organization_id == org.id)))
    finally:
        await db.dispose()
    lead_statuses = [s.id for s in statuses if s.kind == "lead"]
    by_type = {s.type: s for s in statuses if s.kind == "opportunity"}
    pipeline_id = by_type["active"].pipeline_id

    conn = await asyncpg.connect(raw_url)
    try:
        started = time.monotonic()
        now = datetime.now(UTC)
        span = timedelta(days=730).total_seconds()
        users = [user.id] + [new_id("user") for _ in range(USERS - 1)]
        await conn.copy_records_to_table("user", columns=("id", "email", "name", "date_created", "date_updated"),
                                         records=[(u, f"rep{i}@example.com", f"Rep {i:02d}", now, now)
                                                  for i, u in enumerate(users) if i])
        await conn.copy_records_to_table("membership", columns=(
            "id", "organization_id", "user_id", "role", "date_created", "date_updated"), records=[
            (new_id("memb"), org.id, u, "member", now, now) for u in users[1:]])
        stages = [by_type["active"].id] + [new_id("stat") for _ in STAGES]
        await conn.copy_records_to_table("status", columns=(
            "id", "organization_id", "kind", "label", "type", "pipeline_id", "date_created", "date_updated"),
            records=[(sid, org.id, "opportunity", label, "active", pipeline_id, now, now)
                     for sid, label in zip(stages[1:], STAGES, strict=True)])

        lead_ids = [new_id("lead") for _ in range(args.leads)]
        await conn.copy_records_to_table("lead", columns=(
            "id", "organization_id", "name", "status_id", "owner_id", "emails", "phones", "addresses", "search_text",
            "date_created", "date_updated", "created_by", "updated_by"), records=[
            (lead_id, org.id, f"Company {i}", rng.choice(lead_statuses), rng.choice(users), "[]", "[]", "[]",
             f"company {i}", at, at, rng.choice(users), None)
            for i, lead_id in enumerate(lead_ids) for at in [now - timedelta(seconds=rng.random() * span)]])

        changes = []  # (opportunity, lead, owner, old, new, at)
        opportunities = []
        for _ in range(args.opportunities):
            oid, lead, owner = new_id("oppo"), rng.choice(lead_ids), rng.choice(users)
            created = now - timedelta(seconds=rng.random() * span)
            fate = rng.random()
            top = rng.randrange(len(stages))
            end = stages[top] if fate < 0.5 else by_type["won"].id if fate < 0.83 else by_type["lost"].id
            path = stages[:top + 1] + ([] if fate < 0.5 else [end])
            at, won = created, None
            for old, new in zip(path, path[1:], strict=False):
                at = min(at + timedelta(days=rng.random() * 20), now)
                changes.append((oid, lead, owner, old, new, at))
            if end == by_type["won"].id:
                won = at
            value = rng.randrange(500, 50_000) * 100
            close = (created + timedelta(days=rng.randrange(10, 200))).date()
            opportunities.append((oid, org.id, lead, end, pipeline_id, owner, value,
                                  rng.choice(["one_time", "monthly", "annual"]), "USD", rng.choice([None, 10, 50, 90]),
                                  close, won, created, created, owner, owner))
        await conn.copy_records_to_table("opportunity", columns=(
            "id", "organization_id", "lead_id", "status_id", "pipeline_id", "owner_id", "value", "value_period",
            "value_currency", "confidence", "expected_close_date", "date_won", "date_created", "date_updated",
            "created_by", "updated_by"), records=opportunities)

        indexes = await conn.fetch("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'activity' "
                                   "AND indexname <> 'pk_activity'")
        for row in indexes:  # rebuilt once after the load
            await conn.execute(f'DROP INDEX "{row["indexname"]}"')
        # The report summaries' triggers (0019) off during the load, and the summaries built once after it.
        await conn.execute("ALTER TABLE activity DISABLE TRIGGER USER")
        # Written in the order they happened, as a CRM logs them (so a period's rows sit near each other
        # in the table): the other activities at evenly spread random times, the status changes merged in.
        changes.sort(key=lambda change: change[5])
        kinds = list(MIX)
        weights = [MIX[k][0] for k in kinds]
        others = max(args.activities - len(changes), 0)
        written, done_changes, i = 0, 0, 0
        while i < others or done_changes < len(changes):  # bounded: (activities / batch) iterations
            records = []
            for i in range(i, min(i + 50_000, others)):
                kind = rng.choices(kinds, weights)[0]
                _, directions, statuses_ = MIX[kind]
                direction = rng.choice(directions)
                status = "inbox" if kind in ("email", "sms") and direction == "inbound" else rng.choice(statuses_)
                at = now - timedelta(seconds=span * (1 - (i + rng.random()) / others))
                lead = rng.choice(lead_ids)
                data = activity_data(rng, kind, lead, direction, at)
                if kind == "email" and direction == "outbound" and rng.random() < 0.2:
                    data["template_id"] = rng.choice(TEMPLATES)
                if kind == "status_change/lead":
                    data["old_status_id"], data["new_status_id"] = rng.sample(lead_statuses, 2)
                records.append((new_id("acti"), org.id, kind, lead, None, rng.choice(users), at, direction, status,
                                None, None, json.dumps(data), at, at, None, None))
            i += 1
            until = records[-1][6] if i < others else now + timedelta(days=1)
            while done_changes < len(changes) and changes[done_changes][5] < until:
                oid, lead, owner, old, new, at = changes[done_changes]
                records.append((new_id("acti"), org.id, "status_change/opportunity", lead, None, owner, at, None,
                                None, None, None, json.dumps({"opportunity_id": oid, "old_status_id": old,
                                                              "new_status_id": new}), at, at, owner, owner))
                done_changes += 1
            await conn.copy_records_to_table("activity", columns=COLUMNS, records=records)
            written += len(records)
            print(f"  seeded {written:,} activities ({time.monotonic() - started:.0f} s)", flush=True)
        for row in indexes:
            await conn.execute(row["indexdef"])
        await conn.execute("ALTER TABLE activity ENABLE TRIGGER USER")
        await conn.execute("SELECT report_summaries_rebuild($1)", org.id)
        for table in TABLES:
            await conn.execute(f"VACUUM ANALYZE {table}")
        seconds = time.monotonic() - started
        await check_summaries(conn)
        version = await conn.fetchval("SHOW server_version")
        n_changes = len(changes)
    finally:
        await conn.close()
    return {"key": secret, "seconds": seconds, "pg": version, "changes": n_changes}


async def reuse(app_url: str, raw_url: str) -> dict[str, Any]:
    """A new key for the seeded workspace's first user, and what the summary prints."""
    import asyncpg
    from sqlalchemy import select

    from geniziz.app import load_domains
    from geniziz.db import Database
    from geniziz.identity.models import Membership
    from geniziz.identity.service import issue_api_key

    load_domains()
    db = Database(app_url)
    try:
        async with db.system_session(write=True) as session:
            first = (await session.scalars(select(Membership).order_by(Membership.id).limit(1))).one()
            _, secret = await issue_api_key(session, first.organization_id, first.user_id, "bench")
    finally:
        await db.dispose()
    conn = await asyncpg.connect(raw_url)
    try:
        for table in TABLES:  # after a migration added an index or a table
            await conn.execute(f"VACUUM ANALYZE {table}")
        changes = await conn.fetchval("SELECT count(*) FROM activity WHERE type = 'status_change/opportunity'")
        await check_summaries(conn)
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return {"key": secret, "seconds": 0, "pg": version, "changes": changes}


async def check_summaries(conn: Any) -> None:
    """The summaries the reports read hold what the activities say (the workspace's totals)."""
    from geniziz.reports.models import SUMMARIZED_TYPES

    days = await conn.fetchval("SELECT sum(n) FROM activity_day")
    activities = await conn.fetchval("SELECT count(*) FROM activity WHERE type = any($1::text[])",
                                     sorted(SUMMARIZED_TYPES))
    changes = await conn.fetchval("SELECT count(*) FROM opportunity_change")
    expected = await conn.fetchval("SELECT count(*) FROM activity WHERE type = 'status_change/opportunity'")
    assert (days, changes) == (activities, expected), (days, activities, changes, expected)
    # Each change's previous change of its opportunity (0023), as a window over the changes gives it.
    wrong = await conn.fetchval(
        "SELECT count(*) FROM opportunity_change c JOIN (SELECT id, max(at) OVER (PARTITION BY organization_id, "
        "opportunity_id ORDER BY at, id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS live "
        "FROM opportunity_change WHERE opportunity_id IS NOT NULL) w ON w.id = c.id "
        "WHERE c.previous_at IS DISTINCT FROM w.live")
    assert wrong == 0, f"{wrong} changes with a wrong previous_at"


def scenarios() -> list[tuple[str, str, str, dict[str, Any]]]:
    month, quarter = {"relative_range": "last_30_days"}, {"relative_range": "last_90_days"}
    year = {"date_start": f"{date.today().year}-01-01", "date_end": f"{date.today().year}-12-31"}
    return [
        ("floor: GET /me/", "GET", "/me/", {}),
        ("metrics catalog", "GET", "/report/activity/", {}),
        ("activity: 30 days by day, all metrics", "POST", "/report/activity/", month),
        ("activity: 90 days per user, all metrics", "POST", "/report/activity/", {**quarter, "type": "comparison"}),
        ("activity: this year by month, all metrics", "POST", "/report/activity/", {**year, "interval": "month"}),
        ("activity: 30 days, 2 users, calls", "POST", "/report/activity/", month),  # users filled in below
        ("funnel: 30 days", "POST", "/report/funnel/", month),
        ("opportunity funnels: 90 days", "POST", "/report/opportunity_funnels/", quarter),
        ("calls funnel: 30 days", "POST", "/report/calls_funnel/", month),
        ("sales: 90 days", "POST", "/report/sales/", quarter),
        ("lead status changes: 30 days", "POST", "/report/status_change/lead/", month),
        ("opportunity status changes: 30 days", "POST", "/report/status_change/opportunity/", month),
        ("sent emails: 90 days", "POST", "/report/sent_emails/", quarter),
    ]


def measure(client: httpx.Client, method: str, path: str, body: dict[str, Any], n: int) -> tuple[float, float]:
    def send() -> httpx.Response:
        return client.get(path) if method == "GET" else client.post(path, json=body)

    for _ in range(min(3, n)):  # warm-up: connection, plans, caches
        send().raise_for_status()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        send().raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
    return percentile(samples, 0.5), percentile(samples, 0.99)


def check(client: httpx.Client) -> None:
    """Figures before timings: the reports answer with data in them."""
    body = client.post("/report/activity/", json={"relative_range": "last_30_days"}).json()
    assert body["totals"]["calls.outbound.count"] > 0 and len(body["rows"]) == 30, body["totals"]
    funnels = client.post("/report/opportunity_funnels/", json={"relative_range": "last_90_days"}).json()
    assert funnels["pipelines"][0]["stages"][0]["reached"] > 0, funnels
    sales = client.post("/report/sales/", json={"relative_range": "last_90_days"}).json()
    assert len(sales["leaderboard"]) == USERS and sum(m["count"] for m in sales["won_by_month"]) > 0
    assert client.post("/report/sent_emails/", json={"relative_range": "last_90_days"}).json()["templates"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--opportunities", type=int, default=100_000)
    parser.add_argument("--activities", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=50, help="timed requests per report")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--keep", action="store_true", help="keep the database (prints its name)")
    parser.add_argument("--reuse", metavar="DATABASE", help="time a database kept by --keep again (migrated to "
                                                             "head first), without seeding")
    args = parser.parse_args()

    from geniziz.migrate import upgrade

    name = args.reuse or f"geniziz_bench_rep_{secrets.token_hex(4)}"
    server_url = args.postgres_url.rpartition("/")[0]
    raw_url, app_url = f"{server_url}/{name}", f"{server_url}/{name}".replace("postgresql://", "postgresql+asyncpg://")
    if not args.reuse:
        asyncio.run(admin(args.postgres_url, f'CREATE DATABASE "{name}"'))
    process = None
    try:
        upgrade(app_url)
        if args.reuse:
            seeded = asyncio.run(reuse(app_url, raw_url))
        else:
            print(f"Seeding {USERS} users, {args.leads:,} leads, {args.opportunities:,} opportunities and "
                  f"{args.activities:,} activities into {name} ...", flush=True)
            seeded = asyncio.run(seed(app_url, raw_url, args, random.Random(args.seed)))
        process, base = start_server(app_url, Path(tempfile.gettempdir()) / f"{name}.log")
        results = []
        with httpx.Client(base_url=f"{base}/api/v1", auth=(seeded["key"], ""), timeout=120) as client:
            check(client)
            two = [m["user_id"] for m in client.get("/membership/").json()["data"][:2]]
            for label, method, path, body in scenarios():
                if "2 users" in label:
                    body = {**body, "users": two, "metrics": ["calls.outbound.count", "calls.outbound.duration.sum"]}
                results.append((label, *measure(client, method, path, body, args.requests)))
        print(f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} CPUs, "
              f"PostgreSQL {seeded['pg']}, Python {platform.python_version()}")
        print(f"{USERS} users, {args.leads:,} leads, {args.opportunities:,} opportunities, {args.activities:,} "
              f"activities ({seeded['changes']:,} of them opportunity status changes), seeded in "
              f"{seeded['seconds']:.0f} s; {args.requests} sequential requests per report\n")
        print(f"{'report':<44} {'p50 ms':>8} {'p99 ms':>8}")
        for label, p50, p99 in results:
            print(f"{label:<44} {p50:>8.1f} {p99:>8.1f}")
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except Exception:
                process.kill()
        if args.keep or args.reuse:
            print(f"kept database {name}")
        else:
            asyncio.run(admin(args.postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
