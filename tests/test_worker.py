"""Durable background jobs, through real processes: `geniziz worker` subprocesses (and `geniziz serve`'s
in-process worker) on a database of this module's own, killed with SIGKILL or stopped with SIGTERM.

The handlers are tests/job_kinds.py (loaded by the workers through GENIZIZ_JOB_MODULES). Their effect
rows go to a `job_effect` table created here, outside the app's schema, which is why this module
uses its own database rather than the session's (whose schema the migration-drift test compares).
Leases, polls and backoffs are shortened through the environment so the module runs in seconds.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from geniziz.db import Database, utcnow
from geniziz.migrate import upgrade
from geniziz.worker import enqueue
from geniziz.worker.models import Job
from tests.conftest import BACKEND, Server, _pg_admin, _postgres_url, member_client, new_workspace, start_server, \
    stop_server, wait_until

FAST = {"GENIZIZ_WORKER_POLL_SECONDS": "0.05", "GENIZIZ_WORKER_LEASE_SECONDS": "2",
        "GENIZIZ_JOB_BACKOFF_SECONDS": "0.4", "GENIZIZ_JOB_MODULES": "tests.job_kinds", "GENIZIZ_LOG_LEVEL": "info"}


# --- a database of our own ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if BACKEND == "sqlite":
        database_url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('jobs') / 'jobs.db'}"
    else:
        name = f"geniziz_jobs_{secrets.token_hex(6)}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        database_url = _postgres_url(name)
    upgrade(database_url)
    _sql(database_url, "CREATE TABLE job_effect (job_id VARCHAR(32), tag VARCHAR(200), pid INTEGER, attempt INTEGER)")
    yield database_url
    if BACKEND != "sqlite":
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{database_url.rpartition("/")[2]}" WITH (FORCE)'))


def _db_run(database_url: str, work: Callable[[Any], Any]) -> Any:
    async def main() -> Any:
        db = Database(database_url)
        try:
            async with db.system_session(write=True) as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(main())


def _sql(database_url: str, statement: str, **params: Any) -> list[Any]:
    async def work(session: Any) -> list[Any]:
        result = await session.execute(text(statement), params)
        rows = list(result.all()) if result.returns_rows else []
        await session.commit()
        return rows

    return _db_run(database_url, work)


def enqueue_jobs(database_url: str, *jobs: dict[str, Any], commit: bool = True) -> list[str]:
    """Enqueue jobs (keyword arguments of `enqueue`, plus "kind") in one transaction, committed or rolled back."""
    async def work(session: Any) -> list[str]:
        ids = [await enqueue(session, job.pop("kind"), **job) for job in jobs]
        await (session.commit() if commit else session.rollback())
        return ids

    return _db_run(database_url, work)


def job_rows(database_url: str, ids: list[str] | None = None) -> dict[str, Job]:
    async def work(session: Any) -> dict[str, Job]:
        query = select(Job) if ids is None else select(Job).where(Job.id.in_(ids))
        return {job.id: job for job in await session.scalars(query)}

    return _db_run(database_url, work)


def effects(database_url: str, job_id: str | None = None) -> list[Any]:
    if job_id is None:
        return _sql(database_url, "SELECT job_id, tag, pid, attempt FROM job_effect")
    return _sql(database_url, "SELECT job_id, tag, pid, attempt FROM job_effect WHERE job_id = :j", j=job_id)


def wait_status(database_url: str, job_id: str, status: str, timeout: float = 30) -> Job:
    return wait_until(lambda: (job := job_rows(database_url, [job_id]).get(job_id)) and job.status == status and job,
                      timeout, f"job {job_id} to be {status}")


# --- worker processes --------------------------------------------------------------------------
class Workers:
    def __init__(self, database_url: str, logs: Path) -> None:
        self.url = database_url
        self.logs = logs
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, concurrency: int = 1, **env: str) -> subprocess.Popen[bytes]:
        log_path = self.logs / f"worker-{len(self.started)}.log"
        environment = {**os.environ, "GENIZIZ_DATABASE_URL": self.url, **FAST, **env}
        process = subprocess.Popen([sys.executable, "-m", "geniziz.cli", "worker", "--concurrency", str(concurrency)],
                                   stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, env=environment)  # noqa: SIM115
        self.started.append((process, log_path))
        # Ready (signal handlers installed) once it logs that it started.
        wait_until(lambda: " started (concurrency" in log_path.read_text(errors="replace") or process.poll() is not None,
                   what="a worker to start")
        assert process.poll() is None, log_path.read_text(errors="replace")
        return process

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 20) -> int:
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=timeout)

    def log(self, process: subprocess.Popen[bytes]) -> str:
        return next(path for p, path in self.started if p is process).read_text(errors="replace")

    def close(self) -> None:
        for process, _ in self.started:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def workers(url: str, tmp_path: Path) -> Iterator[Workers]:
    group = Workers(url, tmp_path)
    yield group
    group.close()


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


# --- the tests ---------------------------------------------------------------------------------
def test_a_committed_job_runs_once_a_rolled_back_one_never(url: str, workers: Workers) -> None:
    key = f"welcome-{secrets.token_hex(4)}"
    committed, again = enqueue_jobs(url, {"kind": "tests.effect", "idempotency_key": key},
                                    {"kind": "tests.effect", "idempotency_key": key, "payload": {"other": 1}})
    assert again == committed  # the same key for the same kind is one job
    [rolled_back] = enqueue_jobs(url, {"kind": "tests.effect"}, commit=False)
    assert rolled_back not in job_rows(url)

    worker = workers.start()
    job = wait_status(url, committed, "succeeded")
    assert job.attempts == 1 and job.result == {"pid": worker.pid} and job.locked_by is None
    assert job.date_finished is not None and job.date_started is not None
    time.sleep(0.5)  # several polls later: still one run, and nothing of the rolled-back transaction
    assert [(row.job_id, row.pid) for row in effects(url, committed)] == [(committed, worker.pid)]
    assert effects(url, rolled_back) == [] and rolled_back not in job_rows(url)
    assert workers.stop(worker) == 0


def test_a_killed_workers_job_is_finished_by_another_exactly_once(url: str, workers: Workers, tmp_path: Path) -> None:
    started = tmp_path / "started"
    [job_id] = enqueue_jobs(url, {"kind": "tests.effect", "payload": {"sleep": 3, "started": str(started)}})
    first = workers.start()
    wait_until(lambda: _lines(started), what="the first worker to start the job")
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = utcnow()
    lease_end = job_rows(url, [job_id])[job_id].locked_until
    # Two workers now: the one that takes the job over must keep its lease (heartbeat) through the
    # 3-second job, longer than the 2-second lease, so the other never runs it a third time.
    others = [workers.start(), workers.start()]
    job = wait_status(url, job_id, "succeeded", timeout=30)
    assert job.attempts == 2
    assert job.date_started >= lease_end >= killed_at - timedelta(seconds=2)  # taken over only after the lease
    runs = effects(url, job_id)
    assert len(runs) == 1 and runs[0].pid in {p.pid for p in others} and runs[0].attempt == 2
    assert [line.split()[0] for line in _lines(started)] == [str(first.pid), str(runs[0].pid)]
    for process in others:
        assert workers.stop(process) == 0


def test_two_workers_race_over_1000_jobs_and_run_each_exactly_once(url: str, workers: Workers) -> None:
    # A long lease: under load a claimed job may wait its turn at the database, and this test is about
    # SKIP LOCKED claims, not expired leases (attempts == 1 below shows no job was claimed twice).
    racers = [workers.start(concurrency=2, GENIZIZ_WORKER_LEASE_SECONDS="60") for _ in range(2)]
    # Enqueued once both are polling: enqueued before, the first worker could finish all 1000 while the
    # second was still starting (it did once in CI, on a loaded machine).
    ids = enqueue_jobs(url, *({"kind": "tests.effect", "payload": {"n": n}} for n in range(1000)))
    wait_until(lambda: all(job.status == "succeeded" for job in job_rows(url, ids).values()), timeout=180,
               what="1000 jobs to succeed")
    rows = [row for row in effects(url) if row.job_id in set(ids)]
    assert len(rows) == 1000 and {row.job_id for row in rows} == set(ids)  # each once, none twice
    assert {row.pid for row in rows} == {p.pid for p in racers}  # both took part
    assert all(job.attempts == 1 for job in job_rows(url, ids).values())
    for process in racers:
        assert workers.stop(process) == 0


def test_periodic_job_runs_once_per_period_across_two_workers(url: str, workers: Workers) -> None:
    modules = {"GENIZIZ_JOB_MODULES": "tests.job_kinds,tests.job_periodic"}
    pair = [workers.start(**modules), workers.start(**modules)]
    time.sleep(4.5)
    for process in pair:
        assert workers.stop(process) == 0
    ticks = [row for row in effects(url) if row.tag.startswith("tests.tick@")]
    periods = [row.tag for row in ticks]
    assert len(periods) == len(set(periods)) >= 3, periods  # one run per one-second period, none twice
    jobs = [job for job in job_rows(url).values() if job.kind == "tests.tick"]
    assert sorted(job.idempotency_key for job in jobs if job.status == "succeeded") == sorted(periods)
    # A tick enqueued as the workers were told to stop waits, queued, for the next worker: not run, not lost.
    assert all(job.status == "queued" for job in jobs if job.status != "succeeded")
    assert all(job.organization_id is None for job in jobs)


def test_sigterm_lets_the_running_job_finish(url: str, workers: Workers, tmp_path: Path) -> None:
    started = tmp_path / "started"
    [job_id] = enqueue_jobs(url, {"kind": "tests.effect", "payload": {"sleep": 1, "started": str(started)}})
    worker = workers.start(GENIZIZ_WORKER_SHUTDOWN_SECONDS="10")
    wait_until(lambda: _lines(started), what="the job to start")
    assert workers.stop(worker) == 0
    job = job_rows(url, [job_id])[job_id]
    assert job.status == "succeeded" and len(effects(url, job_id)) == 1


def test_sigterm_releases_a_job_that_does_not_finish_in_time(url: str, workers: Workers, tmp_path: Path) -> None:
    started = tmp_path / "started"
    [job_id] = enqueue_jobs(url, {"kind": "tests.effect", "payload": {"sleep": 60, "started": str(started)}})
    worker = workers.start(GENIZIZ_WORKER_SHUTDOWN_SECONDS="0.3")
    wait_until(lambda: _lines(started), what="the job to start")
    begun = time.monotonic()
    assert workers.stop(worker) == 0
    assert time.monotonic() - begun < 10  # it did not wait for the 60-second job
    job = job_rows(url, [job_id])[job_id]
    # Back in the queue at once, as if never started (the interrupted attempt does not count), its work undone.
    assert (job.status, job.attempts, job.locked_by, job.locked_until) == ("queued", 0, None, None)
    assert effects(url, job_id) == []
    assert "released at shutdown" in workers.log(worker)
    _sql(url, "UPDATE job SET status = 'cancelled' WHERE id = :j", j=job_id)  # keep it out of later tests


# --- through the API and the server --------------------------------------------------------------
@pytest.fixture(scope="module")
def jobs_server(url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(url, tmp_path_factory.mktemp("jobs-server") / "server.log", GENIZIZ_INPROCESS_WORKER="0")
    yield server
    stop_server(server)
    assert "Unhandled error" not in server.log()


def test_a_failing_job_retries_with_growing_delays_then_fails_visibly(url: str, workers: Workers, tmp_path: Path,
                                                                       jobs_server: Server) -> None:
    api = new_workspace(jobs_server)
    other = new_workspace(jobs_server)
    attempts_log = tmp_path / "attempts"
    [job_id] = enqueue_jobs(url, {"kind": "tests.fail", "payload": {"log": str(attempts_log)}, "max_attempts": 4,
                                  "organization_id": api.org_id, "owner": ("lead", "lead_" + "1" * 22)})
    worker = workers.start()
    wait_status(url, job_id, "failed", timeout=30)
    times = [float(line.split()[1]) for line in _lines(attempts_log)]
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert len(times) == 4, times
    # Backoff 0.4 s doubling, with jitter between half and all of it: [0.2, 0.4], [0.4, 0.8], [0.8, 1.6].
    for n, gap in enumerate(gaps):
        assert gap >= 0.4 * 2 ** n / 2 * 0.95, gaps
    assert gaps[2] > gaps[0], gaps
    assert effects(url, job_id) == []  # every attempt's writes were rolled back

    body = api.ok("GET", f"/job/{job_id}/")
    assert body["status"] == "failed" and body["attempts"] == 4 and body["max_attempts"] == 4
    assert body["last_error"] == "RuntimeError: boom on attempt 4"
    assert body["owner_type"] == "lead" and body["date_finished"] and body["locked_by"] is None
    assert [job["id"] for job in api.ok("GET", "/job/", params={"status": "failed"})["data"]] == [job_id]
    assert [job["id"] for job in api.ok("GET", "/job/", params={"owner_id": "lead_" + "1" * 22})["data"]] == [job_id]
    assert api.ok("GET", "/job/", params={"kind": "tests.effect"})["data"] == []
    api.bad("GET", "/job/", "status", params={"status": "exploded"})
    with member_client(api) as member:
        member.bad("GET", f"/job/{job_id}/", status=403)
        member.bad("GET", "/job/", status=403)
    other.bad("GET", f"/job/{job_id}/", status=404)
    assert other.ok("GET", "/job/")["data"] == []
    assert "giving up" in workers.log(worker)
    assert workers.stop(worker) == 0


def test_serve_runs_jobs_in_process(url: str, tmp_path: Path) -> None:
    # The default on SQLite; on PostgreSQL it takes GENIZIZ_INPROCESS_WORKER=1.
    env = {**FAST} if BACKEND == "sqlite" else {**FAST, "GENIZIZ_INPROCESS_WORKER": "1"}
    server = start_server(url, tmp_path / "server.log", **env)
    try:
        [job_id] = enqueue_jobs(url, {"kind": "tests.effect"})
        wait_status(url, job_id, "succeeded")
        assert [row.pid for row in effects(url, job_id)] == [server.process.pid]
    finally:
        stop_server(server)
    assert "Unhandled error" not in server.log()
