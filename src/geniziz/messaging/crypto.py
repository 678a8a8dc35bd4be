"""Credentials at rest: Fernet tokens under GENIZIZ_SECRET_KEY.

GENIZIZ_SECRET_KEY holds one Fernet key, or several separated by commas for rotation: the first
encrypts, any of them decrypts (MultiFernet). On the embedded SQLite default with no key set, a key
is generated on first use into a file next to the database (``<database>.key``, mode 0600). There is
no built-in key: on PostgreSQL without GENIZIZ_SECRET_KEY, credentials cannot be stored (400).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.engine import make_url

from geniziz.api.errors import APIError
from geniziz.config import get_settings


def key_file(database_url: str) -> Path | None:
    """Where the generated key lives for an SQLite file database (None for anything else)."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or not url.database or url.database == ":memory:":
        return None
    return Path(url.database + ".key")


def _read_or_create(path: Path) -> str:
    try:  # O_EXCL: of several processes starting together, one writes the key and the others read it
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(Fernet.generate_key().decode() + "\n")
    return path.read_text().strip()


@lru_cache
def _box(keys: str) -> MultiFernet:
    return MultiFernet([Fernet(key.strip()) for key in keys.split(",") if key.strip()])


def _keys() -> str:
    settings = get_settings()
    keys = settings.secret_key
    if not keys:
        path = key_file(settings.database_url)
        if path is None:
            raise APIError(400, "Credentials cannot be stored: set GENIZIZ_SECRET_KEY on this server "
                                "(a Fernet key: python -c 'from cryptography.fernet import Fernet; "
                                "print(Fernet.generate_key().decode())')")
        keys = _read_or_create(path)
    return keys


def box() -> MultiFernet:
    keys = _keys()
    try:
        return _box(keys)
    except ValueError:
        raise APIError(400, "GENIZIZ_SECRET_KEY is not a valid Fernet key (32 url-safe base64-encoded bytes)") from None


def seal(secrets: dict[str, Any]) -> str:
    return box().encrypt(json.dumps(secrets).encode()).decode()


def unseal(token: str | None) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return json.loads(box().decrypt(token.encode()))
    except InvalidToken:
        raise RuntimeError("stored credentials cannot be decrypted: was GENIZIZ_SECRET_KEY changed without "
                           "keeping the old key after the new one?") from None


# --- signatures (the one-click unsubscribe links) -------------------------------------------------------
def _signing_keys() -> list[bytes]:
    """One HMAC key per secret key (the first signs, any verifies), derived apart from encryption's."""
    return [hashlib.sha256(b"geniziz-signature:" + key.strip().encode()).digest()
            for key in _keys().split(",") if key.strip()]


def sign(message: bytes) -> str:
    digest = hmac.new(_signing_keys()[0], message, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def verify(message: bytes, signature: str) -> bool:
    given = signature.encode()
    return any(hmac.compare_digest(given, base64.urlsafe_b64encode(
        hmac.new(key, message, hashlib.sha256).digest()[:16]).rstrip(b"=")) for key in _signing_keys())
