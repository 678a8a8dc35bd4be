"""Reads as rows: a service's records, with the collection its reads embed, as plain dicts from one Core statement.

Building ORM objects for rows that are only shaped into a response is most of what SQLAlchemy costs on a read:
per execution it sets up row processors and a joined eager loader, per row an instance, its state and its
collection (a lead read on SQLite: 200 µs for the ORM statement against 133 µs for the same rows as Core; a page
of 100 leads spent half its CPU loading). A service that declares ``read_as_rows`` is read here instead by
``Resource.get`` and ``Resource.list``: the same columns, converted by the same column types, as dicts keyed
by attribute name, the embedded collection in its relationship's order; the compiled shaping plans read dicts
as they read objects. Writes, and anything that changes what it reads, keep ORM objects.

The workspace: these statements are Core, which the session's loader criteria do not reach, so each names its
condition itself on every table (``organization_id = :_geniziz_workspace``, the parameter the session supplies
to every statement it runs; one run without it fails). An unfiltered page chooses its IDs by a Core statement
(built once, its workspace named); a filtered page's IDs come first, from the service's own ORM statement
(filters, search, order, paging), scoped as every ORM statement is, and their rows from ``listed`` (built
once): building one statement per request with those IDs as a subquery cost more than the second trip.

Timestamps come formatted by the database, in the API's form (``api_timestamp``): a page of 100 leads holds
about 470, and parsing each into a datetime and writing it out again cost 1.3 µs of Python (a sixth of the
page on SQLite, whose DATETIME is text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import JSON, Integer, Select, String, Table, TypeDecorator, and_, bindparam, select, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapper, RelationshipProperty
from sqlalchemy.sql.annotation import _deep_deannotate
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.util import immutabledict

from geniziz.api.schemas import FormattedTimestamp
from geniziz.db import WORKSPACE_PARAM, Json, PhoneList, UTCDateTime


class _Formatted(TypeDecorator[str]):
    """Text the database wrote in the API's timestamp form, read as a ``FormattedTimestamp``."""

    impl = String
    cache_ok = True

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else FormattedTimestamp(value)


class _Document(TypeDecorator[Any]):
    """A JSON column as rows read it: on SQLite its stored text straight to the engine's deserializer, which
    SQLAlchemy's SQLite JSON type reaches through two functions of its own per value (~1,000 values a page of
    leads). On PostgreSQL asyncpg's codec deserializes already: as the column's own type does."""

    impl = Json
    cache_ok = True

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        loads = dialect._json_deserializer or json.loads

        def process(value: Any) -> Any:
            return loads(value) if type(value) is str else value  # None; a bare number SQLite gives as one

        return process


class api_timestamp(FunctionElement[str]):  # noqa: N801 (a SQL function's name)
    """A UTC timestamp column written by the database as ``format_timestamp`` writes it (2026-01-15T09:30:00.000Z:
    milliseconds truncated), read as a ``FormattedTimestamp``."""

    type = _Formatted()
    inherit_cache = True


@compiles(api_timestamp, "postgresql")
def _postgresql_timestamp(element: api_timestamp, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)  # to_char's MS truncates, as format_timestamp does
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""


@compiles(api_timestamp, "sqlite")
def _sqlite_timestamp(element: api_timestamp, compiler: Any, **kw: Any) -> str:
    # SQLAlchemy stores "2026-01-15 09:30:00.123456" (26 characters, UTC): cut. Other forms (written by SQL, with
    # no fraction: CURRENT_TIMESTAMP) through strftime, whose %f rounds a fraction to milliseconds.
    column = compiler.process(element.clauses, **kw)
    return (f"CASE WHEN length({column}) = 26 THEN substr({column}, 1, 10) || 'T' || substr({column}, 12, 12) || 'Z' "
            f"ELSE strftime('%Y-%m-%dT%H:%M:%fZ', {column}) END")


def listed_ids(table: Table) -> Any:
    """The condition on the records whose IDs are in the parameter ``ids`` (a list)."""
    return table.c.id.in_(bindparam("ids", expanding=True))


def _columns(mapper: Mapper[Any]) -> list[tuple[str, Any]]:
    """(attribute name, column) of a mapper's plain column attributes."""
    return [(attribute.key, attribute.columns[0]) for attribute in mapper.column_attrs]


def _selected(column: Any) -> Any:
    """What a row reads of ``column``: timestamps as the API writes them, JSON documents decoded directly."""
    if isinstance(column.type, UTCDateTime):
        return api_timestamp(column)
    return type_coerce(column, _Document()) if isinstance(column.type, (JSON, PhoneList)) else column


