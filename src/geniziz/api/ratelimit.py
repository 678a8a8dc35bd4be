"""Rate limits per endpoint group, per API key and (several times higher) per workspace.

Counters live in memory, or in Redis when GENIZIZ_REDIS_URL is set so that every server process
draws on one budget. Fixed windows that open with their first request: cheap to count, with a precise
reset time; both budgets of a request are counted, and their resets read, in one Redis round trip (a
Lua script), where counting and reading each window separately took up to six.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qs

from limits import RateLimitItem, parse
from redis.asyncio import Redis

from geniziz.api.action import rate_group
from geniziz.config import Settings

GROUPS = ("read", "write", "heavy")


def endpoint_group(method: str, path: str, query_string: bytes) -> str:
    """An action's declared group; else searches (a ``query`` parameter) are heavy, other GETs read, the
    rest write. The parameters are parsed as the app parses them, so ``?%71uery=`` is a search too."""
    if declared := rate_group(method, path):
        return declared
    reading = method in ("GET", "HEAD", "OPTIONS")
    # Parsed only when it could name `query` (spelled out, or percent-encoded).
    if reading and (b"query" in query_string or b"%" in query_string) \
            and "query" in parse_qs(query_string.decode("latin-1"), keep_blank_values=True):
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


class Counters(Protocol):
    async def count(self, windows: list[tuple[str, int, int]]) -> list[tuple[int, float]]:
        """Add one to each window ``(key, seconds it lasts, limit)`` in order; return each one's new count
        and the seconds until it resets, stopping after the first that went over its limit (the later
        windows are not spent)."""


class MemoryCounters:
    """One process's counters; expired windows are swept from time to time."""

    def __init__(self) -> None:
        self.windows: dict[str, list[float]] = {}  # key -> [count, resets at]
        self.next_sweep = 0.0

    async def count(self, windows: list[tuple[str, int, int]]) -> list[tuple[int, float]]:
        now = time.time()
        if now >= self.next_sweep:
            self.windows = {key: w for key, w in self.windows.items() if w[1] > now}
            self.next_sweep = now + 10
        counts = []
        for key, seconds, limit in windows:
            window = self.windows.get(key)
            if window is None or window[1] <= now:
                window = self.windows[key] = [0, now + seconds]
            window[0] += 1
            counts.append((int(window[0]), window[1] - now))
            if window[0] > limit:
                break
        return counts


class RedisCounters:
    """Shared by every process on one Redis: a request's windows counted by one script call."""

    SCRIPT = """
    local out = {}
    for i, key in ipairs(KEYS) do
      local n = redis.call('INCR', key)
      if n == 1 then redis.call('PEXPIRE', key, ARGV[2 * i - 1]) end
      out[2 * i - 1] = n
      out[2 * i] = redis.call('PTTL', key)
      if n > tonumber(ARGV[2 * i]) then break end
    end
    return out
    """

    def __init__(self, url: str) -> None:
        self.redis = Redis.from_url(url)
        self.script = self.redis.register_script(self.SCRIPT)

    async def count(self, windows: list[tuple[str, int, int]]) -> list[tuple[int, float]]:
        args = [value for _, seconds, limit in windows for value in (seconds * 1000, limit)]
        out = await self.script(keys=[key for key, _, _ in windows], args=args)
        return [(int(out[i]), max(0, int(out[i + 1])) / 1000) for i in range(0, len(out), 2)]


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.counters: Counters = RedisCounters(settings.redis_url) if settings.redis_url else MemoryCounters()
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
        """Count one request against the key's and the workspace's budgets; report the tighter one. A request
        the key may not make does not spend the workspace's budget."""
        budgets = [(self.per_key[group], f"k:{api_key_id}"), (self.per_org[group], f"o:{organization_id}")]
        windows = [(f"rl:{group}:{who}:{item.get_expiry()}", item.get_expiry(), item.amount) for item, who in budgets]
        verdicts = [Verdict(n <= item.amount, item.amount, max(0, item.amount - n), max(1, math.ceil(left)))
                    for (n, left), (item, _) in zip(await self.counters.count(windows), budgets)]
        if not verdicts[-1].allowed:
            return verdicts[-1]
        return min(verdicts, key=lambda v: (v.remaining / v.limit, -v.reset))
