"""Job kinds for tests/test_worker.py, loaded only by the test processes (GENIZIZ_JOB_MODULES=tests.job_kinds).

Effects go to the ``job_effect`` table, which test_worker.py creates in its own database (it is not
part of the app's schema). A row there is written in the handler's transaction, so it exists only
if that attempt's work committed: counting rows per job counts the runs that took effect.
Marker files (``started``, ``log``) are written outside the transaction, so they also show attempts
that were killed or failed.
"""

from __future__ import annotations

import asyncio
import os
import time

from sqlalchemy import text

from geniziz.worker import job_handler


async def _effect(ctx, job, tag: str | None = None) -> None:  # type: ignore[no-untyped-def]
    await ctx.session.execute(
        text("INSERT INTO job_effect (job_id, tag, pid, attempt) VALUES (:job_id, :tag, :pid, :attempt)"),
        {"job_id": job.id, "tag": tag or job.dedup_key, "pid": os.getpid(), "attempt": job.attempts})


def _mark(path: str | None) -> None:
    if path:
        with open(path, "a") as marks:
            marks.write(f"{os.getpid()} {time.time()}\n")


@job_handler("tests.effect")
async def effect(ctx, job):  # type: ignore[no-untyped-def]
    """Writes its effect row first, then sleeps (payload "sleep"), so a kill mid-job loses the row."""
    _mark(job.payload.get("started"))
    await _effect(ctx, job)
    await asyncio.sleep(job.payload.get("sleep", 0))
    return {"pid": os.getpid()}


@job_handler("tests.fail")
async def fail(ctx, job):  # type: ignore[no-untyped-def]
    _mark(job.payload.get("log"))
    await _effect(ctx, job)  # rolled back with the failed attempt
    raise RuntimeError(f"boom on attempt {job.attempts}")
