"""The SQLite driver's one-trip cursor (geniziz/aiosqlite_cursor.py): a statement is one call into
aiosqlite's thread, and SQLAlchemy sees what its own cursor gave (rows, rowcount, errors, executemany)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from geniziz.aiosqlite_cursor import dbapi

metadata = MetaData()
item = Table("item", metadata, Column("id", Integer, primary_key=True), Column("name", String, unique=True))


async def _exercise(url: str, module: Any) -> list[Any]:
    """The same statements on an engine; what SQLAlchemy answered, to compare drivers."""
    engine = create_async_engine(url, **({"module": module} if module else {}))
    out: list[Any] = []
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            result = await conn.execute(insert(item).values(name="a"))
            out.append(("insert", result.rowcount, result.inserted_primary_key))
            await conn.execute(insert(item), [{"name": f"n{i}"} for i in range(5)])  # executemany
            out.append(("returning", (await conn.execute(
                insert(item).values(name="r").returning(item.c.id, item.c.name))).all()))
            out.append(("update", (await conn.execute(update(item).where(item.c.id > 3).values(name=item.c.name + "!"))).rowcount))
            result = await conn.execute(select(item).order_by(item.c.id))
            out.append(("keys", list(result.keys())))
            out.append(("rows", result.all()))
            out.append(("one", (await conn.execute(select(item.c.name).where(item.c.id == 1))).scalar_one()))
            out.append(("none", (await conn.execute(select(item).where(item.c.id == -1))).first()))
            out.append(("partitions", [list(p) for p in (await conn.execute(select(item.c.id).order_by(item.c.id))).partitions(4)]))
            for statement in (insert(item).values(name="a"), text("select nope from item")):
                try:
                    async with conn.begin_nested():
                        await conn.execute(statement)
                except (IntegrityError, OperationalError) as exc:
                    out.append((type(exc).__name__, str(exc.orig), type(exc.orig).__name__))
        async with engine.connect() as conn:  # server-side cursors keep SQLAlchemy's own
            streamed = await conn.stream(select(item.c.name).order_by(item.c.id))
            out.append(("stream", [row async for row in streamed]))
    finally:
        await engine.dispose()
    return out


@contextmanager
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The calls made into aiosqlite's threads while the block runs."""
    calls: list[Any] = []
    execute = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(fn)
        return await execute(self, fn, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(aiosqlite.Connection, "_execute", counted)
        yield calls


def test_the_cursor_answers_as_sqlalchemys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with trips(monkeypatch) as ours_calls:
        ours = asyncio.run(_exercise(f"sqlite+aiosqlite:///{tmp_path / 'ours.db'}", dbapi()))
    with trips(monkeypatch) as their_calls:
        theirs = asyncio.run(_exercise(f"sqlite+aiosqlite:///{tmp_path / 'theirs.db'}", None))
    assert ours == theirs
    assert [entry[0] for entry in ours][-3:] == ["IntegrityError", "OperationalError", "stream"]
    # Fewer trips to the thread for the same work (DDL, BEGIN and COMMIT, connecting included).
    assert len(ours_calls) < len(their_calls) * 2 // 3, (len(ours_calls), len(their_calls))


def test_a_read_is_one_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> int:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'one.db'}", module=dbapi())
        try:
            async with engine.connect() as conn:
                await conn.execute(text("select 1"))  # connects
                with trips(monkeypatch) as calls:
                    assert (await conn.execute(text("select 1, 2"))).all() == [(1, 2)]
                return len(calls)
        finally:
            await engine.dispose()

    assert asyncio.run(main()) == 1


def test_a_write_units_begin_travels_with_its_first_statement(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer's BEGIN IMMEDIATE goes in the trip of the unit's first statement (db.Database): a unit of one
    statement is two trips (statement, COMMIT). The write lock is still taken before that statement runs, a
    failed unit is rolled back, and a unit that sends nothing begins nothing."""
    import sqlite3

    from geniziz.db import Database

    path = tmp_path / "w.db"
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE)")

    def locked_for_writers() -> bool:
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            return True
        finally:
            other.close()

    async def main() -> dict[str, Any]:
        db = Database(f"sqlite+aiosqlite:///{path}")
        seen: dict[str, Any] = {}
        try:
            async with db.system_session(write=True) as session:  # connects (set-up trips not counted)
                await session.execute(text("SELECT 1"))
            with trips(monkeypatch) as calls:
                async with db.system_session(write=True) as session:
                    assert not locked_for_writers()  # nothing sent yet
                    await session.execute(text("SELECT count(*) FROM item"))  # a read first: BEGIN IMMEDIATE still
                    seen["locked after a read"] = locked_for_writers()
                    await session.execute(text("INSERT INTO item (name) VALUES ('a')"))
                seen["trips"] = len(calls)
            seen["unlocked after the commit"] = not locked_for_writers()
            with pytest.raises(IntegrityError):
                async with db.system_session(write=True) as session:
                    await session.execute(text("INSERT INTO item (name) VALUES ('b')"))
                    await session.execute(text("INSERT INTO item (name) VALUES ('a')"))  # fails: rolled back
            seen["unlocked after the failure"] = not locked_for_writers()
            async with db.system_session(write=True):
                pass  # begins nothing: the next unit's statements are in a transaction of their own
            async with db.system_session(write=True) as session:
                streamed = await session.stream(text("SELECT name FROM item ORDER BY id"))  # SQLAlchemy's cursor
                seen["streamed"] = [row.name async for row in streamed]
                seen["locked while streaming"] = locked_for_writers()
            async with db.system_session() as session:
                seen["names"] = (await session.scalars(text("SELECT name FROM item ORDER BY id"))).all()
        finally:
            await db.dispose()
        return seen

    assert asyncio.run(main()) == {"locked after a read": True, "trips": 3, "unlocked after the commit": True,
                                   "unlocked after the failure": True, "streamed": ["a"],
                                   "locked while streaming": True, "names": ["a"]}
