"""Rate limits per endpoint group, per API key and (several times higher) per workspace.

Counters live in memory, or in Redis when GENIZIZ_REDIS_URL is set so that every server process
draws on one budget. Fixed windows: cheap to count and they give a precise reset time.
"""

from __future__ import annotations

import math
import time
from urllib.parse import parse_qs
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter

from geniziz.api.action import rate_group
from geniziz.config import Settings

GROUPS = ("read", "write", "heavy")


def endpoint_group(method: str, path: str, query_string: bytes) -> str:
    """An action's declared group; else searches (a ``query`` parameter) are heavy, other GETs read, the
    rest write. The parameters are parsed as the app parses them, so ``?%71uery=`` is a search too."""
    if declared := rate_group(method, path):
        return declared
    reading = method in ("GET", "HEAD", "OPTIONS")
    if reading and "query" in parse_qs(query_string.decode("latin-1"), keep_blank_values=True):
        return "heavy"
    return "read" if reading else "write"


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the window resets

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
            # The combined draft form, which some clients (e.g. closeio_api) read on a 429.
            "RateLimit": f"limit={self.limit}, remaining={self.remaining}, reset={self.reset}",
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset)
        return headers


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        storage: Storage = (
            RedisStorage(settings.redis_url.replace("redis://", "async+redis://", 1)
                         if settings.redis_url.startswith("redis://") else settings.redis_url,
                         implementation="redispy")
            if settings.redis_url else MemoryStorage()
        )
        self.storage = storage
        self.limiter = FixedWindowRateLimiter(storage)
        self.per_key: dict[str, RateLimitItem] = {
            "read": parse(settings.rate_limit_read),
            "write": parse(settings.rate_limit_write),
            "heavy": parse(settings.rate_limit_heavy),
        }
        self.per_org: dict[str, RateLimitItem] = {
            group: type(item)(item.amount * settings.rate_limit_org_multiplier, item.multiples, item.namespace)
            for group, item in self.per_key.items()
        }

    async def hit(self, group: str, api_key_id: str, organization_id: str) -> Verdict:
        """Count one request against the key's and the workspace's budgets; report the tighter one."""
        verdicts = []
        for item, who in ((self.per_key[group], api_key_id), (self.per_org[group], organization_id)):
            allowed = await self.limiter.hit(item, group, who)
            stats = await self.limiter.get_window_stats(item, group, who)
            reset = max(1, math.ceil(stats.reset_time - time.time()))
            verdicts.append(Verdict(allowed, item.amount, max(0, stats.remaining), reset))
            if not allowed:  # don't spend the workspace budget on a request the key may not make
                return verdicts[-1]
        return min(verdicts, key=lambda v: (v.remaining / v.limit, -v.reset))
