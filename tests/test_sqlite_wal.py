"""SQLite's WAL is copied into the database file by a thread of the Database (geniziz/sqlite_wal.py), not by
the commit that takes it past SQLite's automatic threshold: the writer's own checkpoint is only a backstop."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import text

from geniziz.db import Database
from geniziz.sqlite_wal import BACKSTOP_PAGES

PAGE = 4096
ROW = b"x" * 3000  # about a page per row


def _checkpointer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sqlite-wal-checkpoint" and t.is_alive()]


async def _write(db: Database, rows: int, per_unit: int = 10) -> None:
    for _ in range(rows // per_unit):  # one unit of work per create, as requests make them
        async with db.unit(system=True, write=True) as session:
            await session.execute(text("INSERT INTO blob (data) VALUES (:data)"), [{"data": ROW}] * per_unit)


async def _settled(db: Database) -> None:
    """Until the thread has had a checkpoint after the last write."""
    checkpointer = db.wal_checkpointer
    assert checkpointer is not None
    seen = checkpointer.checkpoints
    for _ in range(100):  # bounded: 10 s
        await asyncio.sleep(0.1)
        if checkpointer.checkpoints > seen and not checkpointer._wanted.is_set():
            return
    raise AssertionError("the checkpointer did not run")


def _rows_in_database_file(path: Path, workdir: Path) -> int:
    """Rows in the database file itself, as if the WAL were lost: what has been checkpointed."""
    alone = workdir / "alone.db"
    shutil.copyfile(path, alone)
    with sqlite3.connect(alone) as conn:
        return conn.execute("SELECT count(*) FROM blob").fetchone()[0]


def test_commits_leave_the_wal_to_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    rows = 1_500  # ~1,500 pages: past SQLite's default threshold (1,000), far under the backstop

    async def main() -> tuple[int, int, int, int]:
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            async with db.unit(system=True, write=True) as session:
                await session.execute(text("CREATE TABLE blob (id INTEGER PRIMARY KEY, data BLOB)"))
                backstop = (await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar()
            await _write(db, rows)
            await _settled(db)
            copied = _rows_in_database_file(path, tmp_path)
            wal_after_first = path.with_name("wal.db-wal").stat().st_size
            for _ in range(3):  # the WAL starts again once wholly copied: it does not grow with each round
                await _write(db, rows)
                await _settled(db)
            wal_after_more = path.with_name("wal.db-wal").stat().st_size
            return backstop, copied, wal_after_first, wal_after_more
        finally:
            await db.dispose()

    backstop, copied, wal_after_first, wal_after_more = asyncio.run(main())
    assert backstop == BACKSTOP_PAGES  # the writer's own checkpoint would not have run at 1,500 pages...
    assert copied == rows  # ...yet every committed row is in the database file
    assert wal_after_first >= rows * PAGE
    assert wal_after_more < 2 * wal_after_first  # four rounds, not four rounds' worth of WAL
    assert not _checkpointer_threads()  # dispose ended the thread


def test_the_thread_runs_only_after_writes_and_again_after_dispose(tmp_path: Path) -> None:
    path = tmp_path / "idle.db"

    async def main() -> tuple[bool, int, bool, bool]:
        db = Database(f"sqlite+aiosqlite:///{path}")
        async with db.unit(system=True) as session:  # a read: nothing to copy, no thread
            await session.execute(text("SELECT 1"))
        idle = not _checkpointer_threads()
        async with db.unit(system=True, write=True) as session:
            await session.execute(text("CREATE TABLE blob (id INTEGER PRIMARY KEY, data BLOB)"))
        await _write(db, 20)
        await _settled(db)
        ran = db.wal_checkpointer.checkpoints if db.wal_checkpointer else 0
        await db.dispose()
        stopped = not _checkpointer_threads()
        await _write(db, 20)  # an engine is usable after its dispose, and so is its checkpointer
        await _settled(db)
        again = bool(_checkpointer_threads())
        await db.dispose()
        return idle, ran, stopped, again

    started = time.monotonic()
    idle, ran, stopped, again = asyncio.run(main())
    assert idle and ran >= 1 and stopped and again
    assert not _checkpointer_threads()
    assert time.monotonic() - started < 30