@dataclass(frozen=True)
class RowReader:
    """The statements and the row grouping for one model and the relationship its reads embed."""

    mapper: Mapper[Any]
    embedded: str | None = None  # a one-to-many relationship of the model, loaded along (a lead's contacts)
    where: Any = None  # the service's own condition on its records (statuses of one kind), if any

    @cached_property
    def _parent(self) -> list[tuple[str, Any]]:
        return _columns(self.mapper)

    @cached_property
    def _relationship(self) -> RelationshipProperty[Any] | None:
        return self.mapper.relationships[self.embedded] if self.embedded else None

    @cached_property
    def _child(self) -> list[tuple[str, Any]]:
        return _columns(self._relationship.mapper) if self._relationship is not None else []

    def _statement(self) -> Select:
        """Every column of the record and of its embedded records, each table confined to the workspace."""
        table: Table = self.mapper.local_table  # type: ignore[assignment]
        workspace = bindparam(WORKSPACE_PARAM)
        statement = select(*(_selected(c) for _, c in self._parent), *(_selected(c) for _, c in self._child))
        relationship = self._relationship
        if relationship is None:
            statement = statement.select_from(table)
        else:
            child: Table = relationship.mapper.local_table  # type: ignore[assignment]
            on = and_(*(remote == local for local, remote in relationship.local_remote_pairs),
                      child.c.organization_id == workspace)
            statement = statement.select_from(table.outerjoin(child, on))
        return statement.where(table.c.organization_id == workspace, *self.conditions())

    def conditions(self) -> tuple[Any, ...]:
        """The service's own condition on its records, as Core."""
        return () if self.where is None else _core(self.where)

    def _child_order(self) -> tuple[Any, ...]:
        relationship = self._relationship
        return _core(*relationship.order_by) if relationship is not None and relationship.order_by else ()

    @cached_property
    def by_id(self) -> Select:
        """The record whose ID is the parameter ``record_id``, with its embedded records."""
        table = self.mapper.local_table
        return self._statement().where(table.c.id == bindparam("record_id")).order_by(*self._child_order())

    def listed(self, order_by: tuple[Any, ...]) -> Select:
        """The records whose IDs are in the parameter ``ids`` (a list), in ``order_by``."""
        return self._records_of(listed_ids(self.mapper.local_table), order_by)

    def pages(self, order_by: tuple[Any, ...]) -> dict[bool, Select]:
        """A page of all the records, by whether it pages by key (``page_before``), with the parameters
        ``page_skip`` and ``page_limit``: Core throughout, its IDs' workspace named as well."""
        return {by_key: self._records_of(chosen, order_by) for by_key, chosen in self.paged(order_by).items()}

    def paged(self, order_by: tuple[Any, ...]) -> dict[bool, Any]:
        """``pages``' conditions on the records' IDs, by whether the page is by key."""
        table = self.mapper.local_table
        ids = select(table.c.id).where(table.c.organization_id == bindparam(WORKSPACE_PARAM), *self.conditions())
        paged = {False: ids, True: ids.where(table.c.id < bindparam("page_before", type_=String()))}
        return {by_key: table.c.id.in_(select(query.order_by(*_core(*order_by))
                                               .offset(bindparam("page_skip", type_=Integer()))
                                               .limit(bindparam("page_limit", type_=Integer())).subquery("page").c.id))
                for by_key, query in paged.items()}

    def _records_of(self, chosen: Any, order_by: tuple[Any, ...]) -> Select:
        """The records ``chosen`` (a condition on their IDs) in ``order_by``, then by ID: a record's rows together."""
        table = self.mapper.local_table
        return self._statement().where(chosen).order_by(*_core(*order_by), table.c.id, *self._child_order())

    def records(self, rows: Any) -> list[dict[str, Any]]:
        """Rows (a record's together) -> one dict per record, the embedded records as a list under their name."""
        parent, child, embedded = self._parent_keys, self._child_keys, self.embedded
        width = len(parent)
        parent_id = parent.index("id")
        child_id = width + child.index("id") if embedded is not None else 0
        out: list[dict[str, Any]] = []
        current: dict[str, Any] | None = None
        for row in rows:
            if current is None or current["id"] != row[parent_id]:
                current = dict(zip(parent, row))  # zip stops at the record's last column
                if embedded is not None:
                    current[embedded] = []
                out.append(current)
            if embedded is not None and row[child_id] is not None:
                current[embedded].append(dict(zip(child, row[width:])))
        return out

    @cached_property
    def _parent_keys(self) -> tuple[str, ...]:
        return tuple(key for key, _ in self._parent)

    @cached_property
    def _child_keys(self) -> tuple[str, ...]:
        return tuple(key for key, _ in self._child)


def _core(*expressions: Any) -> tuple[Any, ...]:
    """ORM expressions (``Lead.id.desc()``) as the Core ones they stand for. A statement that holds an ORM
    attribute anywhere runs through SQLAlchemy's ORM result layer (column entities: a quarter of a lead read's
    statement) even when it selects plain columns."""
    core = []
    for expression in expressions:
        expression = _deep_deannotate(expression)
        if expression._propagate_attrs:  # made from an ORM attribute (a desc() of one): it would mark the statement
            expression = expression._clone()
            expression._propagate_attrs = immutabledict()
        core.append(expression)
    return tuple(core)
