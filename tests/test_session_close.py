"""Closing a unit of work: on SQLite a read unit's connection goes back to the pool without a ROLLBACK
(aiosqlite would run it in its thread: a hop per read), while a write unit's is still rolled back."""

from __future__ import annotations

import asyncio
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import select, update

from geniziz.app import load_domains
from geniziz.db import Database
from geniziz.leads.models import Lead
from tests.conftest import Api, Server
from tests.factories import make_lead


def test_a_read_unit_closes_without_a_rollback(server: Server, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    if not server.database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL read units are transactions, rolled back at their end")
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
            with pytest.raises(RuntimeError):
                async with db.unit(api.org_id, write=True) as session:
                    await session.execute(update(Lead).where(Lead.id == lead["id"]).values(name="rolled back"))
                    raise RuntimeError("the request failed")
            async with db.unit(api.org_id) as session:  # the writer's change is gone, not left pending
                assert await session.scalar(select(Lead.name).where(Lead.id == lead["id"])) == lead["name"]
            return reads, len(rollbacks) - reads
        finally:
            await db.dispose()

    reads, writes = asyncio.run(main())
    assert reads == 0
    assert writes >= 1
