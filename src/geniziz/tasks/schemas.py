from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from geniziz.api.schemas import InputTimestamp, ReadModel, Timestamp, WriteModel, partial_model

TaskType = Literal["to_do", "call", "email", "meeting"]


class TaskCreate(WriteModel):
    lead_id: str | None = Field(None, description="The task's lead; taken from the contact when only contact_id is given.")
    contact_id: str | None = None
    assigned_to: str | None = Field(None, description="A member of this workspace; defaults to the caller.")
    text: Annotated[str, Field(min_length=1, max_length=1000)]
    description: Annotated[str, Field(max_length=20000)] | None = None
    type: TaskType = "to_do"
    due_date: InputTimestamp | None = None
    is_complete: bool = False


TaskUpdate = partial_model(TaskCreate, "TaskUpdate")


class TaskRead(ReadModel):
    id: str
    lead_id: str | None
    contact_id: str | None
    assigned_to: str | None
    text: str
    description: str | None
    type: str
    due_date: Timestamp | None
    is_complete: bool
    date_completed: Timestamp | None
    date_created: Timestamp
    date_updated: Timestamp
    created_by: str | None
    updated_by: str | None


class TaskFilters(WriteModel):
    lead_id: str | None = None
    contact_id: str | None = None
    assigned_to: str | None = None
    is_complete: bool | None = None
    due_date__gte: InputTimestamp | None = Field(None, description="Due at or after this time.")
    due_date__lte: InputTimestamp | None = Field(None, description="Due at or before this time.")
