"""What the flows' actions take and answer."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from geniziz.api.schemas import ReadModel


class LeadMoveRead(ReadModel):
    lead_id: str
    organization_id: str = Field(description="The lead's workspace now: the target once moved.")
    status: Literal["moved", "queued"] = Field(description="queued: a large lead moves as a background job.")
    job_id: str | None = Field(description="When queued: follow it at GET /job/{id}/.")
    moved: dict[str, int] = Field(description="Records moved, per kind (table).")
    remapped: dict[str, dict[str, str | None]] = Field(
        description="Per column, each source workspace ID and the target's equivalent it was set to.")
    cleared: dict[str, int] = Field(description="Per column, records whose reference was cleared.")
    detached: dict[str, int] = Field(description="Per column, records outside the lead that let go of it.")
