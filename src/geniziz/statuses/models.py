from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geniziz.db import Base, IdString, Record

STATUS_KINDS = ("lead", "opportunity")
OPPORTUNITY_STATUS_TYPES = ("active", "won", "lost")


class Pipeline(Record, Base):
    __tablename__ = "pipeline"

    name: Mapped[str] = mapped_column(String(200))
    statuses: Mapped[list[Status]] = relationship(
        back_populates="pipeline", order_by="Status.id", lazy="selectin", cascade="all, delete-orphan",
        passive_deletes=True)


class Status(Record, Base):
    """A lead status, or an opportunity status (with a type, in a pipeline)."""

    __tablename__ = "status"
    __table_args__ = (Index("ix_status_org_kind", "organization_id", "kind"),)

    kind: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(200))
    type: Mapped[str | None] = mapped_column(String(20))
    pipeline_id: Mapped[str | None] = mapped_column(IdString, ForeignKey("pipeline.id", ondelete="CASCADE"))
    pipeline: Mapped[Pipeline | None] = relationship(back_populates="statuses", lazy="raise")
