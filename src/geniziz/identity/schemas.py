from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, Field

from geniziz.api.schemas import EmailAddress, ReadModel, Timestamp, WriteModel

Role = Literal["admin", "member"]
Name = Annotated[str, Field(max_length=200)]


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _known_zone(value: str) -> str:
    if value not in _zones():
        raise ValueError("not an IANA time zone name, e.g. Europe/Madrid or America/New_York")
    return value


TimeZoneName = Annotated[str, Field(max_length=64), AfterValidator(_known_zone)]


class UserRead(ReadModel):
    id: str
    email: str
    name: str
    role: str
    date_created: Timestamp


class MembershipCreate(WriteModel):
    """Invite someone by email: their user is created if Geniziz does not know them yet."""

    email: EmailAddress
    name: Name | None = None
    role: Role = "member"


class MembershipUpdate(WriteModel):
    role: Role | None = None


MembershipUpdate.not_nullable = frozenset({"role"})  # type: ignore[attr-defined]


class MembershipRead(ReadModel):
    id: str
    organization_id: str
    user_id: str
    email: str
    name: str
    role: str
    date_created: Timestamp
    date_updated: Timestamp


class ApiKeyCreate(WriteModel):
    name: Name = ""
    user_id: str | None = Field(None, description="Admins only: create the key for another member.")


class ApiKeyRead(ReadModel):
    id: str
    organization_id: str
    user_id: str
    name: str
    hint: str = Field(description="The first characters of the secret, to tell keys apart.")
    date_created: Timestamp


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The secret. Shown once: it cannot be retrieved again.")


class MembershipOfMe(ReadModel):
    organization_id: str
    organization_name: str
    role: str


class MeRead(ReadModel):
    id: str
    email: str
    name: str
    organization_id: str = Field(description="The workspace this API key acts in.")
    role: str = Field(description="Your role in that workspace.")
    memberships: list[MembershipOfMe]
    date_created: Timestamp


class OrganizationCreate(WriteModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]


class OrganizationUpdate(WriteModel):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    time_zone: TimeZoneName | None = Field(None, description="An IANA zone, e.g. Europe/Madrid: where report days begin.")


class OrganizationRead(ReadModel):
    id: str
    name: str
    time_zone: str
    date_created: Timestamp
    date_updated: Timestamp


class OrganizationCreated(OrganizationRead):
    api_key: ApiKeyCreated = Field(description="Your key for the new workspace, shown once.")
