"""The shape every platform adapter has: verify a key, list audiences, push a batch, poll an import."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Connection:
    api_key: str
    base_url: str  # where requests go: the connection's own URL, or the platform's API host


@dataclass(frozen=True)
class Person:
    """One contact as pushed: the lower-cased address, names, company and the mapped fields' values."""

    email: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Pushed:
    """What a push answered: per-address failures known now (synchronous platforms), and for
    asynchronous ones the import job to poll."""

    failures: dict[str, str] = field(default_factory=dict)
    job_id: str | None = None


@dataclass(frozen=True)
class Polled:
    done: bool
    failures: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # the whole import failed (cancelled, rejected): every address in it failed


@dataclass(frozen=True)
class ConfigField:
    name: str
    type: str
    required: bool
    description: str


class Adapter:
    name: ClassVar[str]
    title: ClassVar[str]
    max_batch: ClassVar[int]  # the platform's documented limit per call
    asynchronous: ClassVar[bool]  # imports run on the platform and are polled
    docs: ClassVar[str]
    list_id_pattern: ClassVar[str] = r"^[0-9A-Za-z_-]{1,100}$"

    def base_url(self, api_key: str) -> str:
        raise NotImplementedError

    def key_problem(self, api_key: str) -> str | None:
        """Why a key cannot be one of this platform's (checked before any request), or None."""
        return None

    async def verify(self, conn: Connection) -> str:
        """Check the key against the platform; the account's name."""
        raise NotImplementedError

    async def audiences(self, conn: Connection) -> list[dict[str, Any]]:
        """The lists an export can push into: ``{"id", "name", "member_count"}``."""
        raise NotImplementedError

    async def push(self, conn: Connection, list_id: str, people: list[Person], options: dict[str, Any]) -> Pushed:
        """Add or update ``people`` in the list, by address (an upsert: none of these platforms takes an
        idempotency key, and a repeat of a push changes nothing)."""
        raise NotImplementedError

    async def poll(self, conn: Connection, job_id: str) -> Polled:
        raise NotImplementedError
