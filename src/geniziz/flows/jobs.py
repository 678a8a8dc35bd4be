"""Background jobs of the flows: moving a lead with a large history, imports, exports, bulk actions."""

from __future__ import annotations

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


@job_handler(IMPORT_JOB, max_attempts=5, timeout=6 * 3600)
async def import_job(ctx: Ctx, job: Job) -> dict[str, Any]:
    try:
        return await run_import(ctx, job.payload["import_id"])
    except Exception as exc:
        if job.attempts >= job.max_attempts:  # the last attempt: say so on the import, not only on the job
            await ctx.session.rollback()
            record = await ctx.session.get(DataImport, job.payload["import_id"])
            if record is not None:
                record.status, record.error, record.date_finished = "failed", f"{type(exc).__name__}: {exc}"[:2000], utcnow()
                await ctx.session.commit()
        raise


@job_handler(EXPORT_JOB, max_attempts=3, timeout=6 * 3600)
async def export_job(ctx: Ctx, job: Job) -> dict[str, Any]:
    try:
        return await run_export(ctx, job.payload["export_id"])
    except Exception as exc:
        if job.attempts >= job.max_attempts:
            await ctx.session.rollback()
            record = await ctx.session.get(DataExport, job.payload["export_id"])
            if record is not None:
                record.status, record.error, record.date_finished = "failed", f"{type(exc).__name__}: {exc}"[:2000], utcnow()
                await ctx.session.commit()
        raise


@job_handler(BULK_JOB, max_attempts=5, timeout=6 * 3600)
async def bulk_job(ctx: Ctx, job: Job) -> dict[str, Any]:
    try:
        return await run_bulk(ctx, job.payload["bulk_action_id"])
    except Exception as exc:
        if job.attempts >= job.max_attempts:
            await ctx.session.rollback()
            record = await ctx.session.get(BulkAction, job.payload["bulk_action_id"])
            if record is not None:
                record.status, record.error, record.date_finished = "failed", f"{type(exc).__name__}: {exc}"[:2000], utcnow()
                await ctx.session.commit()
        raise
