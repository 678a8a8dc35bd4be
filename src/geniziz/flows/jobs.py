"""Background jobs of the flows: moving a lead with a large history, imports, exports, bulk actions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from geniziz.api.context import Ctx
from geniziz.db import utcnow
from geniziz.flows.bulk import BULK_JOB, run_bulk
from geniziz.flows.exports import EXPORT_JOB, run_export
from geniziz.flows.imports import IMPORT_JOB, run_import
from geniziz.flows.models import BulkAction, DataExport, DataImport
from geniziz.flows.move import FIELD, MOVE_JOB, run_move_job
from geniziz.worker.models import Job
from geniziz.worker.registry import job_handler


@job_handler(MOVE_JOB, max_attempts=3, timeout=1800)
async def move_lead_job(ctx: Ctx, job: Job) -> dict[str, Any]:
    # One transaction, committed with the job's success: the lead moves wholly or not at all.
    return await run_move_job(ctx, job.payload["lead_id"], job.payload[FIELD])


async def _tracked(ctx: Ctx, job: Job, model: type[Any], record_id: str,
                   run: Callable[[Ctx, str], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """Run a flow whose record shows its progress; the last attempt's failure is said on the record
    (status "failed" and why), not only on the job."""
    try:
        return await run(ctx, record_id)
    except Exception as exc:
        if job.attempts >= job.max_attempts:
            await ctx.session.rollback()
            record = await ctx.session.get(model, record_id)
            if record is not None:
                record.status, record.error, record.date_finished = "failed", f"{type(exc).__name__}: {exc}"[:2000], utcnow()
                await ctx.session.commit()
        raise


@job_handler(IMPORT_JOB, max_attempts=5, timeout=6 * 3600)
async def import_job(ctx: Ctx, job: Job) -> dict[str, Any]:
    return await _tracked(ctx, job, DataImport, job.payload["import_id"], run_import)


@job_handler(EXPORT_JOB, max_attempts=3, timeout=6 * 3600)
async def export_job(ctx: Ctx, job: Job) -> dict[str, Any]:
    return await _tracked(ctx, job, DataExport, job.payload["export_id"], run_export)


@job_handler(BULK_JOB, max_attempts=5, timeout=6 * 3600)
async def bulk_job(ctx: Ctx, job: Job) -> dict[str, Any]:
    return await _tracked(ctx, job, BulkAction, job.payload["bulk_action_id"], run_bulk)
