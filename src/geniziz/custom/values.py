"""Custom field values: checking what a client writes, showing what a record holds, filtering lists.

A record keeps its values in its ``custom`` column as {field ID: value}, in one canonical form per type
(so that equality and ranges compare stored values directly):

    text, url, choices      a string (choices: one of the field's choices)
    number                  a JSON number
    boolean                 true / false
    date                    "2026-01-15"
    datetime                "2026-01-15T09:30:00.000Z" (UTC, fixed width: text order is time order)
    user, contact           an ID of this workspace
    accepts_multiple        a non-empty list of the above (choices, user and contact fields)

An unset value is an absent key (never null), so "is set" is "has the key".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import (ColumnElement, Numeric, String, case, cast, column, exists, func, literal, literal_column,
                        not_, select, type_coerce)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB

from geniziz.api.context import Ctx
from geniziz.api.errors import APIError
from geniziz.api.resource import Ref
from geniziz.api.schemas import InputTimestamp, check_web_url, format_timestamp
from geniziz.contacts.models import Contact
from geniziz.custom.models import CustomField
from geniziz.db import looks_like_id
from geniziz.identity.refs import MemberRef

FIELD_TYPES = ("text", "number", "date", "datetime", "choices", "boolean", "url", "user", "contact")
MULTIPLE_TYPES = frozenset({"choices", "user", "contact"})
RANGE_TYPES = frozenset({"number", "date", "datetime"})
RANGES = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
MAX_TEXT = 20_000
MAX_ITEMS = 100
PREFIX = "custom."

_TIMESTAMP = TypeAdapter(InputTimestamp)
_CANONICAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z)?")
_REFS = {"user": MemberRef(), "contact": Ref(Contact, "contact")}


async def fields_of(ctx: Ctx, object_type: str, custom_object_type_id: str | None = None) -> list[CustomField]:
    """The workspace's fields of one object type (of one custom object type), oldest first."""
    where = (CustomField.scope == custom_object_type_id if custom_object_type_id
             else CustomField.object_type == object_type)  # custom_object alone: every type's fields
    return list(await ctx.session.scalars(select(CustomField).where(where).order_by(CustomField.id)))


def find(fields: Iterable[CustomField], key: str) -> CustomField | None:
    """A field by ID, or by name (case-insensitive)."""
    lowered = key.lower()
    for field in fields:
        if field.id == key or field.name_key == lowered:
            return field
    return None


# --- checking values ---------------------------------------------------------------------------------
def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def scalar(field: CustomField, value: Any) -> Any:
    """One value in its canonical form, or ValueError saying what the field takes (refs are checked apart)."""
    kind = field.type
    if kind == "text":
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise ValueError(f"must be text (at most {MAX_TEXT} characters)")
        return value
    if kind == "url":
        if not isinstance(value, str) or len(value) > 2000:
            raise ValueError("must be an http(s) URL")
        return check_web_url(value)
    if kind == "number":
        # `not abs <= 1e15` also refuses NaN and infinities, and compares a huge int without overflowing
        if isinstance(value, bool) or not isinstance(value, int | float) or not abs(value) <= 1e15:
            raise ValueError("must be a number between -1e15 and 1e15")
        return value + 0 if value == 0 else value  # -0.0 is stored as 0.0: PostgreSQL's jsonb keeps no sign of zero
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if kind == "date":
        try:
            return date.fromisoformat(value).isoformat()
        except (TypeError, ValueError):
            raise ValueError("must be a date (YYYY-MM-DD)") from None
    if kind == "datetime":
        if not isinstance(value, str):  # not a number of seconds: that is too easily a mistake
            raise ValueError("must be an ISO 8601 date and time")
        try:
            return format_timestamp(_TIMESTAMP.validate_python(value, strict=False))
        except ValidationError:
            raise ValueError("must be an ISO 8601 date and time") from None
    if kind == "choices":
        if value not in (field.choices or []):
            raise ValueError(f"must be one of: {', '.join(field.choices or [])}")
        return value
    if not isinstance(value, str) or not looks_like_id(value):  # user, contact
        raise ValueError(f"must be the ID of a {kind} of this workspace")
    return value


async def canonical(ctx: Ctx, field: CustomField, value: Any) -> Any:
    """A value as stored, or ValueError: scalars (or a list of them if the field takes several), references
    checked against the caller's workspace."""
    if field.accepts_multiple:
        items = value if isinstance(value, list) else [value]
        if len(items) > MAX_ITEMS:
            raise ValueError(f"at most {MAX_ITEMS} values")
        out = list(dict.fromkeys(scalar(field, item) for item in items))
    else:
        if isinstance(value, list):
            raise ValueError("takes one value, not a list")
        out = [scalar(field, value)]
    if field.type in _REFS:
        ref = _REFS[field.type]
        for item in out:
            if not await ref.exists(ctx, item):
                raise ValueError(f"No {ref.label} with ID {item} in this workspace")
    return out if field.accepts_multiple else out[0]


