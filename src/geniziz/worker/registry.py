"""Declaring job kinds (``@job_handler``, ``@periodic``) and enqueuing jobs (``enqueue``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from geniziz.config import get_settings
from geniziz.db import new_id, utcnow
from geniziz.worker.models import Job

if TYPE_CHECKING:
    from geniziz.api.context import Ctx

HandlerFunc = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Handler:
    kind: str
    func: HandlerFunc
    max_attempts: int | None = None
    timeout: float | None = None  # seconds; a slower attempt fails (and is retried)


@dataclass(frozen=True)
class Periodic:
    name: str
    every: timedelta


HANDLERS: dict[str, Handler] = {}
PERIODIC: dict[str, Periodic] = {}


def job_handler(kind: str, *, max_attempts: int | None = None,
                timeout: float | None = None) -> Callable[[HandlerFunc], HandlerFunc]:
    """Declare the handler of a job kind: ``async def handler(ctx, job) -> JSON-able result | None``.

    It runs in its own transaction (``ctx.session``), which commits together with the job's
    ``succeeded`` mark; an exception rolls it back and the job is retried.
    """
    def register(func: HandlerFunc) -> HandlerFunc:
        if kind in HANDLERS:
            raise RuntimeError(f"job kind {kind} declared twice")
        HANDLERS[kind] = Handler(kind, func, max_attempts, timeout)
        return func

    return register


def periodic(name: str, *, every: timedelta, max_attempts: int | None = None,
             timeout: float | None = None) -> Callable[[HandlerFunc], HandlerFunc]:
    """Declare a system job that runs once per period of ``every`` (periods aligned on the Unix epoch),
    however many workers run. Its handler gets a context without a workspace."""
    def register(func: HandlerFunc) -> HandlerFunc:
        job_handler(name, max_attempts=max_attempts, timeout=timeout)(func)
        PERIODIC[name] = Periodic(name, every)
        return func

    return register


_UNSET: Any = object()


async def enqueue(target: Ctx | AsyncSession, kind: str, payload: dict[str, Any] | None = None, *,
                  run_at: datetime | None = None, idempotency_key: str | None = None,
                  owner: Any = None, max_attempts: int | None = None,
                  organization_id: str | None = _UNSET) -> str:
    """Record a job in the caller's transaction and return its ID.

    It runs only if that transaction commits. With a Ctx, the job belongs to the caller's workspace
    (pass a bare session, or ``organization_id=None``, for a system job). An ``idempotency_key``
    already used for this kind gives back the existing job instead of a second one. ``owner`` is the
    record the job works for: an ORM record, or ``(owner_type, owner_id)``.
    """
    session = target if isinstance(target, AsyncSession) else target.session
    if organization_id is _UNSET:
        organization_id = None if isinstance(target, AsyncSession) else target.org_id
    created_by = None if isinstance(target, AsyncSession) else target.user_id
    if owner is None:
        owner_type = owner_id = None
    elif isinstance(owner, tuple):
        owner_type, owner_id = owner
    else:
        owner_type, owner_id = owner.__tablename__, owner.id
    handler = HANDLERS.get(kind)
    now = utcnow()
    values = dict(
        id=new_id("job"), organization_id=organization_id, kind=kind, payload=payload or {}, status="queued",
        attempts=0, max_attempts=max_attempts or (handler and handler.max_attempts) or get_settings().job_max_attempts,
        run_at=run_at or now, idempotency_key=idempotency_key, owner_type=owner_type, owner_id=owner_id,
        created_by=created_by, date_created=now, date_updated=now,
    )
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # Insert-or-nothing in one statement: two concurrent enqueues of one key can never both insert.
    statement = insert(Job).values(**values).on_conflict_do_nothing(index_elements=["kind", "idempotency_key"])
    inserted = (await session.execute(statement.returning(Job.id))).scalar()
    if inserted is None:
        inserted = await session.scalar(select(Job.id).where(Job.kind == kind, Job.idempotency_key == idempotency_key))
    return inserted
