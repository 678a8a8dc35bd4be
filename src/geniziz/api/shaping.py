"""Responses shaped from ORM objects without pydantic validation.

``TypeAdapter(list[Schema]).validate_python(objs, from_attributes=True)`` then ``dump_python(mode="json")``
builds a model per record only to dump it again, and validating rows our own database gave is wasted
work: on a list page of 100 leads the two took 60% of the request. Here each read schema is compiled
once, from its pydantic fields, into a plan that reads each field from the record (an ORM object, or a
dict inside a JSON column) and writes what pydantic would dump: same keys in the same order, same
values, defaults for missing attributes, ``Timestamp`` formatting, nested read models.

The plan is strict: a value it does not take as it comes (anything but the exact types the field
declares: ``None`` in a ``str`` field, a tuple for a list, a string subclass) raises ``Unshaped`` and
the whole page goes to pydantic, which coerces it, or refuses it, as before. A schema the compiler does
not understand (validators, serializers, aliases, other config) is shaped by pydantic; so is a field
type it does not understand, field by field. With GENIZIZ_CHECK_SHAPES=1 (the tests set it) every page
is shaped both ways and a difference in anything (key order, int vs float) raises ``ShapeMismatch``.
"""

from __future__ import annotations

import inspect
import math
import os
import types
import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import lru_cache, partial
from typing import Annotated, Any, Literal, NamedTuple

import orjson
from pydantic import BaseModel, PlainSerializer, TypeAdapter
from pydantic_core import PydanticUndefined
from sqlalchemy.orm import QueryableAttribute

from geniziz.api.schemas import DerivedFrom, FormattedTimestamp, derive_fields, format_timestamp

CHECK = os.environ.get("GENIZIZ_CHECK_SHAPES", "") not in ("", "0")

_MISSING = object()
_NONE = type(None)
# Model config keys that change nothing in what a read model dumps.
_HARMLESS_CONFIG = frozenset({"from_attributes", "json_schema_extra", "title"})


class Unshaped(Exception):
    """A value the compiled plan does not shape exactly as pydantic would: pydantic shapes the page."""


class ShapeMismatch(AssertionError):
    """Check mode: the compiled plan and pydantic shaped a page differently."""


# --- entry point ---------------------------------------------------------------------------------
def shape_all(schema: type[BaseModel], objs: list[Any], fields: set[str] | None = None) -> list[dict[str, Any]]:
    """Records as the JSON-ready dicts ``schema`` dumps (only ``fields`` of each, when given)."""
    plan = compiled(schema)
    rows = None
    if plan is not None:
        try:
            rows = plan.rows(objs, fields)
        except Unshaped:
            rows = None
    if rows is None or CHECK:
        expected = shape_with_pydantic(schema, objs, fields)
        if rows is not None and not same_json(rows, expected):
            raise ShapeMismatch(f"{schema.__name__} shaped differently:\n compiled {rows!r}\n pydantic {expected!r}")
        rows = rows if rows is not None else expected
    return rows


def shape_with_pydantic(schema: type[BaseModel], objs: list[Any], fields: set[str] | None = None) -> list[dict[str, Any]]:
    adapter = _list_adapter(schema)
    return adapter.dump_python(adapter.validate_python(objs, from_attributes=True), mode="json",
                               include=None if fields is None else {"__all__": fields})


@lru_cache(maxsize=None)  # one per schema: building an adapter compiles its validator and serializer
def _list_adapter(schema: type[BaseModel]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[schema])  # type: ignore[valid-type]


def same_json(a: Any, b: Any) -> bool:
    """Whether two JSON-ready values dump to the same bytes (key order, int vs float)."""
    try:
        return orjson.dumps(a) == orjson.dumps(b)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits: repr still tells int, float and key order apart
        return repr(a) == repr(b)


