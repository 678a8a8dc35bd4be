"""What a record type needs to carry custom field values: the body mixin, the service mixin and the
resource that shows, selects and filters them. Leads, contacts, opportunities and custom objects use
these three; the values machinery itself is in ``values.py``.

- Bodies take values as ``"custom.<field ID>": value`` keys (Close's convention) or as an object
  ``"custom": {<field ID or name>: value}``; null or "" unsets one.
- Reads show each value as a ``custom.<field ID>`` key and all of them by name under ``custom``;
  ``_fields`` may name ``custom.<field ID>`` keys and ``custom``.
- Lists filter with ``custom.<field ID or name>=value``, ``__gt``/``__gte``/``__lt``/``__lte`` (numbers,
  dates, datetimes) and ``__is_set=true|false``.
- Required fields are enforced on writes through the record's own resource (REST, MCP); records other
  code creates on the way (a contact's new lead) start without values.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator
from sqlalchemy import Select, select

from geniziz.api.context import Ctx
from geniziz.api.errors import APIError, field_error
from geniziz.api.resource import REGISTRY, Resource
from geniziz.custom.definitions import definitions, for_write
from geniziz.custom.models import CustomField, CustomObject
from geniziz.custom.values import PREFIX, conditions, dialect_of, fields_of, merge, show
from geniziz.statuses.service import first_statuses_read

# The list filter conditions a resource hands its service (in the filters dict, under this key).
CUSTOM_FILTERS = "__custom__"


# --- bodies ------------------------------------------------------------------------------------------------
def _gather(value: Any) -> Any:
    """``custom.<key>`` body keys -> the ``custom`` object (before the model refuses unknown keys)."""
    if isinstance(value, dict) and any(isinstance(k, str) and k.startswith(PREFIX) for k in value):
        value = dict(value)
        gathered = dict(value.get("custom") or {}) if isinstance(value.get("custom"), dict) else {}
        for key in [k for k in value if isinstance(k, str) and k.startswith(PREFIX)]:
            gathered[key[len(PREFIX):]] = value.pop(key)
        value["custom"] = gathered
    return value


CUSTOM_DOC = ("Custom field values, by field ID or name (null unsets one); or send each as a "
              "`custom.<field ID>` key.")


class CustomBody(BaseModel):
    """Mixin for a create body: custom field values."""

    model_config = ConfigDict(json_schema_extra={"patternProperties": {r"^custom\.": {}}})

    custom: dict[str, Any] | None = Field(None, description=CUSTOM_DOC)

    @model_validator(mode="before")
    @classmethod
    def _custom_keys(cls, value: Any) -> Any:
        return _gather(value)


def with_custom(model: type[BaseModel], name: str) -> type[BaseModel]:
    """An update body (``partial_model``'s, which has ``custom`` as a plain field) that also takes
    ``custom.<field ID>`` keys."""
    return create_model(name, __base__=(model, CustomBody), __doc__=model.__doc__)


# --- services ---------------------------------------------------------------------------------------------
class CustomValues:
    """Service mixin: put first in the bases (``class LeadService(CustomValues, CrudService[Lead])``)."""

    object_type: ClassVar[str]
    label: ClassVar[str]

    async def custom_fields(self, ctx: Ctx, obj: Any) -> list[CustomField]:
        fresh = (_WRITING.get() or {}).get(self.object_type)  # the write's resource has read them already
        return fresh if fresh is not None else await fields_of(ctx, self.object_type)

    def filter(self, ctx: Ctx, query: Select, filters: dict[str, Any]) -> Select:
        where = filters.pop(CUSTOM_FILTERS, None)
        if where:
            query = query.where(*where)
        return super().filter(ctx, query, filters)  # type: ignore[misc]

    async def apply(self, ctx: Ctx, obj: Any, data: dict[str, Any], *, creating: bool) -> None:
        sent = data.pop("custom", None)
        if sent is not None:
            obj.custom = await merge(ctx, await self.custom_fields(ctx, obj), None if creating else obj.custom,
                                     sent, creating=creating, what=f"a {self.label}")
        elif creating:
            obj.custom = {}
        await super().apply(ctx, obj, data, creating=creating)  # type: ignore[misc]


# --- resources ---------------------------------------------------------------------------------------------
class CustomParams(BaseModel):
    """List parameters may also be ``custom.*`` filters (checked against the workspace's fields)."""

    model_config = ConfigDict(extra="allow")


# The workspace's field definitions for the request being shaped: {object type: fields}. Shaping
# (Resource.serialize_all) is synchronous and has no session, so each operation loads them first.
_FIELDS: ContextVar[dict[str, list[CustomField]] | None] = ContextVar("custom_fields", default=None)
# The same, when a write read them in its own transaction: what its values are checked against, too.
_WRITING: ContextVar[dict[str, list[CustomField]] | None] = ContextVar("custom_fields_written", default=None)

# Leads whose instances were asked for, and the lists to fill: [(lead ID, list)].
_EMBED: ContextVar[list[tuple[str, list[dict[str, Any]]]] | None] = ContextVar("custom_embed", default=None)
EMBEDDED = "custom_objects"


async def _embed_custom_objects(ctx: Ctx, wanted: list[tuple[str, list[dict[str, Any]]]]) -> None:
    instances = list(await ctx.session.scalars(select(CustomObject).where(
        CustomObject.lead_id.in_({lead_id for lead_id, _ in wanted})).order_by(CustomObject.id.desc())))
    resource = REGISTRY["custom_object"]
    token = _FIELDS.set({"custom_object": await fields_of(ctx, "custom_object")})
    try:
        shaped = resource.serialize_all(instances)
    finally:
        _FIELDS.reset(token)
    by_lead: dict[str, list[dict[str, Any]]] = {}
    for instance, row in zip(instances, shaped, strict=True):
        by_lead.setdefault(instance.lead_id, []).append(row)
    for lead_id, target in wanted:
        target.extend(by_lead.get(lead_id, []))


FILTER_DOC = ("Filter on custom fields with custom.<field ID or name>=value (a field taking several values: "
              "holds it), custom.<field>__gte / __gt / __lte / __lt (numbers, dates, datetimes) and "
              "custom.<field>__is_set=true|false.")


@dataclass
class CustomizedResource(Resource):
    """A resource whose records carry custom field values (see the module docstring)."""

    object_type: str = ""
    nested: dict[str, str] = field(default_factory=dict)  # embedded lists' object types: {"contacts": "contact"}
    # Leads: `_fields=...,custom_objects` embeds the lead's custom object instances (only when asked).
    embeds_custom_objects: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        self.list_query = create_model(self.list_query.__name__, __base__=(self.list_query, CustomParams))
        self.description = f"{self.description} {FILTER_DOC}".strip()

    def shown_kinds(self) -> set[str]:
        """The object types whose fields this resource shows: its own and its embedded records' (a lead's contacts)."""
        return {self.object_type, *self.nested.values()}

    async def _shaped(self, ctx: Ctx, call: Any, *, fresh: bool = False) -> Any:
        first: dict[str, str | None] | None = None
        if fresh:  # a write: as its own transaction sees them, with the first statuses a create may need
            found, first = await for_write(ctx, self.shown_kinds())
        else:
            found = await definitions(ctx, self.shown_kinds())  # cached, for reads
        token, writing = _FIELDS.set(found), _WRITING.set(found if fresh else None)
        pending = _EMBED.set([])
        try:
            with first_statuses_read(ctx, first):
                body = await call
            if _EMBED.get():
                await _embed_custom_objects(ctx, _EMBED.get())
            return body
        finally:
            _FIELDS.reset(token)
            _WRITING.reset(writing)
            _EMBED.reset(pending)

    # -- reading
    def selected_fields(self, raw: str | None, schema: type[BaseModel] | None = None) -> set[str] | None:
        if not raw or not raw.strip():
            return None
        names = {name.strip() for name in raw.split(",") if name.strip()}
        custom = {name for name in names if name.startswith(PREFIX)}
        if self.embeds_custom_objects and EMBEDDED in names:
            custom.add(EMBEDDED)
        known = {PREFIX + f.id for f in ((_FIELDS.get() or {}).get(self.object_type) or [])}
        if unknown := {n for n in custom if n != EMBEDDED} - known:
            raise field_error("_fields", f"unknown custom field(s): {', '.join(sorted(unknown))}")
        rest = names - custom
        return (super().selected_fields(",".join(rest), schema) if rest else set()) | custom

    def serialize_all(self, objs: list[Any], fields: set[str] | None = None,
                      schema: type[BaseModel] | None = None) -> list[dict[str, Any]]:
        return self.show_values(objs, super().serialize_all(objs, self.dumped(fields), schema), fields)

    @staticmethod
    def dumped(fields: set[str] | None) -> set[str] | None:
        """What the schema dumps for a `_fields` selection: the stored values always (shown afterwards)."""
        return None if fields is None else {n for n in fields if not n.startswith(PREFIX)} | {"custom"}

    def show_values(self, objs: list[Any], rows: list[dict[str, Any]], fields: set[str] | None) -> list[dict[str, Any]]:
        """Dumped rows -> rows with their values as custom.<field ID> keys and by name (and embeds asked for)."""
        definitions = _FIELDS.get() or {}
        if fields is not None and EMBEDDED in fields and _EMBED.get() is not None:
            for obj, row in zip(objs, rows, strict=True):
                row[EMBEDDED] = []  # filled in once the page is shaped, in one query
                record_id = obj["id"] if type(obj) is dict else obj.id  # a row (read_as_rows) or an object
                _EMBED.get().append((record_id, row[EMBEDDED]))  # type: ignore[union-attr]
        for row in rows:
            show(row, row.get("custom"), definitions.get(self.object_type), fields)
            for attribute, kind in self.nested.items():
                for item in row.get(attribute) or ():
                    show(item, item.get("custom"), definitions.get(kind), None)
        return rows

    # -- operations: the base ones, with the workspace's fields at hand
    def empty_in_documents(self) -> frozenset[str] | None:
        # Values shown only where the workspace has no fields for these records: `custom` is then `{}`.
        found = _FIELDS.get() or {}
        plain = (type(self).serialize is Resource.serialize
                 and type(self).serialize_all is CustomizedResource.serialize_all)
        return frozenset({"custom"}) if plain and all(found.get(kind) == [] for kind in self.shown_kinds()) else None

    async def list(self, ctx: Ctx, query: BaseModel, parent_id: str | None = None, *,
                   as_json: bool = False) -> dict[str, Any]:
        extra = dict(query.model_extra or {})
        if unknown := sorted(name for name in extra if not name.startswith(PREFIX)):
            raise APIError(400, "Unknown parameter: " + ", ".join(unknown),
                           {name: "unknown parameter (custom fields filter as custom.<field ID>)" for name in unknown})

        async def run() -> dict[str, Any]:
            fields = await self.custom_fields_for_list(ctx, query) if extra else []
            where = conditions(dialect_of(ctx), self.service.model.custom, fields, extra, f"a {self.service.label}")
            return await self._list(ctx, query, parent_id, where, as_json=as_json)

        return await self._shaped(ctx, run())

    async def custom_fields_for_list(self, ctx: Ctx, query: BaseModel) -> list[CustomField]:
        return (_FIELDS.get() or {}).get(self.object_type) or []

    async def _list(self, ctx: Ctx, query: BaseModel, parent_id: str | None, where: list[Any], *,
                    as_json: bool = False) -> dict[str, Any]:
        # Resource.list, with the custom conditions handed to the service among the filters.
        self._check("list")
        fields = self.selected_fields(query.fields)  # type: ignore[attr-defined]
        filters: dict[str, Any] = {name: getattr(query, name) for name in self.filters.model_fields}
        if where:
            filters[CUSTOM_FILTERS] = where
        return await self.page(ctx, filters, query, fields, as_json=as_json)

    async def get(self, ctx: Ctx, record_id: str, fields: str | None = None, parent_id: str | None = None, *,
                  as_json: bool = False) -> dict[str, Any] | orjson.Fragment:
        return await self._shaped(ctx, super().get(ctx, record_id, fields, parent_id, as_json=as_json))

    async def create(self, ctx: Ctx, body: BaseModel, fields: str | None = None,
                     parent_id: str | None = None) -> dict[str, Any]:
        if getattr(body, "custom", None) is None:  # enforce required fields on the record's own create
            body = body.model_copy(update={"custom": {}})
        return await self._shaped(ctx, super().create(ctx, body, fields, parent_id), fresh=True)

    async def update(self, ctx: Ctx, record_id: str, body: BaseModel, fields: str | None = None,
                     parent_id: str | None = None) -> dict[str, Any]:
        return await self._shaped(ctx, super().update(ctx, record_id, body, fields, parent_id), fresh=True)

    # -- what MCP's describe_resource adds: this workspace's own fields
    async def describe_custom(self, ctx: Ctx) -> dict[str, Any]:
        fields = await fields_of(ctx, self.object_type)
        return {"custom_fields": [describe_field(f) for f in fields] or "(none defined in this workspace)",
                "custom_filters": FILTER_DOC}


def describe_field(f: CustomField) -> str:
    """``custom.cf_…: choices [gold|silver] (Tier, required, several)``: what an agent writes and filters."""
    kind = f.type + (f" [{'|'.join(f.choices)}]" if f.choices else "")
    notes = [f.name] + (["required"] if f.required else []) + (["several"] if f.accepts_multiple else [])
    return f"{PREFIX}{f.id}: {kind} ({', '.join(notes)})"
