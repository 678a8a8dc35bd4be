"""The job kind bench/bench_jobs.py measures (its workers load it with GENIZIZ_JOB_MODULES=bench.job_kinds)."""

from geniziz.worker import job_handler


@job_handler("bench.noop")
async def noop(ctx, job):  # type: ignore[no-untyped-def]
    return None  # the cost measured is the queue's own: claim, run, mark done
