"""API-key lookup: one indexed query on the key's digest, cached briefly in-process."""

from __future__ import annotations

from cachetools import TTLCache
from sqlalchemy import select

from geniziz.api.auth import Principal, digest
from geniziz.db import Database
from geniziz.identity.models import ApiKey, Membership


class KeyResolver:
    """Resolves a secret to its Principal. Cached for ``ttl`` seconds, so revocation takes effect that fast."""

    def __init__(self, db: Database, ttl: float) -> None:
        self.db = db
        self._cache: TTLCache[str, Principal | None] = TTLCache(maxsize=10_000, ttl=ttl)

    async def resolve(self, secret: str | None) -> Principal | None:
        if not secret or len(secret) > 200:
            return None
        key_digest = digest(secret)
        if key_digest in self._cache:
            return self._cache[key_digest]
        async with self.db.system_session() as session:  # the key says which workspace
            row = (await session.execute(
                select(ApiKey.id, ApiKey.organization_id, ApiKey.user_id, Membership.role)
                .join(Membership, (Membership.user_id == ApiKey.user_id)
                      & (Membership.organization_id == ApiKey.organization_id))
                .where(ApiKey.digest == key_digest)
            )).first()
        principal = Principal(row.organization_id, row.user_id, row.role, row.id) if row else None
        self._cache[key_digest] = principal
        return principal

    def forget(self) -> None:
        """Drop cached lookups (after this process revokes a key or changes a role)."""
        self._cache.clear()
