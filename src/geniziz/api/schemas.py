"""Building blocks for resource schemas: read/write bases, timestamps, emails, phones, money."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from datetime import UTC, datetime
from typing import Annotated, Any, Optional
from urllib.parse import urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    create_model,
    field_validator,
    model_validator,
)

from geniziz.config import get_settings


def _no_required(schema: dict[str, Any]) -> None:
    schema.pop("required", None)


class ReadModel(BaseModel):
    """A response schema. `_fields` can trim any field, so none is marked required in the OpenAPI."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra=_no_required)


class WriteModel(BaseModel):
    """A request body. Unknown fields are refused (400 naming them) rather than silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        """Text must be storable on every backend: no NUL characters, no lone UTF-16 surrogates."""
        _check_text(value)
        return value


def _check_text(value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("may not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("is not valid Unicode text") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


# --- timestamps --------------------------------------------------------------------------------
def format_timestamp(value: datetime) -> str:
    if value.tzinfo is not UTC:  # what the database gives is UTC already (db.UTCDateTime)
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    # Written out, not isoformat (its offset handling made it 0.5 µs slower, on every timestamp of a page)
    # nor strftime ("%Y" drops the leading zeros of years before 1000 on some platforms).
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (value.year, value.month, value.day, value.hour, value.minute,
                                                    value.second, value.microsecond // 1000)


class FormattedTimestamp(str):
    """A timestamp the database wrote in the API's form already (``format_timestamp``'s): what reads as rows
    select (api/rows.py). The shaping plans pass it through as it is; nothing else makes one."""

    __slots__ = ()


def _to_utc(value: datetime) -> datetime:
    """Inputs accept any ISO 8601 offset; a time without one is taken as UTC."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


# Responses: "2026-01-15T09:30:00.000Z". Requests: ISO 8601, normalized to UTC.
Timestamp = Annotated[datetime, PlainSerializer(format_timestamp, return_type=str, when_used="json")]
InputTimestamp = Annotated[datetime, AfterValidator(_to_utc)]


# --- contact data --------------------------------------------------------------------------------
def normalize_email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address ({exc})") from None


def normalize_phone(value: str) -> str:
    """Any readable phone number -> E.164 ("+15551234567")."""
    try:
        parsed = phonenumbers.parse(value, get_settings().default_phone_region)
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError("not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=65536)  # parsing is slow (~50 µs) and every read of a record formats its phones again
def format_phone(e164: str) -> str:
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


EmailAddress = Annotated[str, Field(max_length=320, json_schema_extra={"format": "email"}),
                         AfterValidator(normalize_email)]
PhoneNumber = Annotated[str, Field(max_length=40), AfterValidator(normalize_phone)]
Label = Annotated[str, Field(max_length=50)]


class EmailEntry(WriteModel):
    email: EmailAddress
    type: Label = "office"


class PhoneEntry(WriteModel):
    phone: PhoneNumber
    type: Label = "office"


def check_web_url(value: str) -> str:
    """Only http(s) URLs with a host: a `javascript:` or `data:` URL would run script where it is linked."""
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValueError("must be an http(s) URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or _SPACE_OR_CONTROL.search(value):
        raise ValueError("must be an http(s) URL")
    return value


_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
WebUrl = Annotated[str, Field(max_length=2000, json_schema_extra={"format": "uri"}), AfterValidator(check_web_url)]


class UrlEntry(WriteModel):
    url: WebUrl
    type: Label = "url"


class AddressEntry(WriteModel):
    label: Label | None = None
    address_1: Annotated[str, Field(max_length=500)] | None = None
    address_2: Annotated[str, Field(max_length=500)] | None = None
    city: Annotated[str, Field(max_length=200)] | None = None
    state: Annotated[str, Field(max_length=200)] | None = None
    zipcode: Annotated[str, Field(max_length=50)] | None = None
    country: Annotated[str, Field(max_length=100)] | None = None


class EmailOut(ReadModel):
    email: str
    type: str


@dataclass(frozen=True)
class DerivedFrom:
    """Field metadata of a read model: the field shows ``function(<source field's value>)``, whatever the
    record holds. The model needs ``_derive = model_validator(mode="after")(derive_fields)``; the
    compiled serializers (api/shaping.py) do the same without building the model."""

    source: str
    function: Callable[[Any], Any]


def derive_fields(model: BaseModel) -> BaseModel:
    for name, info in type(model).model_fields.items():
        for meta in info.metadata:
            if isinstance(meta, DerivedFrom):
                setattr(model, name, meta.function(getattr(model, meta.source)))
    return model


class PhoneOut(ReadModel):
    phone: str
    type: str
    phone_formatted: Annotated[str | None, DerivedFrom("phone", format_phone)] = None

    _derive = model_validator(mode="after")(derive_fields)


# --- money ---------------------------------------------------------------------------------------
# Strict: JSON `true` is not one cent, and "12" is not twelve.
Cents = Annotated[int, Strict(), Field(ge=0, le=10**15, description="An amount in cents.")]
_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "INR": "₹"}


def format_money(cents: int, currency: str = "USD") -> str:
    symbol = _CURRENCY_SYMBOLS.get(currency.upper())
    sign = "-" if cents < 0 else ""
    amount = f"{abs(cents) / 100:,.2f}"
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency.upper()}"


# --- partial updates -----------------------------------------------------------------------------
def partial_model(model: type[BaseModel], name: str | None = None, not_null: set[str] = frozenset()) -> type[BaseModel]:
    """The PUT schema of a create schema: every field optional, so only the fields sent change.

    Fields that may not be empty on create may not be set to null either; the partial model lists
    them in ``not_nullable`` and the update operation refuses a null for them (400 naming the field).
    """
    fields: dict[str, Any] = {}
    not_nullable: set[str] = set(not_null)
    for field_name, info in model.model_fields.items():
        annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        if not _allows_none(info.annotation):
            not_nullable.add(field_name)
        fields[field_name] = (Optional[annotation], Field(None, description=info.description))
    partial = create_model(name or model.__name__.replace("Create", "Update"), __base__=WriteModel, **fields)
    partial.__doc__ = "Partial update: only the fields sent change."
    partial.not_nullable = frozenset(not_nullable)  # type: ignore[attr-defined]
    return partial


def _allows_none(annotation: Any) -> bool:
    import types
    import typing

    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return type(None) in typing.get_args(annotation)
    return annotation is None or annotation is type(None)
