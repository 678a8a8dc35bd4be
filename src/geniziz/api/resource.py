"""One declaration per business resource, from which the REST routes, the OpenAPI entries and the
MCP generic tools are all derived.

A ``Resource`` ties together a service (the business rules, in the domain's ``service.py``), the
schemas (read, create, update, list filters) and the operations it allows. Its ``list``/``get``/
``create``/``update``/``delete`` methods are the single implementation every transport calls:
they validate, run the service and shape the response. The transport's unit of work commits;
the session confines every query to the caller's workspace (see geniziz.db).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Generic, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from sqlalchemy import Integer, Select, String, bindparam, inspect, select
from sqlalchemy.orm.attributes import set_committed_value

from geniziz.api import documents
from geniziz.api.context import Ctx
from geniziz.api.errors import APIError, field_error, not_found, validation_field_errors
from geniziz.api.schemas import ReadModel, WriteModel, partial_model
from geniziz.api.rows import RowReader
from geniziz.api.shaping import CHECK, ShapeMismatch, same_json, shape_all
from geniziz.db import Base, looks_like_id, new_id, utcnow

M = TypeVar("M", bound=Base)

OPERATIONS = frozenset({"list", "get", "create", "update", "delete"})
MAX_LIMIT = 200


# --- references ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ref:
    """A field holding the ID of another record, which must exist in the caller's workspace (the
    session adds the workspace condition)."""

    model: type[Base]
    label: str
    where: Any = None  # an extra SQL condition, e.g. that a status is a lead status

    async def exists(self, ctx: Ctx, value: str) -> bool:
        if not looks_like_id(value):
            return False
        query = select(self.model.id).where(self.model.id == value)
        if self.where is not None:
            query = query.where(self.where)
        return (await ctx.session.execute(query.limit(1))).first() is not None


# --- services --------------------------------------------------------------------------------------
class CrudService(Generic[M]):
    """Persistence for one model. Domains subclass it and override the hooks. Queries need no workspace
    condition: the session adds it; new records get the caller's workspace in ``new``."""

    model: ClassVar[type[Base]]
    prefix: ClassVar[str]
    label: ClassVar[str]  # "lead": used in messages
    refs: ClassVar[dict[str, Ref]] = {}
    # Set by a service whose ``get`` only loads the row, to answer a create with the flushed record rather
    # than re-read it (one query less): the collections a new record has empty. None: re-read.
    empty_when_created: ClassVar[frozenset[str] | None] = None
    # Reads that are only shaped (``read``, ``read_page``) come as dicts from Core statements (api/rows.py)
    # rather than ORM objects: False, or True with ``embedded`` naming the relationship loaded along.
    read_as_rows: ClassVar[bool] = False
    embedded: ClassVar[str | None] = None

    # -- reading
    def base_query(self) -> Select:
        """The records this service serves, whoever asks, with what ``load_options`` loads along: built once
        (``_query``). A joined collection (a lead's contacts) repeats a record per row, so read results with
        ``.unique()``."""
        return select(self.model).options(*self.load_options())

    def query(self, ctx: Ctx) -> Select:
        """``base_query`` narrowed for the caller (override for conditions that depend on ``ctx``)."""
        return self._query

    @cached_property
    def _query(self) -> Select:
        """Built once per service: statements are immutable, and one that stays the same object is scoped once
        (geniziz.db) and keeps the cache key SQLAlchemy memoizes on it."""
        return self.base_query()

    def load_options(self) -> tuple[Any, ...]:
        return ()

    def order_by(self) -> tuple[Any, ...]:
        return (self.model.id.desc(),)  # IDs are time-ordered: newest first, and stable

    def filter(self, ctx: Ctx, query: Select, filters: dict[str, Any]) -> Select:
        """Default: each filter is equality on the column of the same name."""
        for name, value in filters.items():
            if value is not None:
                query = query.where(getattr(self.model, name) == value)
        return query

    async def list(self, ctx: Ctx, filters: dict[str, Any], limit: int, skip: int,
                   before: str | None = None) -> tuple[list[M], bool]:
        query = self.filter(ctx, self.query(ctx), filters)
        if query is self._query:  # nothing narrowed it (no filter, nothing of the caller's): a page built once
            query = self._page_statements[before is not None]
        else:
            query = self._page(query, by_key=before is not None)
        page = {"page_before": before, "page_skip": skip, "page_limit": limit + 1}
        rows = list((await ctx.session.scalars(query, page)).unique())
        return rows[:limit], len(rows) > limit

    def _page(self, query: Select, *, by_key: bool) -> Select:
        """``query``'s page: the parameters ``page_skip`` and ``page_limit``, and with ``by_key`` the IDs before
        ``page_before`` (keyset paging: the index seeks straight to the page, however deep)."""
        if by_key:
            query = query.where(self.model.id < bindparam("page_before", type_=String()))
        return (query.order_by(*self.order_by()).offset(bindparam("page_skip", type_=Integer()))
                .limit(bindparam("page_limit", type_=Integer())))

    @cached_property
    def _page_statements(self) -> dict[bool, Select]:
        """``_page`` of the default query, by ``by_key``: building a page's statement and scoping it cost a
        tenth to a third of a short list's request (find_tables walks a fresh statement)."""
        return {by_key: self._page(self._query, by_key=by_key) for by_key in (False, True)}

    # -- reading for shaping only: dicts where the service reads as rows, else what list and get return
    async def read(self, ctx: Ctx, record_id: str) -> M | dict[str, Any]:
        reader = self._rows
        if reader is None:
            return await self.get(ctx, record_id)
        if not looks_like_id(record_id):
            raise not_found(self.label.capitalize())
        records = reader.records(await ctx.session.execute(reader.by_id, {"record_id": record_id}))
        if not records:
            raise not_found(self.label.capitalize())
        return records[0]

    async def read_page(self, ctx: Ctx, filters: dict[str, Any], limit: int, skip: int,
                        before: str | None = None) -> tuple[list[M] | list[dict[str, Any]], bool]:
        reader = self._rows
        found = None if reader is None else await self._page_rows(ctx, filters, limit, skip, before,
                                                                  self._row_pages, self._row_lists)
        if found is None:
            keyset = {"before": before} if before is not None else {}  # a service's own list may not page by key
            return await self.list(ctx, filters, limit, skip, **keyset)
        rows, has_more = found
        records = reader.records(rows)  # type: ignore[union-attr]
        return records[:limit], len(records) > limit if has_more is None else has_more

    async def read_documents(self, ctx: Ctx, filters: dict[str, Any], limit: int, skip: int, before: str | None,
                             schema: type[BaseModel],
                             empty: frozenset[str]) -> tuple[list[orjson.Fragment], bool] | None:
        """A page as the database writes each record's JSON for ``schema`` (api/documents.py), its dict fields
        in ``empty`` shown as ``{}``; None where it cannot (read_page's rows, or ORM objects, then)."""
        written = self._documents(schema, empty)
        found = None if written is None else await self._page_rows(ctx, filters, limit, skip, before,
                                                                   written.pages, written.listed)
        if found is None:
            return None
        rows, has_more = found
        texts = [orjson.Fragment(text) for text, in rows]
        return texts[:limit], len(texts) > limit if has_more is None else has_more

    async def read_document(self, ctx: Ctx, record_id: str, schema: type[BaseModel],
                            empty: frozenset[str]) -> orjson.Fragment | None:
        """A record as the database writes its JSON for ``schema`` (as ``read_documents``); None where it cannot."""
        written = self._documents(schema, empty)
        if written is None:
            return None
        if not looks_like_id(record_id):
            raise not_found(self.label.capitalize())
        text = await ctx.session.scalar(written.by_id, {"record_id": record_id})
        if text is None:
            raise not_found(self.label.capitalize())
        return orjson.Fragment(text)

    async def _page_rows(self, ctx: Ctx, filters: dict[str, Any], limit: int, skip: int, before: str | None,
                         pages: dict[bool, Select], listed: Select) -> tuple[Any, bool | None] | None:
        """The rows of a page's records by a reader's statements: ``pages`` (unfiltered, by whether it pages by
        key), ``listed`` (the records whose IDs are in the parameter ``ids``). ``has_more`` None: the rows hold
        the record after the page when there is one. None: the filters need ORM objects."""
        ids = await self.ids_for_rows(ctx, self.filter(ctx, self._ids_query, dict(filters)))  # a filter may pop
        if ids is None:  # a listener must rewrite it as it runs: as ORM objects
            return None
        page = {"page_before": before, "page_skip": skip, "page_limit": limit + 1}
        if ids is self._ids_query:  # no filter: the statement built once (scoping a fresh one costs 0.3-0.4 ms)
            return await ctx.session.execute(pages[before is not None], page), None
        # Filtered: the page's IDs by the service's statement (scoped by the criteria), then their rows by a
        # statement built once. One statement with the IDs as a subquery cost more to build and scope per
        # request (40 columns) than the second trip: a search page on PostgreSQL 1.16 ms, 0.85 ms in two.
        chosen = list(await ctx.session.scalars(self._page(ids, by_key=before is not None), page))
        rows = await ctx.session.execute(listed, {"ids": chosen[:limit]}) if chosen else ()
        return rows, len(chosen) > limit

    async def ids_for_rows(self, ctx: Ctx, ids: Select) -> Select | None:
        """A page's filtered IDs statement as ``read_page`` runs it, under its rows statement; None when a
        listener must rewrite it as it runs (execution options: a subquery's are not run). A service whose
        filter asks for a rewrite does it here (leads: the SQLite FTS probe), and clears the option (None)."""
        return None if any(value is not None for value in ids.get_execution_options().values()) else ids

    @cached_property
    def _row_pages(self) -> dict[bool, Select]:
        """read_page's statements without a filter, by ``by_key``."""
        reader = self._rows
        assert reader is not None
        return reader.pages(self.order_by())

    @cached_property
    def _row_lists(self) -> Select:
        """read_page's rows of the IDs in the parameter ``ids``, in the service's order."""
        reader = self._rows
        assert reader is not None
        return reader.listed(self.order_by())

    def _documents(self, schema: type[BaseModel], empty: frozenset[str]) -> documents.Documents | None:
        """The statements of ``read_documents`` and ``read_document``, built once per schema."""
        key = (schema, empty)
        if key not in self._document_statements:
            reader = self._rows
            self._document_statements[key] = None if reader is None else documents.statements(
                reader, schema, empty, self.order_by())
        return self._document_statements[key]

    @cached_property
    def _document_statements(self) -> dict[tuple[type[BaseModel], frozenset[str]], documents.Documents | None]:
        return {}

    @cached_property
    def _rows(self) -> RowReader | None:
        """The row reader, for a service that reads as rows with its default query (no condition of the caller's)."""
        if not self.read_as_rows or type(self).query is not CrudService.query:
            return None
        return RowReader(inspect(self.model), self.embedded, self.base_query().whereclause)

    @cached_property
    def _ids_query(self) -> Select:
        """The IDs of ``base_query``'s records: what a page's filters and paging narrow (read_page)."""
        where = self.base_query().whereclause
        ids = select(self.model.id)
        return ids if where is None else ids.where(where)

    async def get(self, ctx: Ctx, record_id: str, *, for_update: bool = False, refresh: bool = False) -> M:
        if not looks_like_id(record_id):
            raise not_found(self.label.capitalize())
        if type(self).query is CrudService.query:  # the default query: its statements by ID are built once
            query = self._by_id_statements[for_update, refresh]
        else:
            query = self._by_id(self.query(ctx), for_update=for_update, refresh=refresh)
        obj = (await ctx.session.scalars(query, {"record_id": record_id})).unique().first()
        if obj is None:
            raise not_found(self.label.capitalize())
        return obj

    def _by_id(self, query: Select, *, for_update: bool, refresh: bool) -> Select:
        """``query`` for the record whose ID is the parameter ``record_id``."""
        query = query.where(self.model.__table__.c.id == bindparam("record_id"))  # the ORM's operator costs 2x
        # Reload what a write changed, relationships included; and under a lock, what this session
        # read before it (a read-modify-write must start from the row as locked).
        if refresh or for_update:
            query = query.execution_options(populate_existing=True)
        if for_update:
            query = query.with_for_update(of=self.model)
        return query

    @cached_property
    def _by_id_statements(self) -> dict[tuple[bool, bool], Select]:
        """``_by_id`` of the default query, per (for_update, refresh): building one cost ~12 µs a request, and a
        statement object that stays the same is scoped once (geniziz.db) and keeps its cache key."""
        return {(f, r): self._by_id(self._query, for_update=f, refresh=r) for f in (False, True) for r in (False, True)}

    # -- writing
    async def check_refs(self, ctx: Ctx, data: dict[str, Any]) -> None:
        errors = {}
        for name, ref in self.refs.items():
            value = data.get(name)
            if value is not None and not await ref.exists(ctx, value):
                errors[name] = f"No {ref.label} with ID {value} in this workspace"
        if errors:
            raise APIError(400, "Invalid reference: " + ", ".join(sorted(errors)), errors)

    async def apply(self, ctx: Ctx, obj: M, data: dict[str, Any], *, creating: bool) -> None:
        """Copy validated input onto the record. Override to derive fields or enforce rules."""
        for name, value in data.items():
            setattr(obj, name, value)

    def new(self, ctx: Ctx) -> M:
        now = utcnow()  # one instant for both: the columns' own defaults are two calls, microseconds apart,
        # which showed a new record updated a millisecond after its creation when they straddled one
        return self.model(id=new_id(self.prefix), organization_id=ctx.org_id,  # type: ignore[call-arg]
                          created_by=ctx.user_id, updated_by=ctx.user_id, date_created=now, date_updated=now)

    async def create(self, ctx: Ctx, data: dict[str, Any]) -> M:
        await self.check_refs(ctx, data)
        obj = self.new(ctx)
        await self.apply(ctx, obj, data, creating=True)
        ctx.session.add(obj)
        await ctx.session.flush()
        await self.after_create(ctx, obj)
        return obj

    async def after_create(self, ctx: Ctx, obj: M) -> None:
        pass

    async def created(self, ctx: Ctx, obj: M) -> M:
        """The record ``create`` made, as ``get`` returns it. With ``empty_when_created``, the flushed object
        itself: it holds every column the INSERT wrote (values are set in Python); it is re-read still when
        something else is not loaded (a column the database filled: a server default)."""
        await ctx.session.flush()  # what after_create's handlers added, written within the operation
        unloaded = inspect(obj).unloaded
        if self.empty_when_created is None or unloaded - self.empty_when_created:
            return await self.get(ctx, obj.id, refresh=True)
        for name in unloaded:
            set_committed_value(obj, name, [])
        return obj

    async def update(self, ctx: Ctx, record_id: str, data: dict[str, Any]) -> M:
        obj = await self.get(ctx, record_id, for_update=True)
        await self.check_refs(ctx, data)
        await self.apply(ctx, obj, data, creating=False)
        if hasattr(obj, "updated_by"):
            obj.updated_by = ctx.user_id
            obj.date_updated = utcnow()
        await ctx.session.flush()
        return obj

    async def delete(self, ctx: Ctx, record_id: str) -> None:
        obj = await self.get(ctx, record_id, for_update=True)
        await self.before_delete(ctx, obj)
        await ctx.session.delete(obj)
        await ctx.session.flush()

    async def before_delete(self, ctx: Ctx, obj: M) -> None:
        pass