async def merge(ctx: Ctx, fields: list[CustomField], stored: dict[str, Any] | None, sent: dict[str, Any],
                *, creating: bool, what: str, prefix: str = PREFIX, exact_names: bool = False) -> dict[str, Any]:
    """The record's values after a write of ``sent`` ({field ID or name: value}; empty or null unsets).

    A 400 names every bad key as ``custom.<key>``: unknown fields, bad values, required fields left empty.
    Custom activities write by exact name (``exact_names``) under ``fields`` (``prefix="fields."``), and
    their errors name ``fields.<name>``.
    """
    by_id = {field.id: field for field in fields}
    by_name = {field.name: field for field in fields}
    values = {key: value for key, value in (stored or {}).items() if key in by_id}
    errors: dict[str, str] = {}
    for key, value in sent.items():
        field = by_id.get(key) or (by_name.get(key) if exact_names else find(fields, key))
        if field is None:
            errors[prefix + key] = f"no such custom field on {what}"
        elif is_empty(value):
            values.pop(field.id, None)
        else:
            try:
                values[field.id] = await canonical(ctx, field, value)
            except ValueError as exc:
                errors[prefix + key] = str(exc)
    for field in fields:  # a required field must hold a value once the record exists
        if field.required and field.id not in values and (creating or field.id in (stored or {})):
            key = field.name if exact_names else field.id
            errors.setdefault(prefix + key, f"required (custom field {field.name!r})")
    if errors:
        raise APIError(400, "Invalid custom fields: " + ", ".join(sorted(errors)), errors)
    return values


# --- showing values ------------------------------------------------------------------------------------
def show(row: dict[str, Any], stored: dict[str, Any] | None, fields: list[CustomField] | None,
         selected: set[str] | None) -> dict[str, Any]:
    """A serialized record with its values as ``custom.<field ID>`` keys (Close's convention) and, under
    ``custom``, by field name. ``fields`` None (no definitions at hand): every stored key, by ID only."""
    stored = stored or {}
    if fields is None:
        items = [(key, key, value) for key, value in stored.items()]
    else:
        items = [(field.id, field.name, stored[field.id]) for field in fields if field.id in stored]
    for field_id, _name, value in items:
        if selected is None or PREFIX + field_id in selected:
            row[PREFIX + field_id] = value
    if selected is None or "custom" in selected:
        row["custom"] = {name: value for _id, name, value in items}
    else:
        row.pop("custom", None)
    return row


# --- filtering ----------------------------------------------------------------------------------------
def _query_value(field: CustomField, raw: Any) -> Any:
    """A query-string value in the stored form (numbers and booleans arrive as text)."""
    if field.type == "number" and isinstance(raw, str):
        try:
            raw = float(raw) if any(c in raw for c in ".eE") else int(raw)
        except ValueError:
            raise ValueError("must be a number") from None
    elif field.type == "boolean" and isinstance(raw, str):
        if raw.lower() not in ("true", "false"):
            raise ValueError("must be true or false")
        raw = raw.lower() == "true"
    return scalar(field, raw)


def conditions(dialect: str, column: Any, fields: list[CustomField], params: dict[str, Any],
               what: str) -> list[ColumnElement[bool]]:
    """SQL conditions for ``custom.<field ID or name>[__op]=value`` list parameters.

    Ops: none (equality; on a field taking several values, "holds this one"), gt/gte/lt/lte (numbers,
    dates, datetimes) and is_set (true/false). A bad key or value is a 400 naming the parameter.
    """
    out: list[ColumnElement[bool]] = []
    errors: dict[str, str] = {}
    for name, raw in params.items():
        key, _, op = name.removeprefix(PREFIX).partition("__")
        field = find(fields, key)
        if field is None:
            errors[name] = f"no such custom field on {what}"
            continue
        if isinstance(raw, list):  # a repeated parameter: the last one counts, as for other filters
            raw = raw[-1]
        try:
            if op == "is_set":
                if not isinstance(raw, bool):
                    raw = str(raw).lower()
                    if raw not in ("true", "false"):
                        raise ValueError("must be true or false")
                    raw = raw == "true"
                has = is_set(dialect, column, field.id)
                out.append(has if raw else not_(has))
            elif op in RANGES:
                if field.type not in RANGE_TYPES:
                    raise ValueError("ranges apply to number, date and datetime fields")
                out.append(_compare(dialect, column, field, RANGES[op], _query_value(field, raw)))
            elif op == "":
                out.append(_equals(dialect, column, field, _query_value(field, raw)))
            else:
                raise ValueError("unknown operator; use __gt, __gte, __lt, __lte or __is_set")
        except ValueError as exc:
            errors[name] = str(exc)
    if errors:
        raise APIError(400, "Invalid filters: " + ", ".join(sorted(errors)), errors)
    return out


