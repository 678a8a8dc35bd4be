from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from geniziz.db import Base, IdString, utcnow


class ExternalRef(Base):
    """Another system's ID for one of our records, so its IDs never enter Geniziz's ID space.

    E.g. Genesy's `externalId` for a contact it exported: (org, "genesy:contact", "ext-42") -> cont_...
    """

    __tablename__ = "external_ref"
    __table_args__ = (UniqueConstraint("organization_id", "source", "external_id"),)

    id: Mapped[str] = mapped_column(IdString, primary_key=True)
    organization_id: Mapped[str] = mapped_column(IdString, ForeignKey("organization.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(50))
    external_id: Mapped[str] = mapped_column(String(500))
    # Any record's ID, without a foreign key: merge and move carry it with the record (geniziz.flows.graph).
    record_id: Mapped[str] = mapped_column(IdString, index=True, info={"refers_to": "*"})
    date_created: Mapped[datetime] = mapped_column(default=utcnow)
