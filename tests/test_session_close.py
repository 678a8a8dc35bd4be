"""Units of work and their connections. Closing one: on SQLite a connection without an open transaction (a read
unit's, a committed write unit's) goes back to the pool without a ROLLBACK (aiosqlite would run it in its thread:
a hop), while a failed write unit's is rolled back; on PostgreSQL a read unit has no transaction, and the
pools keep the connections they open."""

from __future__ import annotations

import asyncio
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.exc import DBAPIError

from geniziz.app import load_domains
from geniziz.db import Database
from geniziz.leads.models import Lead
from tests.conftest import Api, Server
from tests.factories import make_lead


def test_a_unit_closes_without_a_rollback_unless_a_transaction_is_open(server: Server, api: Api,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    if not server.database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL read units: the test below")
    load_domains()  # every model mapped, as in the server
    lead = make_lead(api)
    rollbacks: list[Any] = []
    rollback = aiosqlite.Connection.rollback

    async def counted(self: aiosqlite.Connection) -> None:
        rollbacks.append(self)
        await rollback(self)

    monkeypatch.setattr(aiosqlite.Connection, "rollback", counted)

    async def main() -> tuple[int, int]:
        db = Database(server.database_url, pool_size=2)
        try:
            async with db.unit(api.org_id) as session:  # connects (SQLAlchemy's set-up rolls back once)
                await session.scalar(select(Lead.name))
            rollbacks.clear()
            for _ in range(3):
                async with db.unit(api.org_id) as session:
                    assert await session.scalar(select(Lead.name).where(Lead.id == lead["id"])) == lead["name"]
            reads = len(rollbacks)
            async with db.unit(api.org_id, write=True) as session:  # committed: nothing left to roll back
                await session.execute(update(Lead).where(Lead.id == lead["id"]).values(name="committed"))
            committed = len(rollbacks) - reads
            with pytest.raises(RuntimeError):
                async with db.unit(api.org_id, write=True) as session:
                    await session.execute(update(Lead).where(Lead.id == lead["id"]).values(name="rolled back"))
                    raise RuntimeError("the request failed")
            async with db.unit(api.org_id) as session:  # the writer's change is gone, not left pending
                assert await session.scalar(select(Lead.name).where(Lead.id == lead["id"])) == "committed"
            return reads, committed, len(rollbacks) - reads - committed
        finally:
            await db.dispose()

    reads, committed, failed = asyncio.run(main())
    assert reads == 0 and committed == 0
    assert failed >= 1


def test_a_postgresql_read_unit_has_no_transaction_and_refuses_writes(server: Server, api: Api) -> None:
    if not server.database_url.startswith("postgresql"):
        pytest.skip("SQLite read units: the test above")
    load_domains()
    lead = make_lead(api)

    async def in_transaction(session: Any) -> bool:
        """now() is when the transaction began: the same before and after a sleep only within one transaction.
        (Comparing it with statement_timestamp() in one statement failed once under load: with the extended
        protocol a statement's messages can arrive milliseconds apart, in autocommit too.)"""
        before = await session.scalar(text("SELECT now()"))
        await session.execute(text("SELECT pg_sleep(0.01)"))
        return await session.scalar(text("SELECT now()")) == before

    async def main() -> None:
        db = Database(server.database_url, pool_size=2)
        try:
            async with db.unit(api.org_id) as session:  # autocommit: each statement its own transaction
                assert await in_transaction(session) is False
                assert await session.scalar(select(Lead.name).where(Lead.id == lead["id"])) == lead["name"]
                with pytest.raises(DBAPIError, match="read-only transaction"):
                    await session.execute(update(Lead).where(Lead.id == lead["id"]).values(name="never"))
            async with db.unit(api.org_id) as session:  # what a report does: a transaction, read-only still
                await Database.read_transaction(session)
                await session.execute(text("SET LOCAL work_mem = '64MB'"))
                assert await in_transaction(session) is True
                assert await session.scalar(text("SHOW work_mem")) == "64MB"
                with pytest.raises(RuntimeError, match="before the unit's first statement"):
                    await Database.read_transaction(session)
            async with db.unit(api.org_id) as session:  # the connection went back in autocommit, as it was
                assert await session.scalar(text("SHOW work_mem")) != "64MB"
                assert await in_transaction(session) is False
            async with db.unit(api.org_id) as session:
                assert await session.scalar(select(Lead.name).where(Lead.id == lead["id"])) == lead["name"]
        finally:
            await db.dispose()

    asyncio.run(main())


def test_a_postgresql_pool_keeps_the_connections_it_opens(server: Server, api: Api) -> None:
    """Bursts of concurrent units reuse the connections the first one opened: an overflow connection closed
    on its return and a new one opened for the next burst (a PostgreSQL backend forked and authenticated) made
    one session per two or three reads at 64 concurrent requests."""
    if not server.database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's pools")
    load_domains()
    make_lead(api)

    async def main() -> tuple[int, int]:
        db = Database(server.database_url, pool_size=3)
        opened = {"read": 0, "write": 0}
        for kind, engine in (("read", db.read_engine), ("write", db.write_engine)):
            event.listen(engine.sync_engine, "connect", lambda *_, kind=kind: opened.__setitem__(kind, opened[kind] + 1))

        async def unit(write: bool) -> None:
            async with db.unit(api.org_id, write=write) as session:
                await session.scalar(select(Lead.id).limit(1))
                await asyncio.sleep(0.01)  # held together, as concurrent requests hold them

        try:
            for _ in range(3):
                await asyncio.gather(*(unit(write) for write in (False, True) for _ in range(12)))
        finally:
            await db.dispose()
        return opened["read"], opened["write"]

    assert asyncio.run(main()) == (3, 3)
