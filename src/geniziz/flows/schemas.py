"""What the flows' actions take and answer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from geniziz.api.schemas import InputTimestamp, ReadModel, Timestamp, WriteModel


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


# --- imports ---------------------------------------------------------------------------------------------------
class ImportCreate(WriteModel):
    content: Annotated[str, Field(min_length=1, description=(
        "The file's text: CSV with a header row, or JSON lines (one object per line). Larger files: "
        "`geniziz import FILE` on the server."))]
    format: Literal["csv", "jsonl"] = "csv"
    file_name: Annotated[str, Field(max_length=500)] | None = None
    mapping: dict[Annotated[str, Field(max_length=500)], Annotated[str, Field(max_length=200)] | None] = Field(
        default_factory=dict, description=(
            "Column -> field (lead.name, lead.url, lead.status, lead.owner, contact.email, contact.custom.<key>...), "
            "null to ignore a column; over the mapping guessed from the header."))
    dedupe: Literal["update", "skip", "none"] = Field("update", description=(
        "A row naming an existing contact (by email) or lead (by URL domain): update it, skip it, or none: "
        "always create."))
    dry_run: bool = Field(False, description="Report what would happen, change nothing.")


class ImportRead(ReadModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    format: str
    file_name: str | None
    columns: list[str]
    mapping: dict[str, str | None]
    dedupe: str
    dry_run: bool
    total_rows: int
    processed_rows: int = Field(description="Progress: rows done so far.")
    counts: dict[str, int] = Field(description="created_leads, created_contacts, updated_leads, updated_contacts, "
                                               "skipped_rows.")
    failed_rows: int = Field(description="Rows not imported: see GET /import/{id}/errors/ (CSV too).")
    error: str | None
    job_id: str | None
    date_created: Timestamp
    date_updated: Timestamp
    date_finished: Timestamp | None
    created_by: str | None


class ImportFilters(WriteModel):
    status: Literal["queued", "running", "succeeded", "failed"] | None = None


class ImportErrorRead(ReadModel):
    row: int = Field(description="As a spreadsheet numbers it: the header is row 1.")
    field: str | None
    reason: str


class ImportErrors(ReadModel):
    data: list[ImportErrorRead]
    has_more: bool


# --- exports ---------------------------------------------------------------------------------------------------
class ExportCreate(WriteModel):
    resource: Literal["lead", "contact", "opportunity"]
    format: Literal["csv", "jsonl"] = "csv"
    filters: dict[str, Any] = Field(default_factory=dict, description='The list\'s filters, e.g. {"status_id": "stat_..."}.')


class ExportRead(ReadModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    resource: str
    format: str
    filters: dict[str, Any]
    rows: int
    size_bytes: int
    error: str | None
    job_id: str | None
    download_url: str | None = Field(None, description="When succeeded: GET it (with your key) for the file.")
    date_created: Timestamp
    date_finished: Timestamp | None
    created_by: str | None


# --- bulk actions ----------------------------------------------------------------------------------------------
class BulkActionCreate(WriteModel):
    resource: Literal["lead", "contact", "opportunity", "task"]
    action: Literal["update", "delete", "enrol"] = Field(description=(
        "enrol: each contact (resource contact), or each contact of each lead (resource lead), in sequence_id."))
    filters: dict[str, Any] = Field(default_factory=dict, description="The list's filters: every record matching now.")
    ids: Annotated[list[Annotated[str, Field(max_length=40)]], Field(max_length=10000)] | None = Field(
        None, description="Or these records (up to 10,000).")
    all: bool = Field(False, description="Every record of the resource (when neither filters nor ids are given).")
    changes: dict[str, Any] = Field(default_factory=dict, description=(
        "For update: the fields to set, as PUT takes them, e.g. {\"status_id\": \"stat_...\"}."))
    # For enrol: what POST /sequence_subscription/ takes besides the contact.
    sequence_id: str | None = Field(None, description="For enrol: the sequence.")
    sender_account_id: str | None = Field(
        None, description="For enrol: the connected account emails leave through; default: yours (or a shared one).")
    calls_assigned_to: str | None = Field(None, description="For enrol: the member call tasks go to; default: you.")
    start_date: InputTimestamp | None = Field(None, description="For enrol: not before this moment; default: now.")


class BulkActionRead(ReadModel):
    id: str
    resource: str
    action: str
    filters: dict[str, Any]
    ids: list[str] | None
    changes: dict[str, Any]
    sequence_id: str | None
    sender_account_id: str | None
    calls_assigned_to: str | None
    start_date: Timestamp | None
    status: Literal["queued", "running", "succeeded", "failed"]
    total: int = Field(description="Records it covers: those matching when it was asked.")
    processed: int = Field(description="Progress: records done so far.")
    succeeded: int
    failed: int
    failures: list[dict[str, Any]] = Field(description="The first 1,000 records that failed, with why.")
    error: str | None
    job_id: str | None
    date_created: Timestamp
    date_updated: Timestamp
    date_finished: Timestamp | None
    created_by: str | None
