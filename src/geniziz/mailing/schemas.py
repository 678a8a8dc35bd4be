"""Mailing exports and platform connections: what clients write and read. API keys are write-only."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from geniziz.api.schemas import InputTimestamp, ReadModel, Timestamp, WebUrl, WriteModel

Platform = Literal["mailchimp", "brevo", "klaviyo"]
Status = Literal["queued", "running", "done", "failed"]
# Kept exactly as sent (WriteModel strips other text).
ApiKey = Annotated[str, StringConstraints(strip_whitespace=False, min_length=8, max_length=500,
                                          pattern=r"^[\x21-\x7e]+$")]
IdList = Annotated[list[Annotated[str, Field(max_length=40)]], Field(min_length=1, max_length=1000)]
# What a mapped platform field takes its value from.
Source = Literal["contact.name", "contact.title", "contact.phone", "contact.id", "lead.id", "lead.name", "lead.url",
                 "lead.industry", "lead.description", "lead.status"]
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z][A-Za-z0-9_$.-]*$")]


# --- connections ------------------------------------------------------------------------------------
class MailingConnectionCreate(WriteModel):
    platform: Platform = Field(description="mailchimp, brevo or klaviyo; one connection per platform.")
    api_key: ApiKey = Field(description="Write-only. Verified against the platform before it is stored.")
    base_url: WebUrl | None = Field(None, description="Where requests go (default: the platform's API host; "
                                                      "Mailchimp's from the key's datacenter).")


class MailingConnectionUpdate(WriteModel):
    api_key: ApiKey | None = Field(None, description="Write-only; verified again.")
    base_url: WebUrl | None = Field(None, description="Verified again; null for the platform's own host.")


class MailingConnectionRead(ReadModel):
    id: str
    platform: str
    base_url: str | None = Field(description="The URL set on the connection; null means the platform's own host.")
    has_api_key: bool = Field(True, description="Always true: the key is stored encrypted and never returned.")
    account_name: str | None
    last_verified_at: Timestamp | None
    date_created: Timestamp
    date_updated: Timestamp
    created_by: str | None
    updated_by: str | None


class MailingConnectionFilters(WriteModel):
    platform: Platform | None = None


# --- exports ----------------------------------------------------------------------------------------
class ExportFilters(WriteModel):
    """Which contacts: all conditions together. Contacts without an email address, and those whose first
    address is on the suppression list, are always left out; one address is pushed once."""

    lead_ids: IdList | None = Field(None, description="Contacts of these leads.")
    status_ids: IdList | None = Field(None, description="Contacts of leads in these lead statuses.")
    owner_ids: IdList | None = Field(None, description="Contacts of leads owned by these members.")
    lead_created_after: InputTimestamp | None = Field(None, description="Leads created at or after this time.")
    lead_created_before: InputTimestamp | None = Field(None, description="Leads created before this time.")
    contact_created_after: InputTimestamp | None = Field(None, description="Contacts created at or after this time.")
    contact_created_before: InputTimestamp | None = Field(None, description="Contacts created before this time.")
    lead_custom: Annotated[dict[str, Any], Field(max_length=20)] | None = Field(None, description=(
        "Leads' custom field values, as lead lists filter them: {\"custom.<field ID or name>[__gt|__gte|__lt|"
        "__lte|__is_set]\": value}."))
    contact_custom: Annotated[dict[str, Any], Field(max_length=20)] | None = Field(None, description=(
        "Contacts' custom field values, the same way."))


class ExportConfig(WriteModel):
    list_id: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="The platform's list (audience) to add or update the contacts in; see "
                    "/mailing_connection/{connection_id}/audiences/.")
    fields: Annotated[dict[FieldName, Source], Field(max_length=50)] = Field(
        {}, description="Extra platform fields and where each takes its value from, e.g. "
                        "{\"COMPANY\": \"lead.name\"} (a Mailchimp merge tag, a Brevo attribute, a Klaviyo property).")
    double_opt_in: bool = Field(False, description="Mailchimp: new members are 'pending' (confirmation email) "
                                                   "rather than 'subscribed'.")
    batch_size: Annotated[int, Field(ge=1, le=10_000)] | None = Field(
        None, description="Contacts per call (default and maximum: the platform's limit, 500 for Mailchimp, "
                          "5,000 for Brevo, 10,000 for Klaviyo).")


class MailingExportCreate(WriteModel):
    platform: Platform = Field(description="A platform connected in this workspace.")
    name: Annotated[str, Field(max_length=200)] | None = None
    filters: ExportFilters = Field(default_factory=ExportFilters)
    config: ExportConfig


class MailingExportRead(ReadModel):
    id: str
    platform: str
    connection_id: str | None
    name: str | None
    filters: dict[str, Any]
    config: dict[str, Any]
    status: Status = Field(description="queued (waiting for a worker), running, done, or failed (see error).")
    total: int = Field(description="Contacts matched when the export was created (the dry-run count).")
    pushed: int = Field(description="Accepted by the platform.")
    failed: int = Field(description="Refused by the platform, one by one (see failures on GET /mailing_export/{id}/).")
    skipped: int = Field(description="Left out after the count: unsubscribed or deleted since.")
    error: str | None = Field(description="Why the export failed or last waited.")
    next_attempt_at: Timestamp | None = Field(description="When a waiting export (rate limit, import in progress) "
                                                          "continues.")
    date_started: Timestamp | None
    date_finished: Timestamp | None
    date_created: Timestamp
    date_updated: Timestamp
    created_by: str | None
    updated_by: str | None


class ExportFailure(ReadModel):
    email: str
    contact_id: str | None
    state: Literal["failed", "skipped"]
    error: str | None


class MailingExportDetail(MailingExportRead):
    failures: list[ExportFailure] = Field([], description="Contacts not pushed and why (the first 1,000).")

    @model_validator(mode="before")
    @classmethod
    def _failures(cls, obj: Any) -> Any:
        if hasattr(obj, "failure_rows"):  # loaded by the service's get (service.MailingExportService.get)
            obj = {name: getattr(obj, name) for name in MailingExportRead.model_fields} | {"failures": obj.failure_rows}
        return obj


class MailingExportFilters(WriteModel):
    platform: Platform | None = None
    status: Status | None = None


# --- platforms ---------------------------------------------------------------------------------------
class ConfigFieldRead(ReadModel):
    name: str
    type: str
    required: bool
    description: str


class PlatformRead(ReadModel):
    name: str
    title: str
    connected: bool = Field(description="Whether this workspace has a verified connection to it.")
    connection_id: str | None
    account_name: str | None
    max_batch: int = Field(description="Contacts per call, the platform's documented limit.")
    asynchronous: bool = Field(description="Whether the platform imports in the background (polled).")
    docs: str
    config_fields: list[ConfigFieldRead]


class PlatformList(ReadModel):
    data: list[PlatformRead]
    has_more: bool


class AudienceRead(ReadModel):
    id: str
    name: str | None
    member_count: int | None


class AudienceList(ReadModel):
    data: list[AudienceRead]
    has_more: bool
