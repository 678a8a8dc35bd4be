"""Background jobs of the flows: moving a lead with a large history."""

from __future__ import annotations

from typing import Any

from geniziz.api.context import Ctx
from geniziz.flows.move import FIELD, MOVE_JOB, run_move_job
from geniziz.worker.models import Job
from geniziz.worker.registry import job_handler


@job_handler(MOVE_JOB, max_attempts=3, timeout=1800)
async def move_lead_job(ctx: Ctx, job: Job) -> dict[str, Any]:
    # One transaction, committed with the job's success: the lead moves wholly or not at all.
    return await run_move_job(ctx, job.payload["lead_id"], job.payload[FIELD])
