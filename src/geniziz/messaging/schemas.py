"""Connected accounts and email templates: what clients write and read. Passwords are write-only."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, model_validator

from geniziz.activities.schemas import Attachment, AttachmentOut
from geniziz.api.schemas import EmailAddress, PhoneNumber, ReadModel, Timestamp, WebUrl, WriteModel, partial_model

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
SMS_FIELDS = frozenset({"sms_base_url", "sms_account_sid", "sms_token"})
SECRETS = ("smtp_password", "imap_password", "sms_token")


# --- connected accounts ----------------------------------------------------------------------------
class ConnectedAccountCreate(WriteModel):
    kind: Literal["email", "sms"] = Field("email", description=(
        "email (SMTP to send; IMAP to receive) or sms (a Twilio-compatible REST API). Cannot be changed."))
    email: EmailAddress | None = Field(None, description="The address messages are sent from (email accounts).")
    display_name: Annotated[str, Field(max_length=200)] | None = Field(None, description="The From name.")
    user_id: str | None = Field(None, description="Whose account it is (a member); defaults to the caller. "
                                                  "Only admins may name another member.")
    is_shared: bool = Field(False, description="Admins only: every member may send through it.")
    smtp_host: Host | None = Field(None, description="Required for email accounts.")
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
    sms_base_url: WebUrl | None = Field(None, description="SMS accounts: the provider's API root, e.g. "
                                                          "https://api.twilio.com.")
    sms_account_sid: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")] | None = Field(
        None, description="SMS accounts: the account SID (the Basic auth user).")
    sms_token: Secret | None = Field(None, description="SMS accounts: the auth token. Write-only.")
    phone_numbers: Annotated[list[PhoneNumber], Field(max_length=50)] | None = Field(
        None, description="SMS accounts: the numbers it sends from (E.164); the first is the default.")


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
    sms_base_url: str | None = None
    sms_account_sid: str | None = None
    has_sms_token: bool = False
    phone_numbers: list[str] | None = None
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
    kind: Literal["email", "sms"] | None = None


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


# --- conversations -------------------------------------------------------------------------------------
Channel = Literal["email", "sms"]


class ConversationCreate(WriteModel):
    contact_id: str | None = Field(None, description="The contact the thread is with; its lead is the "
                                                     "conversation's.")
    lead_id: str | None = Field(None, description="Taken from the contact when only contact_id is given.")
    subject: Annotated[str, Field(max_length=1000)] | None = Field(None, description="Default subject of its emails.")
    channels: Annotated[list[Channel], Field(max_length=2)] = Field(
        [], description="email and/or sms; the channels of its messages are added.")


class ConversationUpdate(WriteModel):
    """Partial update: only the fields sent change."""

    contact_id: str | None = Field(None, description="Another contact of the same lead.")
    subject: Annotated[str, Field(max_length=1000)] | None = None
    channels: Annotated[list[Channel], Field(max_length=2)] | None = None
    is_unread: bool | None = Field(None, description="false marks every message read; true marks the latest "
                                                     "message unread.")


ConversationUpdate.not_nullable = frozenset({"channels", "is_unread"})  # type: ignore[attr-defined]


class ConversationRead(ReadModel):
    id: str
    lead_id: str
    contact_id: str | None
    subject: str | None
    channels: list[str]
    participants: list[str] = Field(description="Addresses and numbers of its messages, in order of appearance.")
    thread_id: str | None = Field(description="The email thread its emails share.")
    n_messages: int
    n_unread: int
    is_unread: bool
    latest_message_id: str | None
    activity_at: Timestamp = Field(description="When its latest message happened.")
    date_deleted: Timestamp | None = Field(description="Set while it is deleted (hidden from lists; restorable).")
    date_created: Timestamp
    date_updated: Timestamp
    created_by: str | None
    updated_by: str | None

    @model_validator(mode="before")
    @classmethod
    def _unread(cls, obj: object) -> object:
        if hasattr(obj, "n_unread"):  # from the record
            obj = {name: getattr(obj, name) for name in cls.model_fields if hasattr(obj, name)} | {
                "is_unread": bool(obj.n_unread)}
        return obj


class ConversationDetail(ConversationRead):
    messages: list[dict[str, Any]] = Field(description=(
        "Its email, SMS and note activities, oldest first, each with its type's fields, `_type` and is_unread."))


class ConversationFilters(WriteModel):
    lead_id: str | None = None
    contact_id: str | None = None
    channel: Channel | None = Field(None, description="Only conversations with this channel.")
    is_unread: bool | None = None
    is_deleted: bool = Field(False, description="true lists the deleted ones (to restore) instead.")


MessageType = Literal["note", "email", "sms"]
# What each message type accepts besides type, status and date_scheduled (checked by its activity schema).
MESSAGE_FIELDS: dict[str, frozenset[str]] = {
    "note": frozenset({"note", "note_html"}),
    "email": frozenset({"subject", "body_text", "body_html", "sender", "to", "cc", "bcc", "template_id",
                        "attachments", "status", "date_scheduled"}),
    "sms": frozenset({"text", "local_phone", "remote_phone", "status", "date_scheduled"}),
}


class MessageRead(ReadModel):
    """The message created: its activity's fields (by type), in the conversation."""

    model_config = ConfigDict(extra="allow")

    id: str
    type_: str = Field(serialization_alias="_type", description="note, email or sms.")
    conversation_id: str
    is_unread: bool
    status: str | None = None
