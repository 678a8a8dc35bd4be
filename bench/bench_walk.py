#!/usr/bin/env python3
"""Memory while a client walks every lead: the server's resident memory, page after page.

    .venv/bin/python bench/bench_walk.py --database postgresql --leads 1000000   # seed, then walk
    .venv/bin/python bench/bench_walk.py --reuse DATABASE_URL                     # walk a kept database

One `geniziz serve` process; one client reads `GET /api/v1/lead/?_limit=200` (leads with their contacts),
each page after the previous one by `_before`, to the end. It prints the server's resident memory
(VmRSS) every --every pages, and at the end its peak (VmHWM: the high-water mark the kernel keeps, so a
short spike between two samples is not missed), the pages' p50/p99 and the machine's load. Seeding is
bench_http.py's (bulk inserts, one workspace); with --reuse, the workspace with the most leads is walked
with a new API key. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_http import fresh_database, machine_lines, seed, start_server, stop_server  # noqa: E402


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return {name: int(re.search(rf"{name}:\s+(\d+)", status).group(1)) // 1024  # type: ignore[union-attr]
            for name in ("VmRSS", "VmHWM")}


async def api_key_for_largest_workspace(url: str) -> tuple[str, int]:
    """A new API key of an admin of the workspace with the most leads, and its number of leads."""
    from sqlalchemy import func, select

    from geniziz.app import load_domains
    from geniziz.db import Database
    from geniziz.identity.models import Membership
    from geniziz.identity.service import issue_api_key
    from geniziz.leads.models import Lead

    load_domains()
    db = Database(url)
    try:
        async with db.system_session(write=True) as session:  # picks a workspace: spans them all
            org_id, count = (await session.execute(
                select(Lead.organization_id, func.count()).group_by(Lead.organization_id)
                .order_by(func.count().desc()).limit(1).execution_options(all_workspaces=True))).one()
            user_id = await session.scalar(select(Membership.user_id).where(
                Membership.organization_id == org_id, Membership.role == "admin").limit(1))
            _key, secret = await issue_api_key(session, org_id, user_id, "bench_walk")
            await session.commit()
    finally:
        await db.dispose()
    return secret, count


def walk(base_url: str, key: str, pid: int, every: int, limit: int) -> None:
    start = memory(pid)
    print(f"server memory before the walk: RSS {start['VmRSS']} MiB (peak so far {start['VmHWM']} MiB)", flush=True)
    times: list[float] = []
    leads = contacts = 0
    before: str | None = None
    began = time.monotonic()
    with httpx.Client(base_url=base_url, auth=(key, ""), timeout=120) as client:
        while True:
            params: dict[str, str | int] = {"_limit": limit}
            if before:
                params["_before"] = before
            t = time.perf_counter()
            response = client.get("/api/v1/lead/", params=params)
            times.append(time.perf_counter() - t)
            response.raise_for_status()
            page = response.json()
            leads += len(page["data"])
            contacts += sum(len(lead.get("contacts") or ()) for lead in page["data"])
            if len(times) % every == 0:
                now = memory(pid)
                print(f"  {len(times):>6,} pages, {leads:>9,} leads: RSS {now['VmRSS']} MiB, peak {now['VmHWM']} MiB, "
                      f"{leads / (time.monotonic() - began):,.0f} leads/s", flush=True)
            if not page["has_more"]:
                break
            before = page["data"][-1]["id"]
    end = memory(pid)
    ms = sorted(x * 1000 for x in times)
    print(f"\nwalked {leads:,} leads ({contacts:,} contacts) in {len(times):,} pages of {limit} in "
          f"{time.monotonic() - began:,.0f} s; page p50 {statistics.median(ms):.1f} ms, "
          f"p99 {ms[int(len(ms) * 0.99) - 1]:.1f} ms")
    print(f"server memory: RSS {start['VmRSS']} MiB before, {end['VmRSS']} MiB after; peak (VmHWM) {end['VmHWM']} MiB")
    if hasattr(os, "getloadavg"):
        print("load average at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--leads", type=int, default=100_000, help="leads to seed (1-2 contacts each)")
    parser.add_argument("--reuse", help="walk this database (SQLAlchemy URL) instead of seeding one")
    parser.add_argument("--limit", type=int, default=200, help="page size (at most 200)")
    parser.add_argument("--every", type=int, default=500, help="print the server's memory every N pages")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    args = parser.parse_args(argv)
    print("\n".join(line for line in machine_lines(sys.argv) if not line.startswith("load:")), flush=True)  # no wrk here
    workdir = Path(tempfile.mkdtemp(prefix="geniziz-walk-"))
    try:
        if args.reuse:
            from geniziz.migrate import upgrade

            upgrade(args.reuse)
            key, count = asyncio.run(api_key_for_largest_workspace(args.reuse))
            print(f"reusing {args.reuse.rpartition('/')[2]}: {count:,} leads in its largest workspace", flush=True)
            run(args.reuse, key, workdir, args)
            return 0
        with fresh_database(args.database, workdir, args.postgres_url, keep=args.keep) as (url, version):
            from geniziz.migrate import upgrade

            print(f"{version}, started {datetime.now(UTC).strftime('%H:%M UTC')}", flush=True)
            upgrade(url)
            seeded = asyncio.run(seed(url, args.leads, random.Random(1)))
            print(f"seeded {seeded.leads:,} leads and {seeded.contacts:,} contacts in {seeded.seconds:.0f} s", flush=True)
            if args.keep:
                print(f"database: {url}")
            run(url, seeded.api_key, workdir, args)
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(url: str, key: str, workdir: Path, args: argparse.Namespace) -> None:
    server = start_server(url, workdir)
    try:
        walk(server.base_url, key, server.process.pid, args.every, args.limit)
    finally:
        stop_server(server)


if __name__ == "__main__":
    sys.exit(main())
