"""The worker: claims due jobs under a lease, runs their handlers, retries failures with backoff.

Guarantees:
- a job runs only if the transaction that enqueued it committed;
- a claimed job is its worker's until ``locked_until`` (the lease, extended by a heartbeat while the
  handler runs); a worker that dies loses it when the lease expires, and another worker runs it again;
- the handler's database writes commit in the same transaction as the job's ``succeeded`` mark, and
  only while the worker still holds the lease (the mark is fenced on ``locked_by`` and ``attempts``).
  So database effects happen exactly once; effects outside the database happen at least once, and
  carry ``job.dedup_key`` so their receiver can drop a repeat.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import random
import secrets
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from geniziz.api.auth import Principal
from geniziz.api.context import Ctx
from geniziz.config import Settings
from geniziz.db import Database, utcnow
from geniziz.worker.models import Job
from geniziz.worker.registry import HANDLERS, PERIODIC, enqueue

log = logging.getLogger("geniziz.worker")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_BACKOFF = timedelta(hours=6)


def _job_unit(db: Database, job: Job) -> Any:
    """The handler's unit of work: scoped to the job's workspace (system jobs: across workspaces)."""
    if job.organization_id is None:
        return db.system_session(write=True)
    return db.unit(job.organization_id, write=True)


def _job_ctx(session: Any, job: Job) -> Ctx:
    """The context a handler runs in: the job's workspace, acting as the user who caused the job.

    Jobs are the app's own code, so they act with an admin's rights (``ctx.require_admin()`` passes).
    """
    principal = Principal(job.organization_id, job.created_by, "admin", "")  # type: ignore[arg-type]
    return Ctx(session, principal, via="worker")


def backoff(attempt: int, base: float) -> timedelta:
    """Delay before retrying after failed attempt ``attempt`` (1, 2, ...): base * 2^(attempt-1), "equal
    jitter" (between half and all of it), so delays grow and workers do not retry in lockstep."""
    delay = min(base * 2 ** (attempt - 1), MAX_BACKOFF.total_seconds())
    return timedelta(seconds=delay / 2 + random.uniform(0, delay / 2))


