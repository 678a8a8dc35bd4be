"""The expression index of an indexed custom field (number, date, datetime), kept in step with the field.

A field's change (created or marked indexed, type changed, unmarked, deleted) enqueues ``custom.field_index``
in its transaction; the job makes the database's indexes for that field match what the field says now, so
any number of runs, in any order, converge. On PostgreSQL the index is built with CREATE INDEX
CONCURRENTLY (writes to the table go on meanwhile), which cannot run in a transaction: the job runs its DDL
on a connection of its own in autocommit, before its session starts one (an open transaction of ours would
make the build wait for itself). A build that failed half-way leaves an invalid index, dropped on the next
run. PostgreSQL also gets statistics on the same expression (and an ANALYZE of the table), without which
the planner would not choose the index (values.statistics_sql). On SQLite the index is built in one write
transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from geniziz.api.context import Ctx
from geniziz.custom.models import CustomField
from geniziz.custom.values import RANGE_TYPES, index_name, index_sql, statistics_sql
from geniziz.db import looks_like_id
from geniziz.worker.registry import enqueue, job_handler

JOB = "custom.field_index"


async def enqueue_index_sync(ctx: Ctx, field: CustomField) -> None:
    await enqueue(ctx, JOB, {"field_id": field.id}, owner=("custom_field", field.id))


def wanted(field: CustomField | None) -> bool:
    return field is not None and field.indexed and field.type in RANGE_TYPES


async def sync_index(engine: AsyncEngine, field_id: str) -> dict[str, Any]:
    """Create or drop the field's index so that it matches the field; what was done."""
    from geniziz.custom.service import RECORDS  # the records each object type's values live on

    if not looks_like_id(field_id):  # it is written into DDL
        raise ValueError(f"not a field ID: {field_id!r}")
    dialect = engine.dialect.name
    done: dict[str, Any] = {"created": None, "dropped": []}
    async with engine.connect() as conn:
        if dialect == "postgresql":
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        # Core, not the ORM: no workspace scoping applies (the job reads one field by its ID).
        table = CustomField.__table__
        row = (await conn.execute(select(table).where(table.c.id == field_id))).first()
        field = CustomField(**row._mapping) if row is not None else None
        name = index_name(field) if wanted(field) else None
        if dialect == "postgresql":
            found = (await conn.execute(text(
                "SELECT c.relname, i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
                "WHERE c.relname LIKE :pattern"), {"pattern": f"ix_custom_{field_id}_%"})).all()
            stale = [index for index, valid in found if index != name or not valid]
            for (statistics,) in (await conn.execute(text(
                    "SELECT stxname FROM pg_statistic_ext WHERE stxname LIKE :pattern"),
                    {"pattern": f"ix_custom_{field_id}_%"})).all():
                if statistics != name:
                    await conn.exec_driver_sql(f'DROP STATISTICS IF EXISTS "{statistics}"')
        else:
            stale = [index for (index,) in (await conn.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE :pattern"),
                {"pattern": f"ix_custom_{field_id}_%"})).all() if index != name]
        for index in stale:
            await conn.exec_driver_sql(f'DROP INDEX {"CONCURRENTLY " if dialect == "postgresql" else ""}'
                                       f'IF EXISTS "{index}"')
            done["dropped"].append(index)
        if field is not None and name is not None:
            table_name = RECORDS[field.object_type].__tablename__
            await conn.exec_driver_sql(index_sql(dialect, table_name, field))
            if dialect == "postgresql":  # the planner's estimate of a range (see statistics_sql)
                await conn.exec_driver_sql(statistics_sql(table_name, field))
                await conn.exec_driver_sql(f'ANALYZE "{table_name}"')
            done["created"] = name
        if dialect != "postgresql":
            await conn.commit()
    return done


@job_handler(JOB, max_attempts=5, timeout=3600)  # an index over millions of records takes minutes
async def sync_field_index(ctx: Ctx, job: Any) -> dict[str, Any]:
    return await sync_index(ctx.session.bind, job.payload["field_id"])
