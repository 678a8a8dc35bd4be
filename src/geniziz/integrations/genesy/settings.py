"""Which header carries Genesy's API key: one name per workspace, in Organization.settings["genesy"]."""

from __future__ import annotations

import re
from typing import Any

from cachetools import TTLCache

from geniziz.db import Database
from geniziz.identity.models import Organization

BASE_PATH = "/genesy"
DEFAULT_HEADER = "X-API-Key"

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 7230 token: what a header name may be
# Headers that HTTP, proxies or browsers give a meaning of their own: a key there would be rewritten,
# dropped or logged on its way in.
_RESERVED = frozenset({
    "accept", "accept-charset", "accept-encoding", "accept-language", "authorization", "cache-control",
    "connection", "content-encoding", "content-length", "content-type", "cookie", "expect", "forwarded", "host",
    "keep-alive", "origin", "referer", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "via",
    "x-real-ip", "x-request-id", "geniziz-scope",
})
_RESERVED_PREFIXES = ("proxy-", "x-forwarded-", "sec-")


def check_header_name(name: str) -> str:
    """A header name a workspace may choose for its Genesy key; raises ValueError otherwise."""
    if not _TOKEN.fullmatch(name):
        raise ValueError("not a valid HTTP header name (letters, digits and !#$%&'*+.^_`|~- only)")
    lowered = name.lower()
    if lowered in _RESERVED or lowered.startswith(_RESERVED_PREFIXES):
        raise ValueError(f"{name} is a standard HTTP header and cannot carry the API key")
    return name


def header_of(settings: dict[str, Any] | None) -> str:
    return ((settings or {}).get("genesy") or {}).get("api_key_header") or DEFAULT_HEADER


def with_header(settings: dict[str, Any] | None, name: str) -> dict[str, Any]:
    # A new dict: the JSON column only notices a change when it is assigned a new value.
    settings = dict(settings or {})
    settings["genesy"] = {**(settings.get("genesy") or {}), "api_key_header": name}
    return settings


class HeaderCache:
    """Each workspace's header name, read on every Genesy request, so cached like API keys (``ttl`` seconds)."""

    def __init__(self, db: Database, ttl: float) -> None:
        self.db = db
        self._cache: TTLCache[str, str] = TTLCache(maxsize=10_000, ttl=ttl)

    async def header(self, organization_id: str) -> str:
        if (name := self._cache.get(organization_id)) is not None:
            return name
        async with self.db.system_session() as session:  # before any workspace is known
            org = await session.get(Organization, organization_id)
        name = self._cache[organization_id] = header_of(org.settings if org else None)
        return name

    def forget(self, organization_id: str) -> None:
        self._cache.pop(organization_id, None)
