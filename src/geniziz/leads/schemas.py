from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from geniziz.api.schemas import (
    AddressEntry,
    Cents,
    EmailEntry,
    EmailOut,
    PhoneEntry,
    PhoneOut,
    ReadModel,
    Timestamp,
    WebUrl,
    WriteModel,
    partial_model,
)
from geniziz.contacts.schemas import ContactRead
from geniziz.custom.records import CustomBody, with_custom


class LeadCreate(CustomBody, WriteModel):
    name: Annotated[str, Field(min_length=1, max_length=500)]
    url: WebUrl | None = None
    description: Annotated[str, Field(max_length=20000)] | None = None
    industry: Annotated[str, Field(max_length=200)] | None = None
    status_id: str | None = Field(None, description="A lead status of this workspace; defaults to the first one.")
    owner_id: str | None = Field(None, description="A member of this workspace.")
    mrr: Cents | None = None
    emails: Annotated[list[EmailEntry], Field(max_length=50)] = []
    phones: Annotated[list[PhoneEntry], Field(max_length=50)] = []
    addresses: Annotated[list[AddressEntry], Field(max_length=20)] = []


LeadUpdate = with_custom(partial_model(LeadCreate, "LeadFields", not_null={"status_id"}), "LeadUpdate")


class AddressOut(ReadModel):
    label: str | None = None
    address_1: str | None = None
    address_2: str | None = None
    city: str | None = None
    state: str | None = None
    zipcode: str | None = None
    country: str | None = None


class LeadRead(ReadModel):
    id: str
    name: str
    url: str | None
    description: str | None
    industry: str | None
    status_id: str
    owner_id: str | None
    mrr: int | None
    emails: list[EmailOut]
    phones: list[PhoneOut]
    addresses: list[AddressOut]
    contacts: list[ContactRead]
    custom: dict[str, Any] = Field({}, description="Custom field values by name; each is also a custom.<field ID> key.")
    date_created: Timestamp
    date_updated: Timestamp
    created_by: str | None
    updated_by: str | None


class LeadFilters(WriteModel):
    status_id: str | None = None
    owner_id: str | None = None
    query: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="Matches the lead name, its contacts' names, emails and phones.")
