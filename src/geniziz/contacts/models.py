from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from geniziz.custom.models import EMPTY_JSON
from geniziz.db import Base, Entries, IdString, Json, PhoneList, Record


class Contact(Record, Base):
    """A person at a lead."""

    __tablename__ = "contact"
    __table_args__ = (
        Index("ix_contact_org_id", "organization_id", "id"),
        # A lead's contacts, in order: what reading a lead or a page of leads asks for (Lead.contacts).
        Index("ix_contact_org_lead", "organization_id", "lead_id", "id"),
    )

    lead_id: Mapped[str] = mapped_column(IdString, ForeignKey("lead.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(500))
    title: Mapped[str | None] = mapped_column(String(500))
    emails: Mapped[list[dict[str, Any]]] = mapped_column(Entries, default=list)
    phones: Mapped[list[dict[str, Any]]] = mapped_column(PhoneList, default=list)
    urls: Mapped[list[dict[str, Any]]] = mapped_column(Entries, default=list)
    # "|a@x.com|b@y.com|" and "|+15551234567|": exact-match filters without parsing JSON.
    email_keys: Mapped[str] = mapped_column(Text, default="|")
    phone_keys: Mapped[str] = mapped_column(Text, default="|")
    # Custom field values, {field ID: value} (geniziz.custom).
    custom: Mapped[dict[str, Any]] = mapped_column(Json, default=dict, server_default=EMPTY_JSON)
