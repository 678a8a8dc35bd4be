"""Outbound HTTP to a mailing platform: only to the connection's own host, never to a private or loopback
address unless the operator allows it (GENIZIZ_ALLOW_PRIVATE_HOSTS), no redirects followed, and the
platform's answers sorted into what the export does next (wait, retry, stop)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from geniziz.config import get_settings
from geniziz.db import utcnow

TIMEOUT = httpx.Timeout(30.0, connect=10.0)
MAX_WAIT = 3600.0  # a rate-limit hint beyond an hour is capped: the export tries again then


class PlatformError(Exception):
    """The platform refused or failed. ``permanent``: retrying the same request cannot help (bad key,
    unknown list); otherwise the step is retried with backoff."""

    def __init__(self, message: str, *, permanent: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status = status


class RateLimited(Exception):
    """A 429: try again after ``wait`` seconds (the platform's hint)."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"rate limited: retry in {wait:g} s")
        self.wait = wait


class HostRefused(ValueError):
    pass


def _private(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not ip.is_global or ip.is_multicast


async def check_url(url: str) -> None:
    """A URL outbound requests may go to: http(s), and (unless allowed) a host that resolves only to
    public addresses. Checked again before every request, so a name that later resolves inward is refused."""
    parts = urlsplit(url)
    allow = get_settings().allow_private_hosts
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise HostRefused("must be an http(s) URL with a host")
    if parts.scheme == "http" and not allow:
        raise HostRefused("must use https")
    if allow:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443,
                                                             type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise HostRefused(f"host {parts.hostname} cannot be resolved ({exc.strerror})") from None
    if any(_private(info[4][0]) for info in infos):
        raise HostRefused(f"host {parts.hostname} is a private, loopback or link-local address "
                          "(set GENIZIZ_ALLOW_PRIVATE_HOSTS to allow it)")


def retry_after(response: httpx.Response, default: float = 10.0) -> float:
    """Seconds to wait from a 429: Retry-After (seconds or an HTTP date), or Brevo's x-sib-ratelimit-reset."""
    for header in ("retry-after", "x-sib-ratelimit-reset"):
        value = response.headers.get(header)
        if not value:
            continue
        try:
            wait = float(value)
        except ValueError:
            try:
                wait = (parsedate_to_datetime(value) - utcnow()).total_seconds()
            except (TypeError, ValueError):
                continue
        return min(max(wait, 0.0), MAX_WAIT)
    return default


def _reason(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        if isinstance(body.get("errors"), list) and body["errors"] and isinstance(body["errors"][0], dict):
            first = body["errors"][0]  # Klaviyo (JSON:API)
            return str(first.get("detail") or first.get("title") or first)[:300]
        for key in ("detail", "message", "title", "error"):  # Mailchimp, Brevo
            if body.get(key):
                return str(body[key])[:300]
    return str(body)[:300]


async def request(method: str, base_url: str, path: str, *, headers: dict[str, str],
                  auth: tuple[str, str] | None = None, json: Any = None, params: dict[str, Any] | None = None,
                  ok: tuple[int, ...] = (200, 201, 202)) -> httpx.Response:
    url = base_url.rstrip("/") + path
    await check_url(url)
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client:
            response = await client.request(method, url, headers=headers, auth=auth, json=json, params=params)
    except httpx.HTTPError as exc:
        raise PlatformError(f"{method} {path}: {type(exc).__name__}: {exc}") from None
    if response.status_code in ok:
        return response
    if response.status_code == 429:
        raise RateLimited(retry_after(response))
    reason = f"{method} {path} -> {response.status_code}: {_reason(response)}"
    # 4xx other than a timeout or a conflict will answer the same again; 5xx may pass.
    permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 409)
    raise PlatformError(reason, permanent=permanent, status=response.status_code)
