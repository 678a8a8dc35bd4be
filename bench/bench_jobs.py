#!/usr/bin/env python3
"""Background-jobs benchmark on PostgreSQL: jobs per second with 1 and 2 `geniziz worker` processes, and
the lag of due jobs (when an attempt started minus when the job was due).

    .venv/bin/python bench/bench_jobs.py                       # 3,000 jobs per throughput run, 200 timed jobs
    .venv/bin/python bench/bench_jobs.py --jobs 300 --lag-jobs 40   # a quick look

For each worker count it: starts the workers (each `--concurrency` slots) on a fresh database and waits
until they are polling; enqueues --jobs no-op jobs in one transaction and times from its commit to the
last job's finish (throughput); then, with the workers idle, enqueues --lag-jobs jobs due over the next
few seconds and reads each one's lag from the job rows (date_started - run_at). The no-op handler
means the figures are the queue's own cost (claim, run in a transaction, mark done). The database is
dropped at the end, even on failure.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from geniziz.db import Database, utcnow  # noqa: E402
from geniziz.migrate import upgrade  # noqa: E402
from geniziz.worker import enqueue  # noqa: E402
from geniziz.worker.models import Job  # noqa: E402


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _enqueue(db: Database, count: int, first_due: datetime | None = None, spacing_ms: float = 0) -> None:
    async with db.system_session(write=True) as session:
        for n in range(count):
            run_at = first_due + timedelta(milliseconds=spacing_ms * n) if first_due else None
            await enqueue(session, "bench.noop", run_at=run_at)


async def _count_done(db: Database) -> int:
    async with db.system_session() as session:
        done = select(func.count()).select_from(Job).where(Job.status == "succeeded", Job.kind == "bench.noop")
        return await session.scalar(done)


async def _wait_done(db: Database, total: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while await _count_done(db) < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {await _count_done(db)}/{total} jobs done")
        await asyncio.sleep(0.05)


async def _clear(db: Database) -> None:
    async with db.system_session(write=True) as session:
        await session.execute(text("DELETE FROM job WHERE kind = 'bench.noop'"))


def _start_workers(url: str, count: int, concurrency: int, logs: Path) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "GENIZIZ_DATABASE_URL": url, "GENIZIZ_JOB_MODULES": "bench.job_kinds",
           "GENIZIZ_LOG_LEVEL": "info"}
    processes = []
    for n in range(count):
        log = logs / f"worker-{count}-{n}.log"
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "geniziz.cli", "worker", "--concurrency", str(concurrency)], cwd=ROOT, env=env,
            stdout=open(log, "wb"), stderr=subprocess.STDOUT))  # noqa: SIM115
        deadline = time.monotonic() + 60
        while " started (concurrency" not in log.read_text(errors="replace"):
            if time.monotonic() > deadline or processes[-1].poll() is not None:
                raise SystemExit(f"worker did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
    return processes


async def run(args: argparse.Namespace) -> None:
    name = f"geniziz_bench_jobs_{secrets.token_hex(4)}"
    base = args.postgres_url.rpartition("/")[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://")
    await _admin(args.postgres_url, f'CREATE DATABASE "{name}"')
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / name
    logs.mkdir(parents=True, exist_ok=True)
    try:
        await asyncio.to_thread(upgrade, url)
        db = Database(url)
        print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), platform.machine()) if Path("/proc/cpuinfo").exists() else ""
        print(f"machine: {platform.node()}, {os.cpu_count()} cores, {cpu or platform.machine()}, "
              f"Python {platform.python_version()}, PostgreSQL on {base.rpartition('@')[2]}")
        print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
        print(f"poll interval {os.environ.get('GENIZIZ_WORKER_POLL_SECONDS', '1.0')} s (GENIZIZ_WORKER_POLL_SECONDS), "
              f"--concurrency {args.concurrency} per worker\n")
        print(f"{'workers':>7}  {'jobs':>6}  {'seconds':>8}  {'jobs/s':>7}  {'lag p50 ms':>10}  {'lag p99 ms':>10}")
        for count in args.workers:
            processes = _start_workers(url, count, args.concurrency, logs)
            try:
                await _clear(db)
                await _enqueue(db, args.jobs)  # committed here
                began = time.monotonic()
                await _wait_done(db, args.jobs, args.timeout)
                elapsed = time.monotonic() - began
                await _clear(db)
                first_due = utcnow() + timedelta(seconds=2)
                await _enqueue(db, args.lag_jobs, first_due, args.spacing_ms)
                await _wait_done(db, args.lag_jobs, args.timeout)
                async with db.system_session() as session:
                    lags = sorted((job.date_started - job.run_at).total_seconds() * 1000
                                  for job in await session.scalars(select(Job).where(Job.kind == "bench.noop")))
            finally:
                for process in processes:
                    process.terminate()
                for process in processes:
                    process.wait(timeout=30)
            p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
            print(f"{count:>7}  {args.jobs:>6}  {elapsed:>8.2f}  {args.jobs / elapsed:>7.0f}  "
                  f"{statistics.median(lags):>10.0f}  {p99:>10.0f}")
        await db.dispose()
    finally:
        await _admin(args.postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a server where this user may CREATE DATABASE")
    parser.add_argument("--jobs", type=int, default=3000, help="jobs per throughput run")
    parser.add_argument("--lag-jobs", type=int, default=200, help="jobs due over the next seconds, for the lag")
    parser.add_argument("--spacing-ms", type=float, default=20, help="between the due times of the lag jobs")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker process counts to measure")
    parser.add_argument("--concurrency", type=int, default=2, help="slots per worker process")
    parser.add_argument("--timeout", type=float, default=600)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
