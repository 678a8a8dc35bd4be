"""custom activity types' fields become custom fields; indexed custom fields

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-26 20:00:00

- custom_field gets `custom_activity_type_id` (a custom activity type's own fields, object_type
  "custom_activity"), `label` (their display name) and `indexed` (number/date/datetime fields whose range
  filters an expression index serves; the indexes themselves are made at run time by the
  custom.field_index job, not here).
- Each custom activity type's `fields` list (JSON) moves to custom_field rows, in order, and each custom
  activity's values move from `data.fields` (by name) to its `custom` column (by field ID), datetimes in
  the one stored form, "2026-01-15T09:30:00.000Z" (they were "+00:00"). Values whose field the type no
  longer had (possible before: a type's field list could drop a field) are kept, unshown, in
  `data.legacy_fields`. Field names of one type that differ only in case stop the upgrade (custom field
  names are unique case-insensitively); rename one first.
"""
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import geniziz.db
from geniziz.db import IdString, Json, new_id

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIELD = sa.table(
    "custom_field", sa.column("id", IdString), sa.column("organization_id", IdString),
    sa.column("object_type", sa.String), sa.column("custom_activity_type_id", IdString), sa.column("scope", sa.String),
    sa.column("name", sa.String), sa.column("name_key", sa.String), sa.column("label", sa.String),
    sa.column("type", sa.String), sa.column("accepts_multiple", sa.Boolean), sa.column("required", sa.Boolean),
    sa.column("choices", Json), sa.column("description", sa.Text), sa.column("indexed", sa.Boolean),
    sa.column("date_created", geniziz.db.UTCDateTime(timezone=True)),
    sa.column("date_updated", geniziz.db.UTCDateTime(timezone=True)),
    sa.column("created_by", IdString), sa.column("updated_by", IdString))
ACTIVITY = sa.table("activity", sa.column("id", IdString), sa.column("type", sa.String),
                    sa.column("custom_activity_type_id", IdString), sa.column("data", Json), sa.column("custom", Json))
TYPE = sa.table("custom_activity_type", sa.column("id", IdString), sa.column("organization_id", IdString),
                sa.column("fields", Json), sa.column("created_by", IdString))


def _stamp(value: str) -> str:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _loaded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def upgrade() -> None:
    with op.batch_alter_table("custom_field") as batch:
        batch.add_column(sa.Column("custom_activity_type_id", sa.String(length=32).with_variant(
            sa.String(length=32, collation="C"), "postgresql"), nullable=True))
        batch.add_column(sa.Column("label", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("indexed", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.create_foreign_key(op.f("fk_custom_field_custom_activity_type_id_custom_activity_type"),
                                 "custom_activity_type", ["custom_activity_type_id"], ["id"], ondelete="CASCADE")
        batch.create_index(op.f("ix_custom_field_custom_activity_type_id"), ["custom_activity_type_id"], unique=False)

    bind = op.get_bind()
    now = datetime.now(UTC)
    by_type: dict[str, dict[str, tuple[str, str]]] = {}  # type ID -> {name: (field ID, type)}
    for type_id, org_id, fields, created_by in bind.execute(
            sa.select(TYPE.c.id, TYPE.c.organization_id, TYPE.c.fields, TYPE.c.created_by).order_by(TYPE.c.id)):
        fields = _loaded(fields) or []
        keys = [f["name"].lower() for f in fields]
        if len(set(keys)) != len(keys):
            raise RuntimeError(f"Custom activity type {type_id} has fields whose names differ only in case: "
                               f"{', '.join(f['name'] for f in fields)}; rename one before this upgrade")
        rows = []
        for definition in fields:
            field_id = new_id("cf")
            by_type.setdefault(type_id, {})[definition["name"]] = (field_id, definition["type"])
            rows.append({"id": field_id, "organization_id": org_id, "object_type": "custom_activity",
                         "custom_activity_type_id": type_id, "scope": type_id, "name": definition["name"],
                         "name_key": definition["name"].lower(), "label": definition.get("label"),
                         "type": definition["type"], "accepts_multiple": False,
                         "required": bool(definition.get("required")), "choices": definition.get("choices") or [],
                         "description": definition.get("description"), "indexed": False, "date_created": now,
                         "date_updated": now, "created_by": created_by, "updated_by": created_by})
        if rows:
            bind.execute(FIELD.insert(), rows)

    for activity_id, type_id, data, custom in bind.execute(sa.select(
            ACTIVITY.c.id, ACTIVITY.c.custom_activity_type_id, ACTIVITY.c.data, ACTIVITY.c.custom)
            .where(ACTIVITY.c.type == "custom")).all():
        data, custom = dict(_loaded(data) or {}), dict(_loaded(custom) or {})
        values = data.pop("fields", None) or {}
        known, legacy = by_type.get(type_id, {}), {}
        for name, value in values.items():
            if name in known:
                field_id, kind = known[name]
                custom[field_id] = _stamp(value) if kind == "datetime" and isinstance(value, str) else value
            else:
                legacy[name] = value
        if legacy:
            data["legacy_fields"] = legacy
        bind.execute(ACTIVITY.update().where(ACTIVITY.c.id == activity_id).values(data=data, custom=custom))

    # Not a batch: on SQLite that rebuilds the table, which activities reference (and loses its expression index).
    op.execute("ALTER TABLE custom_activity_type DROP COLUMN fields")


def downgrade() -> None:
    op.add_column("custom_activity_type", sa.Column("fields", sa.JSON().with_variant(
        postgresql.JSONB(astext_type=sa.Text()), "postgresql"), server_default=sa.text("'[]'"), nullable=False))
    bind = op.get_bind()
    lists: dict[str, list[dict[str, Any]]] = {}
    names: dict[str, str] = {}
    for row in bind.execute(sa.select(FIELD).where(FIELD.c.object_type == "custom_activity").order_by(FIELD.c.id)):
        names[row.id] = row.name
        lists.setdefault(row.custom_activity_type_id, []).append({
            "name": row.name, "label": row.label, "description": row.description, "type": row.type,
            "required": row.required, "choices": _loaded(row.choices) or None})
    for type_id, fields in lists.items():
        bind.execute(TYPE.update().where(TYPE.c.id == type_id).values(fields=fields))
    for activity_id, data, custom in bind.execute(sa.select(ACTIVITY.c.id, ACTIVITY.c.data, ACTIVITY.c.custom)
                                                  .where(ACTIVITY.c.type == "custom")).all():
        data, custom = dict(_loaded(data) or {}), dict(_loaded(custom) or {})
        values = {names[key]: custom.pop(key) for key in list(custom) if key in names}
        values.update(data.pop("legacy_fields", None) or {})
        data["fields"] = values
        bind.execute(ACTIVITY.update().where(ACTIVITY.c.id == activity_id).values(data=data, custom=custom))
    bind.execute(FIELD.delete().where(FIELD.c.object_type == "custom_activity"))
    with op.batch_alter_table("custom_field") as batch:
        batch.drop_index(op.f("ix_custom_field_custom_activity_type_id"))
        batch.drop_constraint(op.f("fk_custom_field_custom_activity_type_id_custom_activity_type"),
                              type_="foreignkey")
        batch.drop_column("indexed")
        batch.drop_column("label")
        batch.drop_column("custom_activity_type_id")
