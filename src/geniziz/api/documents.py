"""Lead pages and reads whose JSON the database writes: one text per record, spliced into the response as it comes.

A page of 100 leads with their contacts read as rows (api/rows.py) still spent most of its CPU in Python per
value: decoding ~800 JSON column values, shaping ~1,000 nested records, writing the response (3 of 4 ms of a
page, against 0.5-1 ms for the typical stack's whole single read). Here the read schema is compiled once into a
SQL expression that writes each record's JSON as the compiled plans (api/shaping.py) would shape it: the same
keys in the same order, timestamps formatted by the database (``api_timestamp``), the embedded records as a
nested array in their relationship's order; the REST response embeds each text as an ``orjson.Fragment``.

What it takes as it is stored: the lists of entries (emails, phones, URLs, addresses: db.Entries columns, ``json``
on PostgreSQL, which keeps the text as written). Their writers store them in the form the API shows (the write
models dump their fields in the read models' order; phones carry their formatted number, db.PhoneList), written
compact by db.py's serializer, and the page copies the stored text (SQLite rows written before that serializer
have a space after each comma and colon, and an escaped character may stay escaped: the same JSON). A schema
with anything else (a computed field, a derived one outside stored phones, a float, a bool, a dict
not shown as ``{}``, a validator) is not compiled: its records are shaped from rows. The tests
(GENIZIZ_CHECK_SHAPES=1) compare every page and read written here with the ORM's objects shaped by pydantic.
"""

from __future__ import annotations

import operator
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from typing import Annotated, Any

from pydantic import BaseModel, PlainSerializer
from sqlalchemy import BigInteger, Integer, Select, String, Text, and_, bindparam, cast, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapper
from sqlalchemy.sql.functions import FunctionElement

from geniziz.api.rows import RowReader, _core, api_timestamp, listed_ids
from geniziz.api.schemas import DerivedFrom, format_phone, format_timestamp
from geniziz.api.shaping import compiled
from geniziz.db import FORMATTED_PHONE, WORKSPACE_PARAM, Entries, PhoneList, UTCDateTime

_NONE = type(None)


# --- SQL: the JSON text of values ------------------------------------------------------------------
class json_value(FunctionElement[str]):  # noqa: N801 (a SQL function's name)
    """A scalar's JSON text (a string quoted and escaped, a number, ``null``)."""

    type = Text()
    inherit_cache = True


@compiles(json_value, "sqlite")
def _sqlite_value(element: json_value, compiler: Any, **kw: Any) -> str:
    return f"json_quote({compiler.process(element.clauses, **kw)})"


@compiles(json_value, "postgresql")
def _postgresql_value(element: json_value, compiler: Any, **kw: Any) -> str:
    return f"coalesce(to_json({compiler.process(element.clauses, **kw)})::text, 'null')"


class json_array(FunctionElement[str]):  # noqa: N801
    """The texts a one-column SELECT gives, in its order, as a JSON array."""

    type = Text()
    inherit_cache = True


@compiles(json_array, "sqlite")
def _sqlite_array(element: json_array, compiler: Any, **kw: Any) -> str:
    # An aggregate over a subquery with an ORDER BY takes its rows in that order (SQLite does not flatten it).
    inner = compiler.process(element.clauses.clauses[0], asfrom=True, **kw)
    return f"('[' || coalesce((SELECT group_concat(document, ',') FROM {inner}), '') || ']')"


@compiles(json_array, "postgresql")
def _postgresql_array(element: json_array, compiler: Any, **kw: Any) -> str:
    inner = compiler.process(element.clauses.clauses[0], **kw)
    return f"('[' || array_to_string(ARRAY({inner}), ',') || ']')"


def _text(fragment: str) -> Any:
    """A constant piece of JSON (keys and punctuation: never a quote of SQL's)."""
    assert "'" not in fragment
    return literal_column(f"'{fragment}'", Text())


# --- compiling a read schema -------------------------------------------------------------------------
def document(schema: type[BaseModel], mapper: Mapper[Any], embedded: str | None, empty: frozenset[str]) -> Any | None:
    """The SQL expression of a record's JSON as ``schema`` shows it, or None where this module cannot write it.
    ``embedded`` names the relationship written as a nested array; ``empty``, the dict fields shown as ``{}``."""
    if compiled(schema) is None or schema.model_computed_fields:
        return None  # validators, serializers, aliases: what the plans leave to pydantic is not written here either
    parts: list[Any] = []
    for name, info in schema.model_fields.items():
        value = _field(name, info.annotation, info.metadata, mapper, embedded, empty)
        if value is None:
            return None
        parts += [_text(("{" if not parts else ",") + f'"{name}":'), value]
    if not parts:
        return None
    parts.append(_text("}"))
    return reduce(operator.add, parts)