def period_start(now: datetime, every: timedelta) -> datetime:
    return EPOCH + ((now - EPOCH) // every) * every


def import_job_modules(settings: Settings) -> None:
    """Extra handler modules named in GENIZIZ_JOB_MODULES (the app's own come with its domains)."""
    for name in filter(None, (part.strip() for part in settings.job_modules.split(","))):
        importlib.import_module(name)


class Worker:
    def __init__(self, db: Database, settings: Settings, *, concurrency: int = 1) -> None:
        self.db = db
        self.settings = settings
        self.concurrency = max(1, concurrency)
        self.lease = timedelta(seconds=settings.worker_lease_seconds)
        self.name = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.stopping = asyncio.Event()

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> None:
        """Run until stop(); then give running jobs worker_shutdown_seconds to finish, and release the rest."""
        log.info("worker %s started (concurrency %d)", self.name, self.concurrency)
        slots = [asyncio.create_task(self._slot()) for _ in range(self.concurrency)]
        scheduler = asyncio.create_task(self._schedule())  # ends by itself once stopping
        await self.stopping.wait()
        _done, pending = await asyncio.wait(slots, timeout=self.settings.worker_shutdown_seconds)
        for task in pending:
            task.cancel()  # _execute releases the interrupted job
        await asyncio.gather(scheduler, *slots, return_exceptions=True)
        log.info("worker %s stopped", self.name)

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            pass

    async def _slot(self) -> None:
        while not self.stopping.is_set():
            try:
                job = await self.claim()
            except Exception:  # noqa: BLE001 - the database may be briefly unreachable: try again later
                log.exception("worker %s could not claim jobs", self.name)
                job = None
            if job is None:
                await self._pause(self.settings.worker_poll_seconds)
            else:
                await self._execute(job)

    # -- claiming ---------------------------------------------------------------------------------
    def _due(self, now: datetime) -> Any:
        return or_(and_(Job.status == "queued", Job.run_at <= now),
                   and_(Job.status == "running", Job.locked_until < now))

    async def claim(self) -> Job | None:
        now = utcnow()
        if self.db.is_sqlite:
            # Look first through a read connection: an idle worker never takes SQLite's single write lock.
            async with self.db.system_session() as session:
                if await session.scalar(select(Job.id).where(self._due(now)).limit(1)) is None:
                    return None
        # PostgreSQL: SKIP LOCKED lets concurrent workers each take a different row without waiting.
        # SQLite: the write transaction (BEGIN IMMEDIATE) already makes claims one at a time.
        pick = (select(Job.id).where(self._due(now)).order_by(Job.run_at).limit(1)
                .with_for_update(skip_locked=True))
        claim = (update(Job).where(Job.id.in_(pick.scalar_subquery()))
                 .values(status="running", locked_by=self.name, locked_until=now + self.lease,
                         attempts=Job.attempts + 1, date_started=now, date_updated=now)
                 .returning(Job).execution_options(synchronize_session=False))
        async with self.db.system_session(write=True) as session:
            job = (await session.scalars(claim)).first()
            await session.commit()
        return job

    def _mine(self, job: Job) -> Any:
        """Fences every later write: only while this worker still holds this attempt's lease."""
        return and_(Job.id == job.id, Job.status == "running", Job.locked_by == self.name,
                    Job.attempts == job.attempts)

    async def _update_mine(self, job: Job, **values: Any) -> bool:
        async with self.db.system_session(write=True) as session:
            done = await session.execute(update(Job).where(self._mine(job)).values(date_updated=utcnow(), **values))
            await session.commit()
        return done.rowcount == 1

    # -- running ----------------------------------------------------------------------------------
    async def _execute(self, job: Job) -> None:
        if job.attempts > job.max_attempts:  # its workers kept dying: do not try forever
            await self._fail(job, job.last_error or "the worker running it stopped (lease expired)", final=True)
            return
        finished = asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat(job, finished))
        try:
            handler = HANDLERS.get(job.kind)
            if handler is None:
                raise LookupError(f"no handler for job kind {job.kind!r} in this worker")
            async with _job_unit(self.db, job) as session:
                try:
                    result = await asyncio.wait_for(handler.func(_job_ctx(session, job), job), handler.timeout)
                except TimeoutError:
                    raise TimeoutError(f"timed out after {handler.timeout:g} s") from None
                now = utcnow()
                marked = await session.execute(update(Job).where(self._mine(job)).values(
                    status="succeeded", result=result, locked_by=None, locked_until=None, date_finished=now,
                    date_updated=now))
                if marked.rowcount != 1:
                    await session.rollback()  # another worker has it now: its attempt's work counts, not ours
                    log.warning("job %s (%s): lease lost, its work was rolled back", job.id, job.kind)
                    return
                await session.commit()
            log.debug("job %s (%s) succeeded", job.id, job.kind)
        except asyncio.CancelledError:
            # Shutting down before it finished: give it back now rather than after the lease.
            await asyncio.shield(self._update_mine(
                job, status="queued", locked_by=None, locked_until=None, run_at=utcnow(),
                attempts=Job.attempts - 1))
            log.warning("job %s (%s) released at shutdown", job.id, job.kind)
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of a handler is the job's, recorded on it
            await self._fail(job, f"{type(exc).__name__}: {exc}"[:4000], final=job.attempts >= job.max_attempts,
                             exc=exc)
        finally:
            # Let a beat in flight end rather than cancel it mid-statement (which can strand its connection).
            finished.set()
            await asyncio.shield(heartbeat)

    async def _fail(self, job: Job, error: str, *, final: bool, exc: BaseException | None = None) -> None:
        if final:
            values: dict[str, Any] = {"status": "failed", "date_finished": utcnow()}
        else:
            values = {"status": "queued", "run_at": utcnow() + backoff(job.attempts, self.settings.job_backoff_seconds)}
        await self._update_mine(job, locked_by=None, locked_until=None, last_error=error, **values)
        log.warning("job %s (%s) attempt %d/%d failed%s: %s", job.id, job.kind, job.attempts, job.max_attempts,
                    "; giving up" if final else "; will retry", error, exc_info=exc if final else None)

    async def _heartbeat(self, job: Job, finished: asyncio.Event) -> None:
        """Extend the lease while the handler runs, so a long job is not taken for a dead one."""
        while True:
            try:
                await asyncio.wait_for(finished.wait(), self.lease.total_seconds() / 3)
                return
            except TimeoutError:
                pass
            try:
                if not await self._update_mine(job, locked_until=utcnow() + self.lease):
                    return  # lost: the fenced success mark will refuse this attempt's work
            except Exception:  # noqa: BLE001 - try again at the next beat
                log.exception("job %s: heartbeat failed", job.id)

    # -- periodic jobs ----------------------------------------------------------------------------
    async def _schedule(self) -> None:
        """Enqueue each periodic job once per period. Every worker does it; the idempotency key
        "<name>@<period start>" and INSERT ... ON CONFLICT DO NOTHING leave exactly one row per period,
        which then runs (and retries) like any job."""
        enqueued: dict[str, datetime] = {}
        while not self.stopping.is_set():
            now = utcnow()
            for item in PERIODIC.values():
                start = period_start(now, item.every)
                if enqueued.get(item.name) == start:
                    continue
                try:
                    async with self.db.system_session(write=True) as session:
                        await enqueue(session, item.name, run_at=start, idempotency_key=f"{item.name}@{start.isoformat()}")
                        await session.commit()
                    enqueued[item.name] = start
                except Exception:  # noqa: BLE001 - try again at the next tick
                    log.exception("could not enqueue periodic job %s", item.name)
            await self._pause(min(self.settings.worker_poll_seconds, 1.0))


@asynccontextmanager
async def background_worker(db: Database, settings: Settings) -> AsyncIterator[None]:
    """Inside `geniziz serve`: a worker in the same process when configured (default: on SQLite only)."""
    enabled = settings.inprocess_worker if settings.inprocess_worker is not None else db.is_sqlite
    if not enabled:
        yield
        return
    import_job_modules(settings)
    worker = Worker(db, settings)
    task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        worker.stop()
        await task


async def run_worker(settings: Settings, concurrency: int) -> None:
    """`geniziz worker`: run until SIGTERM or SIGINT, then finish or release the running jobs."""
    from geniziz.app import load_domains, settle_memory

    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    load_domains()
    import_job_modules(settings)
    settle_memory()
    db = Database(settings.database_url)
    worker = Worker(db, settings, concurrency=concurrency)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    try:
        await worker.run()
    finally:
        await db.dispose()
