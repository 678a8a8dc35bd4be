from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from geniziz.activities.schemas import ActivityRead
from geniziz.api.schemas import ReadModel, Timestamp, WriteModel, partial_model
from geniziz.custom.records import CustomBody, with_custom

FieldType = Literal["text", "number", "date", "datetime", "choices", "boolean", "url", "user", "contact"]
Choice = Annotated[str, Field(min_length=1, max_length=200)]
ApiName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


# --- custom fields -----------------------------------------------------------------------------------------
class CustomFieldCreate(WriteModel):
    name: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="Unique (case-insensitively) among this object's fields; values can be written by it too.")
    type: FieldType
    accepts_multiple: bool = Field(False, description="choices, user and contact fields only: a list of values.")
    required: bool = Field(False, description="Creating a record (and clearing the value) needs a value.")
    choices: Annotated[list[Choice], Field(max_length=500)] | None = Field(
        None, description="The allowed values: required for type choices, and only for it.")
    description: Annotated[str, Field(max_length=5000)] | None = None
    indexed: bool = Field(False, description=(
        "Number, date and datetime fields: keep an index of the values so that range filters "
        "(custom.<field>__gte, ...) stay fast on many records; built in the background (a custom.field_index "
        "job), at the cost of one index entry per record holding a value."))


class CustomObjectFieldCreate(CustomFieldCreate):
    custom_object_type_id: str = Field(description="The custom object type the field belongs to.")


CustomFieldUpdate = partial_model(CustomFieldCreate, "CustomFieldUpdate")
# A field stays with its custom object type.
CustomObjectFieldUpdate = partial_model(CustomFieldCreate, "CustomObjectFieldUpdate")


class CustomObjectFieldFilters(WriteModel):
    custom_object_type_id: str | None = Field(None, description="Only this type's fields.")


class CustomFieldRead(ReadModel):
    id: str
    name: str
    type: str
    accepts_multiple: bool
    required: bool
    choices: list[str] | None
    description: str | None
    indexed: bool
    custom_object_type_id: str | None = None
    values_converted: int | None = Field(None, description=(
        "After an update that changed the type or accepts_multiple: how many records' values were converted."))
    date_created: Timestamp
    date_updated: Timestamp
    created_by: str | None
    updated_by: str | None


# --- custom object types ----------------------------------------------------------------------------------
class CustomObjectTypeCreate(WriteModel):
    name: Annotated[str, Field(min_length=1, max_length=200)] = Field(examples=["Subscription"])
    name_plural: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="Defaults to the name with an s.")
    api_name: ApiName | None = Field(None, description=(
        "Unique in the workspace, e.g. subscription; defaults to the name in lower case with underscores."))
    description: Annotated[str, Field(max_length=5000)] | None = None
    link_contact: bool = Field(False, description="Whether an instance may name a contact of its lead.")
    link_custom_object_type_id: str | None = Field(None, description=(
        "Another custom object type whose instances (on the same lead) an instance may name as parent_id."))


CustomObjectTypeUpdate = partial_model(CustomObjectTypeCreate, "CustomObjectTypeUpdate",
                                       not_null={"name", "name_plural", "api_name"})


class CustomObjectTypeRead(ReadModel):
    id: str
    name: str
    name_plural: str
    api_name: str
    description: str | None
    link_contact: bool
    link_custom_object_type_id: str | None
    fields: list[CustomFieldRead] = Field(description="Its custom fields (/custom_field/custom_object/).")
    date_created: Timestamp
    date_updated: Timestamp
    created_by: str | None
    updated_by: str | None


# --- custom objects (instances) ------------------------------------------------------------------------------
class CustomObjectCreate(CustomBody, WriteModel):
    custom_object_type_id: str
    lead_id: str | None = Field(None, description="The lead it is on; taken from the contact when only that is given.")
    contact_id: str | None = Field(None, description="A contact of that lead (types with link_contact only).")
    parent_id: str | None = Field(None, description="An instance of the type's link_custom_object_type_id, "
                                                    "on the same lead.")
    name: Annotated[str, Field(min_length=1, max_length=500)]


CustomObjectUpdate = with_custom(
    partial_model(CustomObjectCreate, "CustomObjectFields", not_null={"custom_object_type_id", "lead_id", "name"}),
    "CustomObjectUpdate")


class CustomObjectRead(ReadModel):
    id: str
    custom_object_type_id: str
    lead_id: str
    contact_id: str | None
    parent_id: str | None
    name: str
    custom: dict[str, Any] = Field(description="Custom field values by name; each is also a custom.<field ID> key.")
    date_created: Timestamp
    date_updated: Timestamp
    created_by: str | None
    updated_by: str | None


class CustomObjectFilters(WriteModel):
    custom_object_type_id: str | None = Field(None, description="Needed to filter on custom fields.")
    lead_id: str | None = None
    contact_id: str | None = None
    parent_id: str | None = None


class CustomObjectActivityRead(ActivityRead):
    """A custom object on the lead was created, changed or deleted."""

    custom_object_id: str
    custom_object_type_id: str
    custom_object_name: str
    action: str = Field(description="created, updated or deleted")
    changed: list[str] = Field(default_factory=list, description="The fields an update changed.")