def parse_fields(raw: str | None, known: Iterable[str]) -> set[str] | None:
    """``_fields=a,b`` -> {"a", "b"}; empty means every field; an unknown name is a 400."""
    if not raw or not raw.strip():
        return None
    wanted = {name.strip() for name in raw.split(",") if name.strip()}
    if unknown := wanted - set(known):
        raise field_error("_fields", f"unknown field(s): {', '.join(sorted(unknown))}; "
                                     f"known: {', '.join(sorted(known))}")
    return wanted


# --- list parameters ---------------------------------------------------------------------------------
class PageParams(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    limit: int = Field(100, alias="_limit", ge=1, le=MAX_LIMIT, description=f"Page size (1-{MAX_LIMIT}).")
    skip: int = Field(0, alias="_skip", ge=0, le=10**9, description="Offset for pagination.")
    fields: str | None = Field(None, alias="_fields", description="Comma-separated fields to return.")


class KeysetPageParams(PageParams):
    """Paging of resources listed newest first by ID, which can also page by key."""

    before: str | None = Field(None, alias="_before", pattern=r"^[0-9A-Za-z_]{1,40}$", description=(
        "Only records older than this ID: pass the last ID of the previous page to get the next one. "
        "Every page then costs what the first costs, where a deep `_skip` reads every row it skips."))


def pages_by_key(service: CrudService[Any]) -> bool:
    """Whether a service lists newest first by ID alone (the default), so that `_before` pages it."""
    return type(service).order_by is CrudService.order_by and type(service).list is CrudService.list


class FieldsParam(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    fields: str | None = Field(None, alias="_fields", description="Comma-separated fields to return.")


class NoFilters(BaseModel):
    pass


@dataclass(frozen=True)
class Parent:
    """A resource nested under another one in REST paths, e.g. opportunity/{id}/line_item/."""

    name: str  # the parent resource, e.g. "opportunity"
    field: str  # the child's column holding the parent ID, e.g. "opportunity_id"


# --- the declaration -----------------------------------------------------------------------------------
@dataclass
class Resource:
    name: str  # path under /api/v1 and the resource name MCP tools take: "lead", "status/lead"
    title: str  # "Lead"
    service: CrudService[Any]
    read_schema: type[ReadModel]
    create_schema: type[WriteModel] | None = None
    update_schema: type[BaseModel] | None = None
    filters: type[BaseModel] = NoFilters
    operations: frozenset[str] = OPERATIONS
    description: str = ""
    parent: Parent | None = None
    # Admin and identity resources are REST-only; everything else is also an MCP resource.
    mcp: bool = True
    # What a single read returns, when it shows more than a list item does (default: read_schema).
    detail_schema: type[ReadModel] | None = None
    list_query: type[BaseModel] = field(init=False)

    def __post_init__(self) -> None:
        if self.create_schema is not None and self.update_schema is None and "update" in self.operations:
            self.update_schema = partial_model(self.create_schema, f"{self.title.replace(' ', '')}Update")
        # One query model per resource: paging, _fields and its filters; unknown parameters are refused.
        paging = KeysetPageParams if pages_by_key(self.service) else PageParams
        bases = (paging,) if self.filters is NoFilters else (self.filters, paging)
        self.list_query = create_model(f"{self.title.replace(' ', '')}ListQuery", __base__=bases)

    def schema_fields(self, schema: type[BaseModel]) -> frozenset[str]:
        return frozenset(schema.model_fields) | frozenset(schema.model_computed_fields)

    @property
    def field_names(self) -> frozenset[str]:
        return self.schema_fields(self.read_schema)

    @property
    def filter_names(self) -> list[str]:
        return list(self.filters.model_fields)

    # -- shaping
    def selected_fields(self, raw: str | None, schema: type[BaseModel] | None = None) -> set[str] | None:
        return parse_fields(raw, self.schema_fields(schema) if schema else self.field_names)

    def serialize(self, obj: Any, fields: set[str] | None = None, schema: type[BaseModel] | None = None) -> dict[str, Any]:
        return self.serialize_all([obj], fields, schema)[0]

    def serialize_all(self, objs: list[Any], fields: set[str] | None = None,
                      schema: type[BaseModel] | None = None) -> list[dict[str, Any]]:
        """Records as JSON-ready dicts: what the schema dumps, by a serializer compiled once per schema."""
        if type(self).serialize is not Resource.serialize:  # a resource that shapes each record itself
            return [self.serialize(obj, fields, schema) for obj in objs]
        return shape_all(schema or self.read_schema, objs, fields)

    # -- parsing raw input (MCP, scripts); REST gets the same models through FastAPI
    def parse(self, schema: type[BaseModel] | None, raw: Any) -> BaseModel:
        if schema is None:
            raise APIError(405, f"{self.name} does not support this operation")
        try:
            return schema.model_validate(raw if raw is not None else {})
        except ValidationError as exc:
            fields = validation_field_errors(list(exc.errors()))
            raise APIError(400, "Invalid request: " + ", ".join(sorted(fields)), fields) from None

    def _check(self, operation: str) -> None:
        if operation not in self.operations:
            raise APIError(405, f"{self.name} does not support {operation}")

    # -- operations: each runs inside the caller's unit of work
    async def list(self, ctx: Ctx, query: BaseModel, parent_id: str | None = None, *,
                   as_json: bool = False) -> dict[str, Any]:
        """A page of records; ``as_json``: for a response that is only written out as JSON (REST), whose
        records may be JSON texts the database wrote (``orjson.Fragment``s, api/documents.py)."""
        self._check("list")
        fields = self.selected_fields(query.fields)  # type: ignore[attr-defined]
        filters = {name: getattr(query, name) for name in self.filters.model_fields}
        if self.parent:
            if parent_id is not None:
                await _require_parent(ctx, self.parent, parent_id)
                filters[self.parent.field] = parent_id
        return await self.page(ctx, filters, query, fields, as_json=as_json)

    def empty_in_documents(self) -> frozenset[str] | None:
        """The dict fields a page the database writes (api/documents.py) shows as ``{}``; None: this resource
        shapes its records itself, in Python."""
        plain = type(self).serialize is Resource.serialize and type(self).serialize_all is Resource.serialize_all
        return frozenset() if plain else None

    async def page(self, ctx: Ctx, filters: dict[str, Any], query: BaseModel, fields: set[str] | None, *,
                   as_json: bool = False) -> dict[str, Any]:
        """A list's answer: the page ``query`` asks for (limit, skip, before) of the records ``filters`` select."""
        before = getattr(query, "before", None)
        empty = self.empty_in_documents() if as_json and fields is None else None
        if empty is not None and isinstance(self.service, CrudService):
            found = await self.service.read_documents(ctx, filters, query.limit, query.skip, before,  # type: ignore[attr-defined]
                                                      self.read_schema, empty)
            if found is not None:
                texts, has_more = found
                if CHECK:  # the tests: the database's JSON is what the ORM's objects shape into
                    objects, _ = await self.service.list(ctx, filters, query.limit, query.skip, before)  # type: ignore[attr-defined]
                    _same_shapes(orjson.loads(orjson.dumps(texts)), self.serialize_all(objects), self.name)
                return {"data": texts, "has_more": has_more}
        records, has_more = await self.service.read_page(ctx, filters, query.limit, query.skip, before)  # type: ignore[attr-defined]
        data = self.serialize_all(records, fields)
        if CHECK and records and type(records[0]) is dict:  # the tests: rows shape as the ORM's objects do
            objects, _ = await self.service.list(ctx, filters, query.limit, query.skip, before)  # type: ignore[attr-defined]
            _same_shapes(data, self.serialize_all(objects, fields), self.name)
        return {"data": data, "has_more": has_more}

    async def get(self, ctx: Ctx, record_id: str, fields: str | None = None, parent_id: str | None = None, *,
                  as_json: bool = False) -> dict[str, Any] | orjson.Fragment:
        """A record; ``as_json`` as ``list``'s: it may be the JSON text the database wrote."""
        self._check("get")
        selected = self.selected_fields(fields, self.detail_schema)
        if parent_id is not None:  # a nested resource's record: its parent is checked on the object
            obj = await self.service.get(ctx, record_id)
            self._same_parent(obj, parent_id)
            return self.serialize(obj, selected, self.detail_schema)
        empty = self.empty_in_documents() if as_json and selected is None else None
        if empty is not None and isinstance(self.service, CrudService):
            text = await self.service.read_document(ctx, record_id, self.detail_schema or self.read_schema, empty)
            if text is not None:
                if CHECK:
                    _same_shapes([orjson.loads(orjson.dumps(text))], [self.serialize(
                        await self.service.get(ctx, record_id), None, self.detail_schema)], self.name)
                return text
        record = await self.service.read(ctx, record_id)
        body = self.serialize(record, selected, self.detail_schema)
        if CHECK and type(record) is dict:  # the tests: a row shapes as the ORM's object does
            _same_shapes([body], [self.serialize(await self.service.get(ctx, record_id), selected, self.detail_schema)],
                         self.name)
        return body

    async def create(self, ctx: Ctx, body: BaseModel, fields: str | None = None,
                     parent_id: str | None = None) -> dict[str, Any]:
        self._check("create")
        selected = self.selected_fields(fields)
        data = body.model_dump()
        if self.parent and parent_id is not None:
            await _require_parent(ctx, self.parent, parent_id)
            data[self.parent.field] = parent_id
        obj = await self.service.create(ctx, data)
        return self.serialize(await self.service.created(ctx, obj), selected)

    async def update(self, ctx: Ctx, record_id: str, body: BaseModel, fields: str | None = None,
                     parent_id: str | None = None) -> dict[str, Any]:
        self._check("update")
        selected = self.selected_fields(fields)
        # Only the fields sent change; nested values keep their defaults (exclude_unset would drop them).
        data = body.model_dump(include=body.model_fields_set)
        nulls = {name: "may not be null" for name in getattr(body, "not_nullable", ()) if
                 name in data and data[name] is None}
        if nulls:
            raise APIError(400, "Invalid request: " + ", ".join(sorted(nulls)), nulls)
        if parent_id is not None:
            self._same_parent(await self.service.get(ctx, record_id), parent_id)
        obj = await self.service.update(ctx, record_id, data)
        return self.serialize(await self.service.get(ctx, obj.id, refresh=True), selected)

    async def delete(self, ctx: Ctx, record_id: str, parent_id: str | None = None) -> dict[str, Any]:
        self._check("delete")
        if parent_id is not None:
            self._same_parent(await self.service.get(ctx, record_id), parent_id)
        await self.service.delete(ctx, record_id)
        return {}

    def _same_parent(self, obj: Any, parent_id: str | None) -> None:
        if self.parent and parent_id is not None and getattr(obj, self.parent.field) != parent_id:
            raise not_found(self.service.label.capitalize())


def _same_shapes(rows: list[dict[str, Any]], objects: list[dict[str, Any]], name: str) -> None:
    if not same_json(rows, objects):
        raise ShapeMismatch(f"{name} read as rows (or written by the database) shaped differently:\n"
                            f" rows {rows!r}\n ORM {objects!r}")


async def _require_parent(ctx: Ctx, parent: Parent, parent_id: str) -> None:
    await REGISTRY[parent.name].service.get(ctx, parent_id)


# --- the registry ------------------------------------------------------------------------------------
REGISTRY: dict[str, Resource] = {}


def register(resource: Resource) -> Resource:
    if resource.name in REGISTRY:
        raise RuntimeError(f"resource {resource.name} registered twice")
    REGISTRY[resource.name] = resource
    return resource
