"""Connected accounts and email templates: what clients write and read. Passwords are write-only."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from geniziz.activities.schemas import Attachment, AttachmentOut
from geniziz.api.schemas import EmailAddress, ReadModel, Timestamp, WriteModel, partial_model

TlsMode = Literal["ssl", "starttls", "none"]
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")


def check_host(value: str) -> str:
    """A DNS name or an IP address: anything else could not be connected to (or would crash the resolver)."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        if not _HOSTNAME.match(value):
            raise ValueError("must be a host name or an IP address") from None
    return value


Host = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(check_host)]
Port = Annotated[int, Field(ge=1, le=65535)]
Name = Annotated[str, Field(max_length=320)]
# Kept exactly as sent: spaces may be part of a password (other text is stripped by WriteModel).
Secret = Annotated[str, StringConstraints(strip_whitespace=False, min_length=1, max_length=1000)]
Template = Annotated[str, Field(max_length=100_000)]

# The settings a connection test depends on: changing any of them tests the account again.
SMTP_FIELDS = frozenset({"smtp_host", "smtp_port", "smtp_tls", "smtp_username", "smtp_password"})
IMAP_FIELDS = frozenset({"imap_host", "imap_port", "imap_tls", "imap_username", "imap_password"})
SECRETS = ("smtp_password", "imap_password")


# --- connected accounts ----------------------------------------------------------------------------
class ConnectedAccountCreate(WriteModel):
    kind: Literal["email"] = Field("email", description="email (SMTP to send; IMAP stored for the sync to come).")
    email: EmailAddress = Field(description="The address messages are sent from.")
    display_name: Annotated[str, Field(max_length=200)] | None = Field(None, description="The From name.")
    user_id: str | None = Field(None, description="Whose account it is (a member); defaults to the caller. "
                                                  "Only admins may name another member.")
    is_shared: bool = Field(False, description="Admins only: every member may send through it.")
    smtp_host: Host
    smtp_port: Port | None = Field(None, description="Default: 465 for ssl, 587 for starttls, 25 for none.")
    smtp_tls: TlsMode = "starttls"
    smtp_username: Name | None = Field(None, description="Default: the email address.")
    smtp_password: Secret | None = Field(None, description="Write-only (an app password where the provider "
                                                           "has them). Without one, no AUTH is attempted.")
    imap_host: Host | None = Field(None, description="Set to receive mail: replies are synced into the timeline.")
    imap_port: Port | None = Field(None, description="Default: 993 for ssl, 143 otherwise.")
    imap_tls: TlsMode = "ssl"
    imap_username: Name | None = None
    imap_password: Secret | None = Field(None, description="Write-only.")
    max_per_day: Annotated[int, Field(ge=1, le=100_000)] = Field(400, description="Sends per rolling 24 h.")
    max_per_hour: Annotated[int, Field(ge=1, le=100_000)] = Field(100, description="Sends per rolling hour.")
    min_gap_seconds: Annotated[int, Field(ge=0, le=86_400)] = Field(5, description="Seconds between two sends.")


ConnectedAccountUpdate = partial_model(ConnectedAccountCreate, "ConnectedAccountUpdate")


class ConnectedAccountRead(ReadModel):
    id: str
    kind: str
    email: str
    display_name: str | None
    user_id: str
    is_shared: bool
    smtp_host: str | None
    smtp_port: int | None
    smtp_tls: str | None
    smtp_username: str | None
    has_smtp_password: bool = Field(description="Whether an SMTP password is stored (it is never returned).")
    imap_host: str | None
    imap_port: int | None
    imap_tls: str | None
    imap_username: str | None
    has_imap_password: bool
    max_per_day: int
    max_per_hour: int
    min_gap_seconds: int
    last_tested_at: Timestamp | None
    last_test_error: str | None
    date_created: Timestamp
    date_updated: Timestamp
    created_by: str | None
    updated_by: str | None

    @model_validator(mode="before")
    @classmethod
    def _flags(cls, obj: object) -> object:
        if hasattr(obj, "secrets_set"):  # from the record: only whether each secret is set
            names = set(obj.secrets_set or ())
            obj = {name: getattr(obj, name) for name in cls.model_fields if hasattr(obj, name)} | {
                f"has_{name}": name in names for name in SECRETS}
        return obj


