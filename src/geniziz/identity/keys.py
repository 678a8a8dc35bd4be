"""API-key lookup: one indexed query on the key's digest, cached briefly in-process. It also reads the
workspace's custom_fields_version, which tells the cached custom field definitions when they are stale."""

from __future__ import annotations

from weakref import WeakSet

from cachetools import TTLCache
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from geniziz.api.auth import Principal, digest
from geniziz.db import Database
from geniziz.identity.models import ApiKey, Membership, Organization


class KeyResolver:
    """Resolves a secret to its Principal. Cached for ``ttl`` seconds: revocation and role changes take
    effect at once in the process that made them (``forget_after_commit``), within ``ttl`` elsewhere."""

    _live: WeakSet[KeyResolver] = WeakSet()

    def __init__(self, db: Database, ttl: float) -> None:
        self.db = db
        self._cache: TTLCache[str, Principal | None] = TTLCache(maxsize=10_000, ttl=ttl)
        KeyResolver._live.add(self)

    async def resolve(self, secret: str | None) -> Principal | None:
        if not secret or len(secret) > 200:
            return None
        key_digest = digest(secret)
        if key_digest in self._cache:
            return self._cache[key_digest]
        async with self.db.system_session() as session:  # the key says which workspace
            row = (await session.execute(
                select(ApiKey.id, ApiKey.organization_id, ApiKey.user_id, Membership.role,
                       Organization.custom_fields_version)
                .join(Membership, (Membership.user_id == ApiKey.user_id)
                      & (Membership.organization_id == ApiKey.organization_id))
                .join(Organization, Organization.id == ApiKey.organization_id)
                .where(ApiKey.digest == key_digest)
            )).first()
        principal = (Principal(row.organization_id, row.user_id, row.role, row.id, row.custom_fields_version)
                     if row else None)
        self._cache[key_digest] = principal
        return principal

    def forget(self) -> None:
        """Drop cached lookups (after this process revokes a key or changes a role)."""
        self._cache.clear()


def forget_after_commit(session: AsyncSession) -> None:
    """Once this session commits (a key deleted, a membership removed or its role changed), every
    resolver of this process drops its cached lookups: the change holds from the next request on."""
    def forget(_session: object) -> None:
        for resolver in list(KeyResolver._live):
            resolver.forget()

    event.listen(session.sync_session, "after_commit", forget, once=True)