# --- compiled models ------------------------------------------------------------------------------
class Field(NamedTuple):
    key: str  # the key written
    attribute: str  # the attribute (or dict key) read: the field's own, or a derived field's source
    same: frozenset[type]  # value types written as they are read
    convert: Callable[[Any], Any]  # any other value -> what pydantic dumps (or Unshaped)
    default: Callable[[], Any] | None  # when the attribute is missing; None: required


class Computed(NamedTuple):
    key: str
    function: Callable[[Any], Any]  # the property's getter
    shaper: Shaper


class ModelPlan:
    def __init__(self, schema: type[BaseModel], fields: list[Field], computed: list[Computed]) -> None:
        self.schema = schema
        self.fields = fields
        self.computed = computed
        # What a computed field's getter may read: the fields whose values are dumped as they are read.
        self.plain = {f.key: f for f in fields if f.convert is _refuse and f.key == f.attribute}
        self._selections: dict[frozenset[str], tuple[list[Field], list[Computed]]] = {}
        self._readable: dict[type, bool] = {}

    def rows(self, objs: list[Any], selected: set[str] | None) -> list[dict[str, Any]]:
        fields, computed = (self.fields, self.computed) if selected is None else self._selected(selected)
        return [self.row(obj, fields, computed) for obj in objs]

    def _selected(self, selected: set[str]) -> tuple[list[Field], list[Computed]]:
        key = frozenset(selected)
        chosen = self._selections.get(key)
        if chosen is None:
            chosen = [f for f in self.fields if f.key in key], [c for c in self.computed if c.key in key]
            if len(self._selections) < 256:  # _fields comes from clients: keep a bounded number
                self._selections[key] = chosen
        return chosen

    def row(self, obj: Any, fields: list[Field] | None = None, computed: list[Computed] | None = None) -> dict[str, Any]:
        # pydantic's from_attributes reads a dict by key and anything else by attribute.
        if type(obj) is dict:
            values, read = obj, obj.get
        else:
            by_dict = self._readable.get(type(obj))
            if by_dict is None:
                by_dict = self._readable[type(obj)] = self._dict_readable(type(obj))
            read = partial(getattr, obj)
            values = obj.__dict__ if by_dict else _Attributes(read)
        row = {}
        for key, attribute, same, convert, default in self.fields if fields is None else fields:
            value = values.get(attribute, _MISSING)
            if value is _MISSING:
                value = read(attribute, _MISSING)  # an expired column, a plain class attribute
                if value is _MISSING:
                    if default is None:
                        raise Unshaped  # pydantic would refuse the record: let it say so
                    value = default()
            row[key] = value if type(value) in same else convert(value)
        for key, function, (same, convert) in self.computed if computed is None else computed:
            value = function(_Record(read, self.plain))
            row[key] = value if type(value) in same else convert(value)
        return row

    def _dict_readable(self, cls: type) -> bool:
        """Whether an instance's ``__dict__`` holds what getattr gives for each field it has: yes unless the class
        has a descriptor of its own (a property) for one of them. A loaded ORM attribute is in ``__dict__``, and
        reading it there skips SQLAlchemy's descriptor (a third of the cost of a list page's shaping)."""
        if issubclass(cls, (BaseModel, Mapping)):  # kept as is, or read as a mapping: rare, let pydantic
            raise Unshaped
        return getattr(cls, "__dictoffset__", 0) != 0 and not any(
            _own_descriptor(inspect.getattr_static(cls, f.attribute, None)) for f in self.fields)


def _own_descriptor(attribute: Any) -> bool:
    if isinstance(attribute, QueryableAttribute):  # SQLAlchemy's: returns __dict__'s value when it is there
        return False
    return hasattr(type(attribute), "__set__") or hasattr(type(attribute), "__delete__")


class _Attributes:
    """An object's attributes with a dict's ``get``."""

    __slots__ = ("get",)

    def __init__(self, read: Callable[[str, Any], Any]) -> None:
        self.get = read


