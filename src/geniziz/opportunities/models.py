from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geniziz.custom.models import EMPTY_JSON
from geniziz.db import Base, IdString, Json, Record
from geniziz.statuses.models import Status

VALUE_PERIODS = ("one_time", "monthly", "annual")


class Opportunity(Record, Base):
    __tablename__ = "opportunity"
    __table_args__ = (
        Index("ix_opportunity_org_id", "organization_id", "id"),
        # Reports: won, created and expected to close in a period.
        Index("ix_opportunity_org_won", "organization_id", "date_won"),
        Index("ix_opportunity_org_created", "organization_id", "date_created"),
        Index("ix_opportunity_org_close", "organization_id", "expected_close_date"),
    )

    lead_id: Mapped[str] = mapped_column(IdString, ForeignKey("lead.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[str | None] = mapped_column(IdString, ForeignKey("contact.id", ondelete="SET NULL"))
    status_id: Mapped[str] = mapped_column(IdString, ForeignKey("status.id", ondelete="RESTRICT"), index=True)
    pipeline_id: Mapped[str] = mapped_column(IdString, ForeignKey("pipeline.id", ondelete="RESTRICT"))
    owner_id: Mapped[str | None] = mapped_column(IdString, ForeignKey("user.id", ondelete="SET NULL"))
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    value_period: Mapped[str] = mapped_column(String(20), default="one_time")
    value_currency: Mapped[str] = mapped_column(String(3), default="USD")
    confidence: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    expected_close_date: Mapped[date | None]
    date_won: Mapped[datetime | None]
    # Custom field values, {field ID: value} (geniziz.custom).
    custom: Mapped[dict[str, Any]] = mapped_column(Json, default=dict, server_default=EMPTY_JSON)

    status: Mapped[Status] = relationship(lazy="joined", innerjoin=True)

    # Read through the eagerly joined status.
    @property
    def status_label(self) -> str:
        return self.status.label

    @property
    def status_type(self) -> str:
        return self.status.type or "active"


class LineItem(Record, Base):
    __tablename__ = "line_item"

    opportunity_id: Mapped[str] = mapped_column(IdString, ForeignKey("opportunity.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_price: Mapped[int] = mapped_column(BigInteger)  # cents
