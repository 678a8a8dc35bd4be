from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from geniziz.api.schemas import (
    EmailEntry,
    EmailOut,
    PhoneEntry,
    PhoneOut,
    ReadModel,
    Timestamp,
    UrlEntry,
    WriteModel,
    partial_model,
)
from geniziz.custom.records import CustomBody, with_custom


class ContactCreate(CustomBody, WriteModel):
    lead_id: str | None = Field(None, description="The contact's lead; without one, a new lead named after the contact is created.")
    name: Annotated[str, Field(max_length=500)] | None = None
    title: Annotated[str, Field(max_length=500)] | None = None
    emails: Annotated[list[EmailEntry], Field(max_length=50)] = []
    phones: Annotated[list[PhoneEntry], Field(max_length=50)] = []
    urls: Annotated[list[UrlEntry], Field(max_length=50)] = []


ContactUpdate = with_custom(partial_model(ContactCreate, "ContactFields", not_null={"lead_id"}), "ContactUpdate")


class UrlOut(ReadModel):
    url: str
    type: str


class ContactRead(ReadModel):
    id: str
    lead_id: str
    name: str | None
    title: str | None
    emails: list[EmailOut]
    phones: list[PhoneOut]
    urls: list[UrlOut]
    custom: dict[str, Any] = Field({}, description="Custom field values by name; each is also a custom.<field ID> key.")
    date_created: Timestamp
    date_updated: Timestamp
    created_by: str | None
    updated_by: str | None


class ContactFilters(WriteModel):
    lead_id: str | None = None
    email: Annotated[str, Field(max_length=320)] | None = Field(None, description="Exact email address (case-insensitive).")
    phone: Annotated[str, Field(max_length=40)] | None = Field(None, description="Any readable phone number; matched in E.164.")
