"""Genesy's request shapes (camelCase, unknown fields ignored, JSON types enforced) and the settings
resource of the main API."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, AliasChoices, ConfigDict, Field, StrictBool, StrictStr
from pydantic.alias_generators import to_camel

from geniziz.api.schemas import ReadModel, WriteModel
from geniziz.integrations.genesy.settings import check_header_name

# Ids per batch request. Genesy sends up to 100; twice that leaves room and matches the API's page size.
BATCH_LIMIT = 200

Text = StrictStr | None
Id = Annotated[StrictStr, Field(min_length=1, max_length=500)]
# What browsers ignore in a scheme ("java\tscript:"), then a scheme that is not a port ("acme.example:8080").
_IGNORED = re.compile(r"[\x00-\x20\x7f]")
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):(?!\d)", re.IGNORECASE)


def no_script_url(value: str | None) -> str | None:
    """Genesy sends URLs and domains with or without http(s)://; any other scheme (javascript:, data:)
    would run script where the value is linked, so it is refused."""
    if value and (match := _SCHEME.match(_IGNORED.sub("", value))) and match[1].lower() not in ("http", "https"):
        raise ValueError("must be an http(s) URL or a domain")
    return value


WebText = Annotated[Text, AfterValidator(no_script_url)]


class GenesyModel(WriteModel):
    # Genesy may add fields at any time: ignore what we do not know, but insist on the types we read.
    # (WriteModel still refuses text no backend can store.)
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


# --- tasks ---------------------------------------------------------------------------------------------
class TaskIn(GenesyModel):
    """PATCH /tasks/{id}: every field optional; POST /tasks requires a subject (TaskCreate checks it)."""

    subject: Text = None
    description: Text = None
    type: Text = Field(None, description="call, email, meeting or to_do; any other type is stored as to_do.")
    owner_id: Text = Field(None, description="A Geniziz user ID or a member's email.")
    due_date: Text = Field(None, description="ISO 8601, e.g. 2024-01-15T10:00:00Z.")
    contact_id: Text = Field(None, description="A Geniziz contact ID (the task goes on its lead) or a lead ID.")
    company_id: Text = Field(None, description="A Geniziz lead ID.")
    completed: StrictBool | None = None


class TaskCreateIn(TaskIn):
    subject: StrictStr


class TaskIds(GenesyModel):
    ids: Annotated[list[StrictStr], Field(max_length=BATCH_LIMIT)]


class TaskBatchComplete(TaskIds):
    completed: StrictBool


# --- contacts and companies -------------------------------------------------------------------------
class ContactFields(GenesyModel):
    email: Text = None
    first_name: Text = None
    last_name: Text = None
    phone: Text = None
    title: Text = None
    linkedin_url: WebText = None
    company: Text = Field(None, description="The company's name: the contact goes on the matching lead.")
    domain: WebText = None
    owner_id: Text = None


class ContactIn(ContactFields):
    external_id: Id


class ContactUpdateIn(ContactFields):
    crm_id: Id
    external_id: Id | None = None


class CompanyFields(GenesyModel):
    name: Text = None
    domain: WebText = None
    linkedin_url: WebText = None
    industry: Text = None
    description: Text = None
    owner_id: Text = None


class CompanyIn(CompanyFields):
    external_id: Id


class CompanyUpdateIn(CompanyFields):
    crm_id: Id
    external_id: Id | None = None


class ContactsIn(GenesyModel):
    contacts: Annotated[list[ContactIn], Field(max_length=BATCH_LIMIT)]


class ContactUpdatesIn(GenesyModel):
    contacts: Annotated[list[ContactUpdateIn], Field(max_length=BATCH_LIMIT)]


class CompaniesIn(GenesyModel):
    companies: Annotated[list[CompanyIn], Field(max_length=BATCH_LIMIT)]


class CompanyUpdatesIn(GenesyModel):
    companies: Annotated[list[CompanyUpdateIn], Field(max_length=BATCH_LIMIT)]


class AssociationIn(GenesyModel):
    # Genesy's documentation spells these "contactCRMId"; accept the camelCase spelling too.
    contact_crm_id: Id = Field(validation_alias=AliasChoices("contactCRMId", "contactCrmId"))
    company_crm_id: Id = Field(validation_alias=AliasChoices("companyCRMId", "companyCrmId"))


class AssociationsIn(GenesyModel):
    associations: Annotated[list[AssociationIn], Field(max_length=BATCH_LIMIT)]


# --- activities ---------------------------------------------------------------------------------------
class ActivityIn(GenesyModel):
    type: Annotated[StrictStr, Field(min_length=1, max_length=50, description=(
        "EMAIL (a Geniziz email), LINKEDIN, LINKEDIN_INMAIL, LINKEDIN_CONNECTION or another channel "
        "(a channel message on that channel)."))]
    subject: Text = None
    body: Text = None
    direction: Text = Field(None, description="INBOUND or OUTBOUND (the default).")
    owner_id: Text = None
    occurred_at: Text = None
    contact_id: Text = None
    company_id: Text = None
    metadata: dict[str, Any] | None = Field(None, description="metadata.messageId makes logging idempotent.")


# --- the workspace setting, under /api/v1 ------------------------------------------------------------
class GenesySettingsUpdate(WriteModel):
    api_key_header: Annotated[str, Field(min_length=1, max_length=100, description=(
        "The header Genesy sends the API key in, as configured in Genesy (default X-API-Key).")),
        AfterValidator(check_header_name)]


class GenesySettingsRead(ReadModel):
    api_key_header: str = Field(description="The header this workspace's Genesy connection sends its key in.")
    base_path: str = Field(description="Where the interface is mounted on this server.")
    base_url: str = Field(description="The base URL to enter in Genesy.")