def json_path(field_id: str) -> str:
    return f'$."{field_id}"'  # IDs are [a-z_0-9A-Za-z]: nothing to escape


def is_set(dialect: str, column: Any, field_id: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return type_coerce(column, JSONB).has_key(field_id)  # the GIN index answers it
    return func.json_type(column, json_path(field_id)).is_not(None)


def _equals(dialect: str, column: Any, field: CustomField, value: Any) -> ColumnElement[bool]:
    if dialect == "postgresql":  # containment, which the GIN index answers
        return type_coerce(column, JSONB).contains({field.id: [value] if field.accepts_multiple else value})
    if field.accepts_multiple:
        items = func.json_each(column, json_path(field.id)).table_valued("value")
        return exists(select(literal(1)).select_from(items).where(items.c.value == value))
    if isinstance(value, bool):  # json_extract answers 1 or 0 for JSON booleans
        value = int(value)
    return func.json_extract(column, json_path(field.id)) == value


def _compare(dialect: str, column: Any, field: CustomField, op: str, value: Any) -> ColumnElement[bool]:
    return range_value(dialect, column, field).op(op)(_written(dialect, field, value))


def _written(dialect: str, field: CustomField, value: Any) -> ColumnElement[Any]:
    """A range's bound, written into the SQL rather than bound. A bound value lets PostgreSQL switch a
    prepared statement (the driver prepares and reuses them) to a generic plan after five runs; not knowing
    the value, that plan guesses that a third of the records match and walks them in page order instead of
    using the field's index (100 ms instead of a few at 1,000,000 leads). The value is checked already (a
    number, or a date or datetime in its canonical form), and checked again here, so writing it is safe."""
    if field.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        number = literal_column(repr(value) if isinstance(value, float) else str(int(value)))
        return cast(number, Numeric()) if dialect == "postgresql" else number
    if not isinstance(value, str) or not _CANONICAL_TIME.fullmatch(value):
        raise ValueError("must be a date or a date and time")
    return literal_column(f"'{value}'")


def range_value(dialect: str, column: Any, field: CustomField) -> ColumnElement[Any]:
    """The value range filters compare: the field's value when it has the field's type (numbers as
    numbers, dates and datetimes as their fixed-width text), else NULL, so a value of another type is
    never a match and never a cast error. It is also what an indexed field's index holds (``index_sql``):
    the planner uses an expression index only for the same expression, so the field ID and the type
    names are written into the SQL, never bound (IDs are generated: ``looks_like_id``)."""
    if not looks_like_id(field.id):
        raise ValueError(f"not a field ID: {field.id!r}")
    key = literal_column(f"'{field.id}'")
    if dialect == "postgresql":
        doc = type_coerce(column, JSONB)
        kind, wanted = func.jsonb_typeof(doc.op("->")(key)), "number" if field.type == "number" else "string"
        text_value = doc.op("->>", return_type=String())(key)
        value = cast(text_value, Numeric()) if field.type == "number" else text_value
        return case((kind == literal_column(f"'{wanted}'"), value))
    path = literal_column(f"'{json_path(field.id)}'")
    kinds = "('integer', 'real')" if field.type == "number" else "('text')"
    return case((func.json_type(column, path).op("IN")(literal_column(kinds)), func.json_extract(column, path)))


def index_name(field: CustomField) -> str:
    """Named by field and type: a change of type replaces the index (another expression)."""
    return f"ix_custom_{field.id}_{field.type}"


def index_sql(dialect: str, table: str, field: CustomField) -> str:
    """CREATE INDEX for an indexed field: (organization_id, range_value) over the records that hold a
    value of the field's type; concurrently on PostgreSQL (the caller runs it outside a transaction)."""
    expression = range_value(dialect, column("custom"), field)
    compiled = expression.compile(dialect=postgresql.dialect() if dialect == "postgresql" else sqlite.dialect(),
                                  compile_kwargs={"literal_binds": True})
    if dialect == "postgresql":  # partial: only the records holding a value (a range test implies it)
        return (f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{index_name(field)}" ON "{table}" '
                f"(organization_id, ({compiled})) WHERE ({compiled}) IS NOT NULL")
    return f'CREATE INDEX IF NOT EXISTS "{index_name(field)}" ON "{table}" (organization_id, ({compiled}))'


def statistics_sql(table: str, field: CustomField) -> str:
    """PostgreSQL: statistics on the same expression. The planner ignores a partial index's statistics, so
    without these it guesses that a third of the table matches any range and walks the records in page
    order instead of using the index (93 ms rather than a few ms for a range 0.1% of 1,000,000 leads match)."""
    compiled = range_value("postgresql", column("custom"), field).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    return f'CREATE STATISTICS IF NOT EXISTS "{index_name(field)}" ON ({compiled}) FROM "{table}"'


def dialect_of(ctx: Ctx) -> str:
    return ctx.session.bind.dialect.name

