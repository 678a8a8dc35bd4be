#!/usr/bin/env python3
"""Sequence engine benchmark on PostgreSQL: steps run per minute by `geniziz worker` processes over a table
of 100,000 active subscriptions, and the lag of due steps (when a step ran minus when it was due).

    .venv/bin/python bench/bench_sequences.py                               # 100k active, 20k due, 2 workers
    .venv/bin/python bench/bench_sequences.py --subscriptions 5000 --due 1000 --lag 100   # a quick look

1. A fresh database (`geniziz_bench_seq_<random>` on --postgres-url), migrated; dropped at the end.
2. Seeded by bulk insert: one workspace, one sequence of two task steps (the second a day later), and
   --subscriptions leads, each with a contact enrolled: --due of them due now, the others active but due
   in 30 days (they are the table the engine's claim must skip past, through the next_step_at index).
3. --workers `geniziz worker` processes (one slot each), with GENIZIZ_SEQUENCE_TICK_SECONDS=--tick and
   GENIZIZ_SEQUENCE_RUNNERS=--workers. Throughput: the backlog of --due steps from the first step to the
   last (or --seconds), as steps per minute; each step is a transaction that locks the subscription,
   creates a task through the task service (with its timeline effects), records the outcome and
   schedules the next step.
4. Lag: with the backlog gone, --lag subscriptions come due spread over --spread seconds; lag = the time
   the step ran (last_step_at) minus its due time. It includes waiting for the next tick.
5. Checks that no step ran twice (one `step` event per subscription and step).
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
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text, update  # noqa: E402

from geniziz.db import Database, new_id, utcnow  # noqa: E402
from geniziz.migrate import upgrade  # noqa: E402


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def seed(url: str, total: int, due: int, batch: int = 5000) -> tuple[str, list[str]]:
    from geniziz.app import load_domains
    from geniziz.contacts.models import Contact
    from geniziz.identity.service import create_workspace
    from geniziz.leads.models import Lead
    from geniziz.sequences.models import Sequence, SequenceSubscription
    from geniziz.statuses.models import Status

    load_domains()
    db = Database(url)
    try:
        async with db.system_session(write=True) as session:
            org, user, _key, _secret = await create_workspace(session, "Bench", "bench@example.com", "Bench")
            status_id = await session.scalar(select(Status.id).where(
                Status.organization_id == org.id, Status.kind == "lead").order_by(Status.id).limit(1))
        now = utcnow()
        stamp = {"organization_id": org.id, "date_created": now, "date_updated": now, "created_by": user.id,
                 "updated_by": user.id}
        sequence_id = new_id("seq")
        async with db.write_engine.begin() as conn:
            await conn.execute(insert(Sequence.__table__), [{
                "id": sequence_id, "name": "Bench", "status": "active", "timezone": "UTC", "schedule": [],
                "holidays": [], "goal_status_id": None, **stamp,
                "steps": [{"type": "task", "delay_seconds": 0, "text": "Research"},
                          {"type": "task", "delay_seconds": 86400, "text": "Follow up"}]}])
        later = now + timedelta(days=30)
        future: list[str] = []
        for start in range(0, total, batch):
            leads, contacts, subs = [], [], []
            for n in range(start, min(start + batch, total)):
                lead_id, contact_id, sub_id = new_id("lead"), new_id("cont"), new_id("seqsub")
                leads.append({"id": lead_id, "name": f"Lead {n}", "status_id": status_id, "emails": [], "phones": [],
                              "addresses": [], "search_text": f"lead {n}", **stamp})
                contacts.append({"id": contact_id, "lead_id": lead_id, "name": f"Person {n}",
                                 "emails": [{"email": f"p{n}@example.com", "type": "office"}], "phones": [], "urls": [],
                                 "email_keys": f"|p{n}@example.com|", "phone_keys": "|", **stamp})
                subs.append({"id": sub_id, "sequence_id": sequence_id, "contact_id": contact_id, "lead_id": lead_id,
                             "open_contact_id": contact_id, "calls_assigned_to": user.id, "status": "active",
                             "step_index": 0, "next_step_at": now if n < due else later, **stamp})
                if n >= due:
                    future.append(sub_id)
            async with db.write_engine.begin() as conn:
                await conn.execute(insert(Lead.__table__), leads)
                await conn.execute(insert(Contact.__table__), contacts)
                await conn.execute(insert(SequenceSubscription.__table__), subs)
        async with db.write_engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    finally:
        await db.dispose()
    return sequence_id, future


async def _scalar(db: Database, statement: object) -> object:
    async with db.system_session() as session:
        return await session.scalar(statement)


def start_workers(url: str, count: int, tick: float, logs: Path) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "GENIZIZ_DATABASE_URL": url, "GENIZIZ_SEQUENCE_TICK_SECONDS": str(tick),
           "GENIZIZ_SEQUENCE_RUNNERS": str(count), "GENIZIZ_WORKER_POLL_SECONDS": "0.2", "GENIZIZ_LOG_LEVEL": "warning",
           "PYTHONPATH": str(ROOT / "src")}
    return [subprocess.Popen([sys.executable, "-m", "geniziz.cli", "worker"], env=env,
                             stdout=open(logs / f"worker-{i}.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
            for i in range(count)]


async def run(args: argparse.Namespace) -> None:
    from geniziz.sequences.models import SequenceEvent, SequenceSubscription as Sub

    name = f"geniziz_bench_seq_{secrets.token_hex(4)}"
    admin = args.postgres_url
    url = admin.rpartition("/")[0] + "/" + name
    await _admin(admin, f'CREATE DATABASE "{name}"')
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / name
    logs.mkdir(parents=True, exist_ok=True)
    workers: list[subprocess.Popen[bytes]] = []
    db = Database(url)
    try:
        await asyncio.to_thread(upgrade, url)
        started = time.monotonic()
        _sequence_id, future = await seed(url, args.subscriptions, args.due)
        print(f"seeded {args.subscriptions:,} active subscriptions ({args.due:,} due) in {time.monotonic() - started:.1f} s")
        steps = select(func.count()).select_from(SequenceEvent).where(SequenceEvent.kind == "step")

        workers = start_workers(url, args.workers, args.tick, logs)
        deadline = time.monotonic() + args.seconds
        while (done := await _scalar(db, steps)) < args.due and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        first, last = (await _scalar(db, select(func.min(SequenceEvent.date_created)).where(SequenceEvent.kind == "step")),
                       await _scalar(db, select(func.max(SequenceEvent.date_created)).where(SequenceEvent.kind == "step")))
        span = max((last - first).total_seconds(), 1e-3) if first and last else float("nan")
        print(f"throughput: {done:,} steps in {span:.1f} s = {done / span * 60:,.0f} steps/minute "
              f"({args.workers} workers, tick {args.tick:g} s)")
        if done < args.due:  # out of time: park the rest so the lag phase measures due steps only
            async with db.system_session(write=True) as session:
                await session.execute(update(Sub).where(Sub.step_index == 0, Sub.next_step_at <= utcnow())
                                      .values(next_step_at=utcnow() + timedelta(days=30), claimed_by=None))
                await session.commit()
            await asyncio.sleep(args.tick * 2)  # let claims in flight finish

        picked = future[: args.lag]
        t0 = utcnow() + timedelta(seconds=1)
        due_at = {sub_id: t0 + timedelta(seconds=args.spread * i / max(len(picked), 1)) for i, sub_id in enumerate(picked)}
        async with db.system_session(write=True) as session:
            for sub_id, at in due_at.items():
                await session.execute(update(Sub).where(Sub.id == sub_id).values(next_step_at=at))
            await session.commit()
        lag_deadline = time.monotonic() + args.spread + 120
        while time.monotonic() < lag_deadline:
            ran = await _scalar(db, select(func.count()).select_from(Sub).where(
                Sub.id.in_(picked), Sub.last_step_at.is_not(None)))
            if ran >= len(picked):
                break
            await asyncio.sleep(0.5)
        async with db.system_session() as session:
            rows = (await session.execute(select(Sub.id, Sub.last_step_at).where(Sub.id.in_(picked)))).all()
            lags = sorted((at - due_at[sub_id]).total_seconds() for sub_id, at in rows if at is not None)
        if lags:
            q = statistics.quantiles(lags, n=20) if len(lags) > 1 else [lags[0]] * 19
            print(f"lag of {len(lags)} steps due over {args.spread:g} s: median {statistics.median(lags):.2f} s, "
                  f"p95 {q[18]:.2f} s, max {lags[-1]:.2f} s (tick {args.tick:g} s)")
        twice = await _scalar(db, select(func.count()).select_from(
            select(SequenceEvent.subscription_id).where(SequenceEvent.kind == "step")
            .group_by(SequenceEvent.subscription_id, SequenceEvent.step_index).having(func.count() > 1).subquery()))
        print(f"steps run twice: {twice}")
        print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        await db.dispose()
        await _admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=20_000, help="due at once: the throughput backlog")
    parser.add_argument("--seconds", type=float, default=600, help="most time given to the backlog")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tick", type=float, default=5.0)
    parser.add_argument("--lag", type=int, default=300, help="steps due one by one for the lag")
    parser.add_argument("--spread", type=float, default=30.0, help="seconds over which those come due")
    parser.add_argument("--postgres-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
