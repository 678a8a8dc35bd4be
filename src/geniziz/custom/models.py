"""Custom fields (the workspace's own fields on leads, contacts, opportunities, activities and custom
objects), custom object types, and their instances.

Values live on the records themselves, in a JSON column ``custom`` ({field ID: value}; JSONB on
PostgreSQL, with a GIN index on the tables that lists filter), so reading a record costs no join and a
new field needs no migration. A field's ID is its key, so renaming a field never touches a record.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geniziz.db import Base, IdString, Json, Record

# What a `custom` column defaults to, on every backend (and for rows that existed before it).
EMPTY_JSON = text("'{}'")


class CustomObjectType(Record, Base):
    __tablename__ = "custom_object_type"
    __table_args__ = (
        Index("ux_custom_object_type_org_api_name", "organization_id", "api_name", unique=True),
    )

    name: Mapped[str] = mapped_column(String(200))
    name_plural: Mapped[str] = mapped_column(String(200))
    api_name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    # Every instance is on a lead; these say what else an instance may link to.
    link_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    link_custom_object_type_id: Mapped[str | None] = mapped_column(
        IdString, ForeignKey("custom_object_type.id", ondelete="SET NULL"))

    fields: Mapped[list[CustomField]] = relationship(
        "CustomField", order_by="CustomField.id", lazy="raise", viewonly=True)


class CustomField(Record, Base):
    __tablename__ = "custom_field"
    __table_args__ = (
        # Names are unique (case-insensitively) per object type, or per custom object type.
        Index("ux_custom_field_org_scope_name", "organization_id", "scope", "name_key", unique=True),
        Index("ix_custom_field_org_object", "organization_id", "object_type", "id"),
    )

    # lead, contact, opportunity, activity, custom_object, custom_activity (a custom activity type's own)
    object_type: Mapped[str] = mapped_column(String(40))
    custom_object_type_id: Mapped[str | None] = mapped_column(
        IdString, ForeignKey("custom_object_type.id", ondelete="CASCADE"), index=True)
    custom_activity_type_id: Mapped[str | None] = mapped_column(
        IdString, ForeignKey("custom_activity_type.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(40))  # object_type, or the custom object/activity type's ID
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))  # lower-cased name: what uniqueness compares
    type: Mapped[str] = mapped_column(String(20))
    accepts_multiple: Mapped[bool] = mapped_column(Boolean, default=False)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    choices: Mapped[list[str]] = mapped_column(Json, default=list)
    description: Mapped[str | None] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(String(200))  # custom activity types' fields: a display name
    # Number, date and datetime fields: an expression index serves range filters (values.index_sql).
    indexed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class CustomObject(Record, Base):
    """An instance of a custom object type, on a lead (deleted with it)."""

    __tablename__ = "custom_object"
    __table_args__ = (
        Index("ix_custom_object_org_type", "organization_id", "custom_object_type_id", "id"),
        Index("ix_custom_object_lead", "lead_id", "id"),
    )

    custom_object_type_id: Mapped[str] = mapped_column(
        IdString, ForeignKey("custom_object_type.id", ondelete="CASCADE"))
    lead_id: Mapped[str] = mapped_column(IdString, ForeignKey("lead.id", ondelete="CASCADE"))
    contact_id: Mapped[str | None] = mapped_column(
        IdString, ForeignKey("contact.id", ondelete="SET NULL"), index=True)
    parent_id: Mapped[str | None] = mapped_column(
        IdString, ForeignKey("custom_object.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(500))
    custom: Mapped[dict[str, Any]] = mapped_column(Json, default=dict, server_default=EMPTY_JSON)
