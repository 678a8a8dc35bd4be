from __future__ import annotations

from sqlalchemy import Select

from geniziz.api.context import Ctx
from geniziz.api.resource import CrudService
from geniziz.worker.models import Job


class JobService(CrudService[Job]):
    """Read-only, admins only: the workspace's background jobs and how they went."""

    model = Job
    prefix = "job"
    label = "job"

    def query(self, ctx: Ctx) -> Select:
        ctx.require_admin()
        return super().query(ctx)