class _Record:
    """What a computed field's getter sees as ``self``: the record's plain fields (str, int, bool, None),
    whose validated values are the values read. Anything else it asks for is pydantic's to answer."""

    __slots__ = ("_read", "_plain")

    def __init__(self, read: Callable[[str, Any], Any], plain: dict[str, Field]) -> None:
        self._read, self._plain = read, plain

    def __getattr__(self, name: str) -> Any:
        field = self._plain.get(name)
        if field is None:
            raise Unshaped
        value = self._read(field.attribute, _MISSING)
        if value is _MISSING:
            if field.default is None:
                raise Unshaped
            value = field.default()
        if type(value) not in field.same:
            raise Unshaped
        return value


@lru_cache(maxsize=None)
def compiled(schema: type[BaseModel]) -> ModelPlan | None:
    """The plan for a model, or None when the compiler does not understand the model itself."""
    if set(schema.model_config) - _HARMLESS_CONFIG:
        return None
    decorators = schema.__pydantic_decorators__
    if (decorators.field_validators or decorators.field_serializers or decorators.model_serializers
            or decorators.validators or decorators.root_validators
            or any(d.func is not derive_fields or d.info.mode != "after" for d in decorators.model_validators.values())):
        return None
    fields = []
    for name, info in schema.model_fields.items():
        if info.alias or info.validation_alias or info.serialization_alias or info.exclude or info.discriminator:
            return None
        if info.default_factory is not None:
            if info.default_factory_takes_data:
                return None
            default = info.default_factory
        elif info.default is PydanticUndefined:
            default = None
        else:
            default = partial(_copy, info.default)
        shaper = _field_shaper(info.annotation, [m for m in info.metadata if not isinstance(m, DerivedFrom)])
        derived = [m for m in info.metadata if isinstance(m, DerivedFrom)]
        if derived:
            source = schema.model_fields.get(derived[0].source)
            if source is None or len(derived) > 1:
                return None
            # pydantic validates the source, then the after-validator sets this field from it
            read_source = _field_shaper(source.annotation, source.metadata)
            fields.append(Field(name, derived[0].source, frozenset(),
                                partial(_derive, read_source, derived[0].function, shaper),
                                partial(_copy, source.default) if source.default is not PydanticUndefined else None))
        else:
            fields.append(Field(name, name, *shaper, default))
    computed = []
    for name, info in schema.model_computed_fields.items():
        if info.alias or not isinstance(info.wrapped_property, property):
            return None
        computed.append(Computed(name, info.wrapped_property.fget, _field_shaper(info.return_type, [])))
    return ModelPlan(schema, fields, computed)


def _derive(read_source: tuple[frozenset[type], Callable[[Any], Any]], function: Callable[[Any], Any],
            shaper: tuple[frozenset[type], Callable[[Any], Any]], value: Any) -> Any:
    return _apply(shaper, function(_apply(read_source, value)))


def _apply(shaper: tuple[frozenset[type], Callable[[Any], Any]], value: Any) -> Any:
    same, convert = shaper
    return value if type(value) in same else convert(value)


def _copy(value: Any) -> Any:
    # A default is pydantic's to copy for each record; the rows may be changed afterwards (custom values).
    return _json_value(value) if isinstance(value, (dict, list)) else value


# --- field types ----------------------------------------------------------------------------------
Shaper = tuple[frozenset[type], Callable[[Any], Any]]  # (types kept as they are, convert anything else)


def _field_shaper(annotation: Any, metadata: list[Any]) -> Shaper:
    """How to shape one field's value; pydantic's own adapter for a type the compiler does not know."""
    shaper = _shaper(Annotated[(annotation, *metadata)] if metadata else annotation)
    if shaper is not None:
        return shaper
    adapter = TypeAdapter(Annotated[(annotation, *metadata)] if metadata else annotation)
    return frozenset(), partial(_with_pydantic, adapter)


def _with_pydantic(adapter: TypeAdapter[Any], value: Any) -> Any:
    return adapter.dump_python(adapter.validate_python(value, from_attributes=True), mode="json")


