#!/usr/bin/env python3
"""Custom field filters over 1,000,000 leads on PostgreSQL, over HTTP.

    .venv/bin/python bench/bench_custom_fields.py                          # full size (1M leads)
    .venv/bin/python bench/bench_custom_fields.py --leads 50000 --requests 10   # a smoke run

What it does:

1. creates a fresh database on --postgres-url's server (dropped at the end, even on failure) and runs the
   migrations, so the indexes are the ones the migrations create (a GIN index on lead.custom);
2. seeds one workspace with five lead custom fields and --leads leads by COPY (GIN index dropped during the
   load and rebuilt after it, then VACUUM ANALYZE). Values: Tier (choices: gold 1%, silver 10%, bronze 69%,
   unset 20%), Seats (number, uniform 1-10,000), Renewal (date over two years), Regions (several choices)
   and Partner ID (text, set on 0.1% of leads); Seats and Renewal are indexed fields, whose expression
   indexes are then built by the same code as the custom.field_index job (CREATE INDEX CONCURRENTLY);
3. starts ``geniziz serve`` and times sequential GET /lead/ pages (100 leads) per filter, full records and
   ``_fields=id`` (the filter's own cost), after checking each filter returns what it claims;
4. prints p50/p99 per filter and the plan PostgreSQL chose for three of them;
5. times the 0.1% range page in the database alone, with the indexed expression and with the former
   jsonpath test, and what the indexes cost a write (UPDATEs of Seats with them, then without).
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
from bench_activities import admin, percentile, start_server  # noqa: E402

FIELDS = [  # name, type, extra
    ("Tier", "choices", {"choices": ["gold", "silver", "bronze"]}),
    ("Seats", "number", {"indexed": True}),
    ("Renewal", "date", {"indexed": True}),
    ("Regions", "choices", {"choices": ["eu", "us", "apac", "latam"], "accepts_multiple": True}),
    ("Partner ID", "text", {}),
]


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
        async with db.system_session(write=True) as session:
            org, user, _key, secret = await create_workspace(session, "Bench", "bench@example.com", "Bench")
            status_id = await session.scalar(select(Status.id).where(
                Status.organization_id == org.id, Status.kind == "lead").order_by(Status.id).limit(1))
    finally:
        await db.dispose()

    conn = await asyncpg.connect(raw_url)
    try:
        started = time.monotonic()
        now = datetime.now(UTC)
        ids = {name: new_id("cf") for name, _, _ in FIELDS}
        await conn.copy_records_to_table("custom_field", columns=(
            "id", "organization_id", "object_type", "scope", "name", "name_key", "type", "accepts_multiple",
            "required", "choices", "indexed", "date_created", "date_updated"), records=[
            (ids[name], org.id, "lead", "lead", name, name.lower(), kind, bool(extra.get("accepts_multiple")), False,
             json.dumps(extra.get("choices", [])), bool(extra.get("indexed")), now, now)
            for name, kind, extra in FIELDS])
        gin = await conn.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_lead_custom_gin'")
        await conn.execute("DROP INDEX ix_lead_custom_gin")
        first_day = date.today() - timedelta(days=365)
        done = 0
        while done < args.leads:  # bounded: leads / batch iterations
            records = []
            for i in range(done, min(done + 50_000, args.leads)):
                custom: dict[str, Any] = {ids["Seats"]: rng.randint(1, 10_000),
                                          ids["Renewal"]: (first_day + timedelta(days=rng.randrange(730))).isoformat(),
                                          ids["Regions"]: rng.sample(["eu", "us", "apac", "latam"], rng.randint(1, 2))}
                draw = rng.random()
                if draw < 0.8:
                    custom[ids["Tier"]] = "gold" if draw < 0.01 else "silver" if draw < 0.11 else "bronze"
                if rng.random() < 0.001:
                    custom[ids["Partner ID"]] = f"P-{i}"
                at = now - timedelta(seconds=args.leads - i)
                records.append((new_id("lead"), org.id, f"Company {i}", status_id, "[]", "[]", "[]", f"company {i}",
                                json.dumps(custom), at, at))
            await conn.copy_records_to_table("lead", columns=(
                "id", "organization_id", "name", "status_id", "emails", "phones", "addresses", "search_text",
                "custom", "date_created", "date_updated"), records=records)
            done += len(records)
            print(f"  seeded {done:,} leads ({time.monotonic() - started:.0f} s)", flush=True)
        index_started = time.monotonic()
        await conn.execute(gin)
        index_seconds = time.monotonic() - index_started
        size = await conn.fetchval("SELECT pg_size_pretty(pg_relation_size('ix_lead_custom_gin'))")
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    # The indexed fields' expression indexes, built as the custom.field_index job builds them.
    from geniziz.custom.jobs import sync_index

    built = {}
    db = Database(app_url)
    try:
        for name, _kind, extra in FIELDS:
            if extra.get("indexed"):
                began = time.monotonic()
                done = await sync_index(db.write_engine, ids[name])
                built[name] = (done["created"], time.monotonic() - began)
    finally:
        await db.dispose()
    conn = await asyncpg.connect(raw_url)
    try:
        await conn.execute("VACUUM ANALYZE lead")
        for name, (index, seconds) in built.items():
            built[name] = (index, seconds, await conn.fetchval(f"SELECT pg_size_pretty(pg_relation_size('\"{index}\"'))"))
    finally:
        await conn.close()
    return {"key": secret, "ids": ids, "seconds": time.monotonic() - started, "index_seconds": index_seconds,
            "index_size": size, "pg": version, "org": org.id, "built": built}


def scenarios(ids: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    tier, seats, renewal, regions, partner = (f"custom.{ids[n]}" for n in
                                              ("Tier", "Seats", "Renewal", "Regions", "Partner ID"))
    soon = (date.today() + timedelta(days=7)).isoformat()
    return [
        ("floor: no filter", {}),
        ("equality, 1% match: Tier=gold", {tier: "gold"}),
        ("equality, 69% match: Tier=bronze", {tier: "bronze"}),
        ("equality by name: Tier=silver", {"custom.Tier": "silver"}),
        ("several values hold one: Regions=apac", {regions: "apac"}),
        ("is set, 0.1% match: Partner ID", {f"{partner}__is_set": "true"}),
        ("is not set, 20% match: Tier", {f"{tier}__is_set": "false"}),
        ("range, 50% match: Seats >= 5000", {f"{seats}__gte": 5000}),
        ("range, 0.1% match: Seats > 9990", {f"{seats}__gt": 9990}),
        ("date range, 1%: Renewal in the next 7 days", {f"{renewal}__gte": date.today().isoformat(),
                                                        f"{renewal}__lt": soon}),
        ("equality + range: gold and Seats > 5000", {tier: "gold", f"{seats}__gt": 5000}),
    ]


def measure(client: httpx.Client, params: dict[str, Any], n: int) -> tuple[float, float, int]:
    for _ in range(min(3, n)):  # warm-up: connection, plans, caches
        client.get("/lead/", params=params).raise_for_status()
    samples, count = [], 0
    for _ in range(n):
        started = time.perf_counter()
        response = client.get("/lead/", params=params)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        count = len(response.json()["data"])
    return percentile(samples, 0.5), percentile(samples, 0.99), count


def check(client: httpx.Client, ids: dict[str, str]) -> None:
    """The filters return what they claim before any timing."""
    gold = client.get("/lead/", params={f"custom.{ids['Tier']}": "gold"}).json()["data"]
    assert gold and all(lead["custom"]["Tier"] == "gold" for lead in gold)
    many = client.get("/lead/", params={f"custom.{ids['Seats']}__gt": 9990}).json()["data"]
    assert many and all(lead["custom"]["Seats"] > 9990 for lead in many)
    partners = client.get("/lead/", params={f"custom.{ids['Partner ID']}__is_set": "true"}).json()["data"]
    assert partners and all("Partner ID" in lead["custom"] for lead in partners)


def app_range(field_id: str, above: int) -> str:
    """The SQL condition the app sends for custom.<Seats>__gt=<above> (values.conditions)."""
    from sqlalchemy import column
    from sqlalchemy.dialects import postgresql

    from geniziz.custom.models import CustomField
    from geniziz.custom.values import conditions

    [where] = conditions("postgresql", column("custom"), [CustomField(id=field_id, name="Seats", name_key="seats",
                                                                      type="number")],
                         {f"custom.{field_id}__gt": above}, "a lead")
    return str(where.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


async def plans(raw_url: str, org: str, ids: dict[str, str]) -> list[str]:
    """What PostgreSQL does for three of the filters (the shape the app sends)."""
    import asyncpg

    conn = await asyncpg.connect(raw_url)
    try:
        out = []
        for where in (f"custom @> '{{\"{ids['Tier']}\": \"gold\"}}'", f"custom ? '{ids['Partner ID']}'",
                      app_range(ids["Seats"], 9990)):
            rows = await conn.fetch(f"EXPLAIN SELECT id FROM lead WHERE organization_id = '{org}' AND {where} "
                                    "ORDER BY id DESC LIMIT 101")
            out.append(where + "\n    " + "\n    ".join(r[0] for r in rows))
        return out
    finally:
        await conn.close()


async def sql_figures(raw_url: str, org: str, ids: dict[str, str], built: dict[str, Any], n: int,
                      rng: random.Random) -> list[str]:
    """Load-robust figures from the database alone: the 0.1% range page with the indexed expression and
    with the former jsonpath test (no index serves it), and what an indexed field costs a write (UPDATEs of
    one lead's Seats, with the indexes, then after dropping them). Run last: it drops the indexes."""
    import asyncpg

    seats = app_range(ids["Seats"], 9990)
    forms = {"indexed expression, as the app sends it": (seats, ()),
             "jsonpath with a bound value (before)": (
                 f"jsonb_path_exists(custom, '$.\"{ids['Seats']}\" ? (@ > $v)', jsonb_build_object('v', $2::numeric))",
                 (9990,))}
    conn = await asyncpg.connect(raw_url)
    out = []
    try:
        for label, (where, params) in forms.items():
            # Prepared and run again and again, as the app's driver does (PostgreSQL may switch to a
            # generic plan after five runs).
            statement = await conn.prepare(f"SELECT id FROM lead WHERE organization_id = $1 AND {where} "
                                           "ORDER BY id DESC LIMIT 101")
            samples = []
            for i in range(n + 3):
                began = time.perf_counter()
                rows = await statement.fetch(org, *params)
                if i >= 3:  # warm-up
                    samples.append((time.perf_counter() - began) * 1000)
            out.append(f"page query, Seats > 9990 (0.1%), {label}: p50 {percentile(samples, 0.5):.1f} ms, "
                       f"p99 {percentile(samples, 0.99):.1f} ms, {len(rows)} rows")
        lead_ids = [r[0] for r in await conn.fetch("SELECT id FROM lead WHERE organization_id = $1 "
                                                   "ORDER BY random() LIMIT 2000", org)]
        update = await conn.prepare("UPDATE lead SET custom = jsonb_set(custom, ARRAY[$2::text], to_jsonb($3::int)) "
                                    "WHERE id = $1")

        async def writes() -> float:
            began = time.perf_counter()
            for lead_id in lead_ids:
                await update.fetch(lead_id, ids["Seats"], rng.randint(1, 10_000))
            return (time.perf_counter() - began) * 1000 / len(lead_ids)

        await writes()  # warm-up: the leads' pages in the cache
        with_indexes = await writes()
        for index, _seconds, _size in built.values():
            await conn.execute(f'DROP INDEX "{index}"')
            await conn.execute(f'DROP STATISTICS IF EXISTS "{index}"')
        without = await writes()
        out.append(f"write cost: {len(lead_ids):,} single-lead UPDATEs of custom (autocommit): "
                   f"{with_indexes:.2f} ms each with the two field indexes, {without:.2f} ms without them")
    finally:
        await conn.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per filter")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--keep", action="store_true", help="keep the database (prints its name)")
    args = parser.parse_args()

    from geniziz.migrate import upgrade

    name = f"geniziz_bench_cf_{secrets.token_hex(4)}"
    server_url = args.postgres_url.rpartition("/")[0]
    raw_url, app_url = f"{server_url}/{name}", f"{server_url}/{name}".replace("postgresql://", "postgresql+asyncpg://")
    asyncio.run(admin(args.postgres_url, f'CREATE DATABASE "{name}"'))
    process = None
    try:
        upgrade(app_url)
        print(f"Seeding {args.leads:,} leads with custom field values into {name} ...", flush=True)
        seeded = asyncio.run(seed(app_url, raw_url, args, random.Random(args.seed)))
        process, base = start_server(app_url, Path(tempfile.gettempdir()) / f"{name}.log")
        results = []
        with httpx.Client(base_url=f"{base}/api/v1", auth=(seeded["key"], ""), timeout=120) as client:
            check(client, seeded["ids"])
            for label, params in scenarios(seeded["ids"]):
                ids_only = measure(client, {**params, "_fields": "id"}, args.requests)[:2]
                results.append((label, *measure(client, params, args.requests), *ids_only))
        print(f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} CPUs, "
              f"load {open('/proc/loadavg').read().split()[0]}, "
              f"PostgreSQL {seeded['pg']}, Python {platform.python_version()}")
        indexes = "; ".join(f"{name} index built in {seconds:.0f} s, {size}"
                            for name, (_index, seconds, size) in seeded["built"].items())
        print(f"{args.leads:,} leads seeded in {seeded['seconds']:.0f} s; GIN index on lead.custom built in "
              f"{seeded['index_seconds']:.0f} s, {seeded['index_size']}; {indexes}; {args.requests} sequential "
              f"GET /lead/ pages of 100 per filter: full records, then _fields=id (the filter without the "
              f"cost of shaping 100 full leads)\n")
        print(f"{'filter':<48} {'p50 ms':>8} {'p99 ms':>8} {'rows':>5} {'id p50':>8} {'id p99':>8}")
        for label, p50, p99, count, id50, id99 in results:
            print(f"{label:<48} {p50:>8.1f} {p99:>8.1f} {count:>5} {id50:>8.1f} {id99:>8.1f}")
        print("\nPlans:")
        for plan in asyncio.run(plans(raw_url, seeded["org"], seeded["ids"])):
            print(plan)
        print(f"\nThe database alone (asyncpg, {args.requests} runs each), load {open('/proc/loadavg').read().strip()}:")
        for line in asyncio.run(sql_figures(raw_url, seeded["org"], seeded["ids"], seeded["built"], args.requests,
                                            random.Random(args.seed))):
            print(line)
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except Exception:
                process.kill()
        if args.keep:
            print(f"kept database {name}")
        else:
            asyncio.run(admin(args.postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