class ConnectedAccountFilters(WriteModel):
    user_id: str | None = None
    kind: Literal["email"] | None = None


class ConnectionTestRead(ReadModel):
    ok: bool
    detail: str = Field(description="The server's name when it worked; its reason when it did not.")
    last_tested_at: Timestamp


# --- email templates ---------------------------------------------------------------------------------
class EmailTemplateCreate(WriteModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    subject: Template = ""
    body_text: Template | None = None
    body_html: Template | None = Field(None, description="Sanitized when rendered.")
    attachments: Annotated[list[Attachment], Field(max_length=50)] = Field([], description="Metadata only.")
    is_shared: bool = Field(False, description="Shared with the workspace; private ones are their author's.")


EmailTemplateUpdate = partial_model(EmailTemplateCreate, "EmailTemplateUpdate")


class EmailTemplateRead(ReadModel):
    id: str
    name: str
    subject: str
    body_text: str | None
    body_html: str | None
    attachments: list[AttachmentOut]
    is_shared: bool
    date_created: Timestamp
    date_updated: Timestamp
    created_by: str | None
    updated_by: str | None


class EmailTemplateFilters(WriteModel):
    is_shared: bool | None = None


class RenderedTemplate(ReadModel):
    template_id: str
    lead_id: str | None
    contact_id: str | None
    subject: str
    body_text: str | None
    body_html: str | None = Field(description="Rendered, then sanitized (nh3).")


# --- the suppression list ------------------------------------------------------------------------------
UnsubscribeSource = Literal["manual", "one_click", "bounce", "complaint", "import"]


class UnsubscribedEmailCreate(WriteModel):
    email: EmailAddress = Field(description="Stored lower-cased: one entry covers every spelling.")
    source: UnsubscribeSource = Field("manual", description="Why it is on the list.")
    reason: Annotated[str, Field(max_length=1000)] | None = None


class UnsubscribedEmailRead(ReadModel):
    id: str
    email: str
    source: str
    reason: str | None
    date_created: Timestamp
    created_by: str | None


class UnsubscribedEmailFilters(WriteModel):
    email: Annotated[str, Field(max_length=320)] | None = None
    source: UnsubscribeSource | None = None

# --- receiving mail (IMAP sync) -----------------------------------------------------------------------
class SyncFolderRead(ReadModel):
    folder: str
    uidvalidity: int | None = Field(description="The folder's UIDVALIDITY the cursor belongs to.")
    last_uid: int = Field(description="The cursor: every message up to this UID is stored.")
    highestmodseq: int | None = Field(description="HIGHESTMODSEQ at the last sync, where the server offers it.")
    last_sync_at: Timestamp | None
    last_error: str | None = Field(description="Why the last sync failed; null once one succeeds.")
    fetched: int = Field(description="Messages stored from this folder.")
    resyncs: int = Field(description="UIDVALIDITY changes seen (each restarts this folder only).")
    reconciled_at: Timestamp | None
    server_count: int | None = Field(description="Messages on the server at the last reconciliation.")
    stored_count: int | None = Field(description="Of those below the cursor, how many were stored.")
    missing: list[str] = Field(description="Message-IDs the last reconciliation found missing (then fetched).")


class SyncOutcomes(ReadModel):
    activity: int = Field(description="Became inbound email activities.")
    own: int = Field(description="Copies of emails we sent.")
    duplicate: int = Field(description="Already stored from another folder, account or UIDVALIDITY.")
    unmatched: int = Field(description="No thread and no known contact: kept, not on any timeline.")
    error: int = Field(description="Could not be read or recorded: kept with the reason.")


class SyncStateRead(ReadModel):
    account_id: str
    enabled: bool = Field(description="Whether the account has IMAP settings (and so is synced).")
    healthy: bool = Field(description="Synced, no error, nothing missing, nothing unreadable.")
    last_sync_at: Timestamp | None
    outcomes: SyncOutcomes
    folders: list[SyncFolderRead]


class SyncQueued(ReadModel):
    account_id: str
    job_ids: list[str] = Field(description="One sync job per folder (see /job/).")
