from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geniziz.custom.models import EMPTY_JSON
from geniziz.db import Base, Entries, IdString, Json, PhoneList, Record


class Lead(Record, Base):
    """A company or household being sold to; contacts, opportunities, tasks and activities hang off it."""

    __tablename__ = "lead"
    __table_args__ = (
        Index("ix_lead_org_id", "organization_id", "id"),
        Index("ix_lead_org_status", "organization_id", "status_id"),
        Index("ix_lead_org_created", "organization_id", "date_created"),  # reports: leads created in a period
    )

    name: Mapped[str] = mapped_column(String(500))
    url: Mapped[str | None] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(Text)
    industry: Mapped[str | None] = mapped_column(String(200))
    status_id: Mapped[str] = mapped_column(IdString, ForeignKey("status.id", ondelete="RESTRICT"))
    owner_id: Mapped[str | None] = mapped_column(IdString, ForeignKey("user.id", ondelete="SET NULL"), index=True)
    mrr: Mapped[int | None] = mapped_column(BigInteger)
    emails: Mapped[list[dict[str, Any]]] = mapped_column(Entries, default=list)
    phones: Mapped[list[dict[str, Any]]] = mapped_column(PhoneList, default=list)
    addresses: Mapped[list[dict[str, Any]]] = mapped_column(Entries, default=list)
    # Lower-cased name, contact names, emails and phones: what the `query` filter matches.
    search_text: Mapped[str] = mapped_column(Text, default="")
    # Custom field values, {field ID: value} (geniziz.custom).
    custom: Mapped[dict[str, Any]] = mapped_column(Json, default=dict, server_default=EMPTY_JSON)

    # Ordered by (lead_id, id), which for one lead is by id: that order is ix_contact_org_lead's, so SQLite
    # (which has no statistics) reads a page's contacts from it instead of scanning the workspace's
    # contacts in ID order (150 ms at 133,000 contacts).
    contacts: Mapped[list[Contact]] = relationship(  # noqa: F821
        "Contact", order_by="[Contact.lead_id, Contact.id]", lazy="raise", viewonly=True)
