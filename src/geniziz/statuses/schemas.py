from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from geniziz.api.schemas import ReadModel, Timestamp, WriteModel

StatusLabel = Annotated[str, Field(min_length=1, max_length=200)]


class LeadStatusCreate(WriteModel):
    label: StatusLabel


class LeadStatusRead(ReadModel):
    id: str
    label: str
    date_created: Timestamp
    date_updated: Timestamp


class OpportunityStatusCreate(WriteModel):
    label: StatusLabel
    type: Literal["active", "won", "lost"] = "active"
    pipeline_id: str | None = Field(None, description="Defaults to the workspace's first pipeline.")


class OpportunityStatusUpdate(WriteModel):
    label: StatusLabel | None = None
    type: Literal["active", "won", "lost"] | None = None


OpportunityStatusUpdate.not_nullable = frozenset({"label", "type"})  # type: ignore[attr-defined]


class OpportunityStatusRead(ReadModel):
    id: str
    label: str
    type: str
    pipeline_id: str
    date_created: Timestamp
    date_updated: Timestamp


class PipelineCreate(WriteModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]


class PipelineRead(ReadModel):
    id: str
    name: str
    statuses: list[OpportunityStatusRead]
    date_created: Timestamp
    date_updated: Timestamp
