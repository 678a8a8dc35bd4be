"""API keys: their format, their digest, and reading them from a request. The lookup is identity.keys."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass


KEY_PREFIX = "gz_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user acting in one workspace through one API key."""

    organization_id: str
    user_id: str
    role: str
    api_key_id: str
    # The workspace's custom_fields_version when the key was looked up (None: not known, read the definitions
    # afresh). Cached with the key, so another process's change to the definitions shows within the key's TTL.
    fields_version: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def generate_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    # Keys are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def key_from_basic(header: str | None) -> str | None:
    """The API key from ``Authorization: Basic base64(KEY:)``, or None if the header is not that."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    # The key is the username and the password is empty: anything else is not our scheme.
    return username if sep and username and not password else None


def key_from_bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None
