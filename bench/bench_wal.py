"""SQLite commits with and without the WAL checkpointer (geniziz/sqlite_wal.py), by replay.

A writer commits transactions about the size of a lead create's WAL (~35 pages) one after another, with a
short pause between them (the request path), and the commit times are printed: SQLite's own automatic
checkpoint at its default threshold ("sqlite default"), then the Database's set-up (the writer's threshold
raised to a backstop, a thread copying the WAL after commits). sqlite3 only, no server: the commit is what
differs.

    python bench/bench_wal.py [--transactions 3000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from geniziz.sqlite_wal import BACKSTOP_PAGES, WalCheckpointer  # noqa: E402


def replay(path: Path, transactions: int, *, checkpointer: bool) -> dict[str, float]:
    writer = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
        writer.execute(f"PRAGMA {pragma}")
    writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT, c TEXT, d BLOB)")
    for column in "abc":  # random keys: index pages all over the file, as a create's indexes
        writer.execute(f"CREATE INDEX ix_{column} ON t ({column})")
    thread = None
    if checkpointer:
        writer.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        thread = WalCheckpointer(str(path))
    commits = []
    for _ in range(transactions):  # bounded
        writer.execute("BEGIN IMMEDIATE")
        for _ in range(6):
            writer.execute("INSERT INTO t (a, b, c, d) VALUES (?, ?, ?, ?)",
                           (os.urandom(40).hex(), os.urandom(40).hex(), os.urandom(40).hex(), os.urandom(3000)))
        started = time.perf_counter()
        writer.execute("COMMIT")
        commits.append(time.perf_counter() - started)
        if thread is not None:
            thread.poke()  # as the write engine's pool check-in does
        time.sleep(0.0005)
    if thread is not None:
        thread.stop()
    wal = path.with_name(path.name + "-wal").stat().st_size
    writer.close()
    commits.sort()
    n = len(commits)
    return {"p50": commits[n // 2] * 1e3, "p99": commits[int(n * 0.99)] * 1e3, "p99.9": commits[int(n * 0.999)] * 1e3,
            "max": commits[-1] * 1e3, "over 2 ms": sum(c > 0.002 for c in commits), "wal MB": wal / 1e6,
            "checkpoints": thread.checkpoints if thread else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"{args.transactions} transactions of ~35 pages, sqlite {sqlite3.sqlite_version}, "
          f"backstop {BACKSTOP_PAGES} pages; commit times in ms")
    print(f"{'set-up':<22} {'p50':>6} {'p99':>7} {'p99.9':>7} {'max':>6} {'>2 ms':>6} {'WAL MB':>7} {'thread ckpts':>12}")
    for _ in range(args.rounds):
        for name, with_thread in (("sqlite default", False), ("checkpointer thread", True)):
            with tempfile.TemporaryDirectory() as workdir:
                r = replay(Path(workdir) / "replay.db", args.transactions, checkpointer=with_thread)
            print(f"{name:<22} {r['p50']:6.2f} {r['p99']:7.2f} {r['p99.9']:7.2f} {r['max']:6.1f} {r['over 2 ms']:6d} "
                  f"{r['wal MB']:7.1f} {r['checkpoints']:12d}")


if __name__ == "__main__":
    main()