def _refuse(value: Any) -> Any:
    raise Unshaped


def _shaper(annotation: Any) -> Shaper | None:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation in (str, int, bool, _NONE, None):
        return frozenset({_NONE if annotation is None else annotation}), _refuse
    if annotation is float:
        return frozenset(), _float
    if annotation is date:
        return frozenset(), partial(_exact, date, date.isoformat)
    if annotation is Any:
        return frozenset({str, int, bool, _NONE}), _json_value
    if origin is Annotated:
        return _annotated(args[0], args[1:])
    if origin in (typing.Union, types.UnionType):
        others = [a for a in args if a is not _NONE]
        if len(others) != 1:
            return None  # pydantic's smart unions pick a member by rules not worth copying
        inner = _shaper(others[0])
        return None if inner is None else (inner[0] | {_NONE}, inner[1])
    if origin is Literal:
        allowed = frozenset((type(a), a) for a in args)
        return frozenset(), partial(_literal, allowed)
    if origin is list and len(args) == 1:
        inner = _shaper(args[0])
        return None if inner is None else (frozenset(), partial(_list, inner))
    if origin is dict and len(args) == 2 and args[0] is str:
        inner = _shaper(args[1])
        return None if inner is None else (frozenset(), partial(_dict, inner))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        plan = compiled(annotation)
        return None if plan is None else (frozenset(), plan.row)
    return None


def _annotated(base: Any, metadata: tuple[Any, ...]) -> Shaper | None:
    """A plain serializer of one argument (``Timestamp``) over a value taken as it comes."""
    if len(metadata) != 1 or not isinstance(metadata[0], PlainSerializer) or base not in (datetime, date):
        return None
    serializer = metadata[0]
    if serializer.when_used not in ("always", "json") or serializer.return_type is not str:
        return None
    if len(inspect.signature(serializer.func).parameters) != 1:
        return None
    if serializer.func is format_timestamp and base is datetime:
        return frozenset(), _timestamp
    return frozenset(), partial(_serialized, base, serializer.func)


def _timestamp(value: Any) -> str:
    kind = type(value)
    if kind is FormattedTimestamp:  # a row's, which the database formatted (api/rows.py)
        return value
    if kind is not datetime:
        raise Unshaped
    return format_timestamp(value)


def _serialized(base: type, function: Callable[[Any], Any], value: Any) -> str:
    if type(value) is not base:
        raise Unshaped
    result = function(value)
    if type(result) is not str:
        raise Unshaped
    return result


def _exact(kind: type, function: Callable[[Any], Any], value: Any) -> Any:
    if type(value) is not kind:
        raise Unshaped
    return function(value)


def _float(value: Any) -> float:
    if type(value) is int:
        value = float(value)  # pydantic's float takes an int
    if type(value) is not float or not math.isfinite(value):  # inf and nan dump as null
        raise Unshaped
    return value


def _literal(allowed: frozenset[tuple[type, Any]], value: Any) -> Any:
    if (type(value), value) not in allowed:
        raise Unshaped
    return value


def _list(inner: Shaper, value: Any) -> list[Any]:
    if not isinstance(value, list):  # a relationship's InstrumentedList is one; a tuple or set pydantic converts
        raise Unshaped
    same, convert = inner
    return [item if type(item) in same else convert(item) for item in value]


def _dict(inner: Shaper, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Unshaped
    same, convert = inner
    shaped = {}
    for key, item in value.items():
        if type(key) is not str:
            raise Unshaped
        shaped[key] = item if type(item) in same else convert(item)
    return shaped


def _json_value(value: Any) -> Any:
    """A value typed ``Any`` (a JSON column's content), copied: what pydantic's inferred dump gives for JSON types."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise Unshaped
        return value
    if isinstance(value, dict):
        shaped = {}
        for key, item in value.items():
            if type(key) is not str:
                raise Unshaped
            shaped[key] = _json_value(item)
        return shaped
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    raise Unshaped
