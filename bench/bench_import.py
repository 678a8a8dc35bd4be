#!/usr/bin/env python3
"""Import and export benchmark: rows per second and peak memory, on a fresh database.

    .venv/bin/python bench/bench_import.py                            # 100,000 rows on PostgreSQL
    .venv/bin/python bench/bench_import.py --rows 1000000             # a million
    .venv/bin/python bench/bench_import.py --backend sqlite --rows 20000

What it does:
1. writes a CSV of --rows rows (a company, its website, a contact's name, email, title and phone; one
   company in five has two contacts on consecutive rows) to a temporary file;
2. creates a fresh database (PostgreSQL: on --postgres-url's server, dropped at the end) with one
   workspace, and imports the file through the code path of `geniziz import` (``FileImport``: streamed,
   one committed unit of work per batch of 1,000 rows), with --dedupe;
3. exports the contacts to a temporary file through the code path of `geniziz export`;
4. prints rows/s for both, the import's CPU time in this process, and the peak resident memory of the
   process (ru_maxrss): flat memory means the peak does not grow with --rows.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import resource
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def write_file(path: Path, rows: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Company", "Website", "First Name", "Last Name", "Email", "Title", "Phone"])
        company = 0
        for i in range(rows):
            if i % 5 != 1:  # every fifth company has a second contact on the next row
                company += 1
            writer.writerow([f"Company {company}", f"company{company}.example", f"First{i}", f"Last{i}",
                             f"person{i}@company{company}.example", "Buyer", f"+1555{i % 10_000_000:07d}"])


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(args: argparse.Namespace) -> None:
    from geniziz.api.auth import Principal
    from geniziz.api.context import Ctx
    from geniziz.app import load_domains
    from geniziz.db import Database
    from geniziz.flows.exports import write_export
    from geniziz.flows.imports import FileImport
    from geniziz.identity.service import create_workspace
    from geniziz.migrate import upgrade

    load_domains()
    tmp = Path(tempfile.mkdtemp(prefix="bench-import-"))
    source = tmp / "import.csv"
    started = time.perf_counter()
    write_file(source, args.rows)
    print(f"file: {args.rows:,} rows, {source.stat().st_size / 1e6:.1f} MB, written in "
          f"{time.perf_counter() - started:.1f} s; peak memory so far {peak_mb():.0f} MB", flush=True)

    name = f"bench_import_{secrets.token_hex(4)}"
    if args.backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    else:
        import asyncpg

        admin_url = args.postgres_url.replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(admin_url)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        url = args.postgres_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        await asyncio.to_thread(upgrade, url)
        db = Database(url)
        async with db.system_session(write=True) as session:
            org, user, _key, _secret = await create_workspace(session, "Bench", "bench@example.com", "Bench")
            await session.commit()
        job = FileImport(db, org.id, user.id, "csv", {}, args.dedupe)
        started, cpu = time.perf_counter(), time.process_time()
        last = [started]

        def progress(done: int) -> None:
            if done % 20_000 < 1000 or done == args.rows:
                now = time.perf_counter()
                print(f"  {done:>9,} rows  {done / (now - started):>8,.0f} rows/s  peak {peak_mb():.0f} MB", flush=True)
                last[0] = now

        with source.open(newline="") as handle:
            result = await job.run(handle, on_batch=progress)
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(f"import: {result['rows']:,} rows in {took:.1f} s = {result['rows'] / took:,.0f} rows/s "
              f"({args.backend}, dedupe={args.dedupe}); {result['counts']}, {result['failed_rows']} failed; "
              f"peak memory {peak_mb():.0f} MB; this process's CPU {cpu:.1f} s (the rest is the database's "
              f"work and waiting)", flush=True)

        target = tmp / "export.csv"
        started = time.perf_counter()
        with target.open("w", newline="") as out:
            async with db.unit(org.id) as session:
                rows = await write_export(Ctx(session, Principal(org.id, user.id, "admin", ""), "cli"), "contact",
                                          "csv", {}, out.write)
        took = time.perf_counter() - started
        print(f"export: {rows:,} contacts in {took:.1f} s = {rows / took:,.0f} rows/s, "
              f"{target.stat().st_size / 1e6:.1f} MB; peak memory {peak_mb():.0f} MB", flush=True)
        await db.dispose()
    finally:
        if args.backend != "sqlite":
            import asyncpg

            conn = await asyncpg.connect(admin_url)
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()
        for path in tmp.iterdir():
            path.unlink()
        tmp.rmdir()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "GENIZIZ_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--dedupe", choices=("update", "skip", "none"), default="update")
    asyncio.run(main(parser.parse_args()))
