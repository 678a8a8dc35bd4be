"""A periodic job for tests/test_worker.py (GENIZIZ_JOB_MODULES=tests.job_kinds,tests.job_periodic)."""

from __future__ import annotations

from datetime import timedelta

from geniziz.worker import periodic
from tests.job_kinds import _effect


@periodic("tests.tick", every=timedelta(seconds=1))
async def tick(ctx, job):  # type: ignore[no-untyped-def]
    await _effect(ctx, job, job.idempotency_key)  # "tests.tick@<period start>"
