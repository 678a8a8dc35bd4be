from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from geniziz.api.schemas import ReadModel, Timestamp, WriteModel

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobRead(ReadModel):
    id: str
    organization_id: str | None
    kind: str
    payload: dict[str, Any]
    status: JobStatus
    attempts: int = Field(description="Attempts started so far.")
    max_attempts: int
    run_at: Timestamp = Field(description="When it is due: the next attempt's time while it is queued.")
    locked_by: str | None = Field(description="The worker running it.")
    locked_until: Timestamp | None = Field(description="The running worker's lease: another may take it after this.")
    last_error: str | None
    idempotency_key: str | None
    owner_type: str | None = Field(description="The kind of record the job works for, e.g. lead.")
    owner_id: str | None
    result: Any = None
    date_created: Timestamp
    date_updated: Timestamp
    date_started: Timestamp | None
    date_finished: Timestamp | None


class JobFilters(WriteModel):
    status: JobStatus | None = None
    kind: str | None = Field(None, max_length=100)
    owner_id: str | None = Field(None, max_length=32)
