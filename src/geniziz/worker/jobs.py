"""The worker's own periodic job: finished jobs are deleted after GENIZIZ_JOB_RETENTION_DAYS."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from geniziz.api.context import Ctx
from geniziz.config import get_settings
from geniziz.db import utcnow
from geniziz.worker.models import Job
from geniziz.worker.registry import periodic


@periodic("worker.prune", every=timedelta(hours=1))
async def prune_finished_jobs(ctx: Ctx, job: Job) -> dict[str, int]:
    # An idempotency key is forgotten with its job: retention is also the window of "enqueue once".
    cutoff = utcnow() - timedelta(days=get_settings().job_retention_days)
    deleted = await ctx.session.execute(delete(Job).where(
        Job.status.in_(("succeeded", "failed", "cancelled")), Job.date_finished < cutoff))
    return {"deleted": deleted.rowcount}
