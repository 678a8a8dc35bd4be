"""API-key authentication: one indexed lookup of the key's digest, cached briefly in-process."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select

from geniziz.db import Database
from geniziz.identity.models import ApiKey, Membership

KEY_PREFIX = "gz_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user acting in one workspace through one API key."""

    organization_id: str
    user_id: str
    role: str
    api_key_id: str

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
    username, sep, _password = decoded.partition(":")
    return username if sep and username else None


def key_from_bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


class KeyResolver:
    """Resolves a secret to its Principal. Cached for ``ttl`` seconds, so revocation takes effect that fast."""

    def __init__(self, db: Database, ttl: float) -> None:
        self.db = db
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def resolve(self, secret: str | None) -> Principal | None:
        if not secret or len(secret) > 200:
            return None
        key_digest = digest(secret)
        now = time.monotonic()
        cached = self._cache.get(key_digest)
        if cached and cached[0] > now:
            return cached[1]
        async with self.db.read_session() as session:
            row = (await session.execute(
                select(ApiKey.id, ApiKey.organization_id, ApiKey.user_id, Membership.role)
                .join(Membership, (Membership.user_id == ApiKey.user_id)
                      & (Membership.organization_id == ApiKey.organization_id))
                .where(ApiKey.digest == key_digest)
            )).first()
        principal = Principal(row.organization_id, row.user_id, row.role, row.id) if row else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key_digest] = (now + self.ttl, principal)
        return principal

    def forget(self) -> None:
        """Drop cached lookups (after this process revokes a key or changes a role)."""
        self._cache.clear()
