"""Imports and exports: the request, its file (in chunks, so no step holds a whole file), its outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from geniziz.db import Base, IdString, Json, Record


class DataImport(Record, Base):
    """A file of leads and contacts being imported by the ``import.run`` job, batch by batch."""

    __tablename__ = "data_import"

    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued | running | succeeded | failed
    format: Mapped[str] = mapped_column(String(10), default="csv")  # csv | jsonl
    file_name: Mapped[str | None] = mapped_column(String(500))
    columns: Mapped[list[str]] = mapped_column(Json, default=list)  # the file's columns, in order
    mapping: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)  # column -> field (None: ignored)
    dedupe: Mapped[str] = mapped_column(String(10), default="update")  # update | skip | none
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    # Progress: rows before this one are done (committed with their records, so a retry resumes here).
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    next_chunk: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, int]] = mapped_column(Json, default=dict)  # created_leads, updated_contacts, ...
    failed_rows: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)  # why the whole import failed, if it did
    job_id: Mapped[str | None] = mapped_column(IdString)
    date_finished: Mapped[datetime | None]


class DataImportChunk(Record, Base):
    """Up to CHUNK_ROWS parsed rows of an import's file: [[row number, {column: value}], ...]."""

    __tablename__ = "data_import_chunk"
    __table_args__ = (Index("ix_data_import_chunk_import_seq", "import_id", "seq", unique=True),)

    import_id: Mapped[str] = mapped_column(IdString, ForeignKey("data_import.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    rows: Mapped[list[Any]] = mapped_column(Json, default=list)


class DataImportError(Record, Base):
    """One row that could not be imported, and why."""

    __tablename__ = "data_import_error"
    __table_args__ = (Index("ix_data_import_error_import_row", "import_id", "row"),)

    import_id: Mapped[str] = mapped_column(IdString, ForeignKey("data_import.id", ondelete="CASCADE"))
    row: Mapped[int] = mapped_column(Integer)  # as a spreadsheet numbers it: the header is row 1
    field: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)


class DataExport(Record, Base):
    """An export of leads, contacts or opportunities, written by the ``export.run`` job."""

    __tablename__ = "data_export"

    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued | running | succeeded | failed
    resource: Mapped[str] = mapped_column(String(20))  # lead | contact | opportunity
    format: Mapped[str] = mapped_column(String(10), default="csv")
    filters: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(IdString)
    date_finished: Mapped[datetime | None]

    @property
    def download_url(self) -> str | None:
        return f"/api/v1/export/{self.id}/download/" if self.status == "succeeded" else None


class DataExportChunk(Record, Base):
    """A piece of an export's file, in order (seq); the download streams them."""

    __tablename__ = "data_export_chunk"
    __table_args__ = (Index("ix_data_export_chunk_export_seq", "export_id", "seq", unique=True),)

    export_id: Mapped[str] = mapped_column(IdString, ForeignKey("data_export.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)


class BulkAction(Record, Base):
    """An edit, a delete or an enrolment in a sequence over many records (a filter or a list of IDs), run by
    the ``bulk.run`` job."""

    __tablename__ = "bulk_action"

    resource: Mapped[str] = mapped_column(String(20))  # lead | contact | opportunity | task
    action: Mapped[str] = mapped_column(String(10))  # update | delete | enrol
    filters: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    ids: Mapped[list[str] | None] = mapped_column(Json)
    changes: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    # enrol: what POST /sequence_subscription/ takes besides the contact (no foreign keys: a sequence or
    # an account deleted meanwhile makes each enrolment fail with why, as a single one would).
    sequence_id: Mapped[str | None] = mapped_column(IdString)
    sender_account_id: Mapped[str | None] = mapped_column(IdString)
    calls_assigned_to: Mapped[str | None] = mapped_column(IdString)
    start_date: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued | running | succeeded | failed
    # The records it covers: those matching when it was asked, up to this ID (IDs grow with time).
    last_id: Mapped[str | None] = mapped_column(IdString)
    cursor: Mapped[str] = mapped_column(IdString, default="")  # records up to here are done
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)  # [{id, error}], the first 1,000
    failed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(IdString)
    date_finished: Mapped[datetime | None]