def _field(name: str, annotation: Any, metadata: list[Any], mapper: Mapper[Any], embedded: str | None,
           empty: frozenset[str]) -> Any | None:
    if any(isinstance(m, DerivedFrom) for m in metadata):
        return None
    if name == embedded:
        return _embedded(mapper, name, annotation, empty)
    attribute = mapper.column_attrs.get(name)
    if attribute is None or len(attribute.columns) != 1:
        return None
    column = attribute.columns[0]
    optional, annotation = _optional(annotation)
    if column.nullable and not optional:
        return None  # pydantic would refuse a NULL: let the plans say so
    if name in empty and typing.get_origin(annotation) is dict:
        return _text("{}")
    if _is_timestamp(annotation, metadata) and isinstance(column.type, UTCDateTime):
        return json_value(api_timestamp(column))
    if metadata:
        return None  # a constraint or serializer of the field's own
    if annotation is str and isinstance(column.type, (String, Text)) or \
            annotation is int and isinstance(column.type, (Integer, BigInteger)):
        return json_value(column)
    if typing.get_origin(annotation) is list and _stored_as_shown(column.type) and \
            _entry_keys(typing.get_args(annotation)[0], stored_formatted=isinstance(column.type, PhoneList)):
        return cast(column, Text())  # the stored text (PostgreSQL's json codec would decode the column itself)
    return None


def _stored_as_shown(kind: Any) -> bool:
    """Whether a column's stored text is its entries as the API shows them (db.Entries)."""
    return isinstance(kind, (Entries, PhoneList))  # PhoneList's implementation is Entries


def _embedded(mapper: Mapper[Any], name: str, annotation: Any, empty: frozenset[str]) -> Any | None:
    """A one-to-many relationship's records, each as its own document, in the relationship's order."""
    if typing.get_origin(annotation) is not list:
        return None
    child_schema = typing.get_args(annotation)[0]
    relationship = mapper.relationships[name]
    if not (isinstance(child_schema, type) and issubclass(child_schema, BaseModel)) \
            or relationship.secondary is not None:
        return None
    child = relationship.mapper
    inner = document(child_schema, child, None, empty)
    if inner is None:
        return None
    child_table = child.local_table
    on = and_(*(remote == local for local, remote in relationship.local_remote_pairs),
              child_table.c.organization_id == bindparam(WORKSPACE_PARAM))
    ordered = _core(*relationship.order_by) if relationship.order_by else (child_table.c.id,)
    return json_array(select(inner.label("document")).where(on).order_by(*ordered).correlate(mapper.local_table)
                      .scalar_subquery())


def _entry_keys(model: Any, *, stored_formatted: bool) -> tuple[str, ...] | None:
    """The keys of an entry model whose every field is a string (or null) stored in the entry as shown."""
    if not (isinstance(model, type) and issubclass(model, BaseModel)) or compiled(model) is None \
            or model.model_computed_fields:
        return None
    keys = []
    for name, info in model.model_fields.items():
        derived = [m for m in info.metadata if isinstance(m, DerivedFrom)]
        if derived and not (stored_formatted and name == FORMATTED_PHONE and derived[0].source == "phone"
                            and derived[0].function is format_phone):
            return None  # computed from another key when shown, not stored
        if _optional(info.annotation)[1] is not str:
            return None
        keys.append(name)
    return tuple(keys)


def _optional(annotation: Any) -> tuple[bool, Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        others = [a for a in typing.get_args(annotation) if a is not _NONE]
        if len(others) == 1:
            return True, others[0]
    return False, annotation


def _is_timestamp(annotation: Any, metadata: list[Any]) -> bool:
    if typing.get_origin(annotation) is Annotated:
        annotation, *more = typing.get_args(annotation)
        metadata = [*more, *metadata]
    return annotation is datetime and len(metadata) == 1 and isinstance(metadata[0], PlainSerializer) \
        and metadata[0].func is format_timestamp


@dataclass(frozen=True)
class Documents:
    """A reader's records written as one read schema's JSON, one row each."""

    pages: dict[bool, Select]  # all the records, paged as ``RowReader.pages``' (by whether the page is by key)
    listed: Select  # the records whose IDs are in the parameter ``ids``, as ``RowReader.listed``
    by_id: Select  # the record whose ID is the parameter ``record_id``, as ``RowReader.by_id``


def statements(reader: RowReader, schema: type[BaseModel], empty: frozenset[str],
               order_by: tuple[Any, ...]) -> Documents | None:
    """``reader``'s records written as ``schema``'s JSON; None if the schema cannot be written."""
    expression = document(schema, reader.mapper, reader.embedded, empty)
    if expression is None:
        return None
    table = reader.mapper.local_table

    def of(chosen: Any) -> Select:
        return (select(expression).select_from(table)
                .where(table.c.organization_id == bindparam(WORKSPACE_PARAM), *reader.conditions(), chosen)
                .order_by(*_core(*order_by), table.c.id))

    return Documents({by_key: of(chosen) for by_key, chosen in reader.paged(order_by).items()},
                     of(listed_ids(table)), of(table.c.id == bindparam("record_id")))
