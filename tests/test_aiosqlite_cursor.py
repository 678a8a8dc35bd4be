"""The SQLite driver's one-trip cursor (geniziz/aiosqlite_cursor.py): a statement is one call into
aiosqlite's thread, and SQLAlchemy sees what its own cursor gave (rows, rowcount, errors, executemany)."""

from __future__ import annotations

import asyncio
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


def test_the_cursor_answers_as_sqlalchemys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    execute = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(fn)
        return await execute(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    ours = asyncio.run(_exercise(f"sqlite+aiosqlite:///{tmp_path / 'ours.db'}", dbapi()))
    ours_calls = len(calls)
    calls.clear()
    theirs = asyncio.run(_exercise(f"sqlite+aiosqlite:///{tmp_path / 'theirs.db'}", None))
    assert ours == theirs
    assert [entry[0] for entry in ours][-3:] == ["IntegrityError", "OperationalError", "stream"]
    # Fewer trips to the thread for the same work (DDL, BEGIN and COMMIT, connecting included).
    assert ours_calls < len(calls) * 2 // 3, (ours_calls, len(calls))


def test_a_read_is_one_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> int:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'one.db'}", module=dbapi())
        try:
            async with engine.connect() as conn:
                await conn.execute(text("select 1"))  # connects
                calls: list[Any] = []
                execute = aiosqlite.Connection._execute

                async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
                    calls.append(fn)
                    return await execute(self, fn, *args, **kwargs)

                with monkeypatch.context() as patch:
                    patch.setattr(aiosqlite.Connection, "_execute", counted)
                    assert (await conn.execute(text("select 1, 2"))).all() == [(1, 2)]
                return len(calls)
        finally:
            await engine.dispose()

    assert asyncio.run(main()) == 1
