"""Talking IMAP: the standard library's imaplib, each blocking call run in a thread (asyncio.to_thread).

A ``Mailbox`` is one logged-in connection; ``open_mailbox`` opens it (ImapFailure with the server's
reason when it cannot) and logs out at the end. Folders are opened read-only (EXAMINE): syncing never
changes the user's mailbox (no \\Seen flags set by us).
"""

from __future__ import annotations

import asyncio
import imaplib
import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

TIMEOUT = 30.0
DEFAULT_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
FETCH_BATCH = 50  # messages per UID FETCH


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    tls: str  # ssl | starttls | none
    username: str
    password: str | None


class ImapFailure(Exception):
    """The server (or the network) said no; ``field`` names the setting the reason is about."""

    def __init__(self, reason: str, field: str = "imap_host") -> None:
        super().__init__(reason)
        self.field = field


@dataclass(frozen=True)
class FolderState:
    uidvalidity: int
    exists: int
    uidnext: int | None
    highestmodseq: int | None


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _number(imap: imaplib.IMAP4, code: str) -> int | None:
    _typ, data = imap.response(code)
    try:
        return int(data[-1]) if data and data[-1] is not None else None
    except (TypeError, ValueError):
        return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):  # "[Errno -2] Name or service not known", not just "-2"
        return str(exc) or type(exc).__name__
    text = exc.args[0] if exc.args else ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return str(text) or type(exc).__name__


class Mailbox:
    """One logged-in IMAP connection (blocking; call its methods through ``run``)."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        try:
            if settings.tls == "ssl":
                self.imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(settings.host, settings.port, timeout=TIMEOUT,
                                                             ssl_context=ssl.create_default_context())
            else:
                self.imap = imaplib.IMAP4(settings.host, settings.port, timeout=TIMEOUT)
                if settings.tls == "starttls":
                    self.imap.starttls(ssl.create_default_context())
        except (imaplib.IMAP4.error, OSError, ValueError) as exc:
            raise ImapFailure(f"cannot connect to {settings.host}:{settings.port}: {_reason(exc)}") from None
        try:
            self.imap.login(settings.username, settings.password or "")
        except imaplib.IMAP4.error as exc:
            self.close()
            raise ImapFailure(f"login refused: {_reason(exc)}", "imap_password") from None
        self.capabilities = {c.upper() for c in self.imap.capabilities}

    def close(self) -> None:
        try:
            self.imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass

    def _ok(self, typ: str, data: list[Any], what: str) -> list[Any]:
        if typ != "OK":
            raise ImapFailure(f"{what} refused: {_reason(Exception(data[0] if data else typ))}")
        return data

    def select(self, folder: str) -> FolderState:
        """Open a folder read-only; its UIDVALIDITY, size, UIDNEXT and HIGHESTMODSEQ (when offered)."""
        typ, data = self.imap.select(_quote(folder), readonly=True)
        self._ok(typ, data, f"opening folder {folder!r}")
        exists = int(data[0]) if data and data[0] else 0
        uidvalidity = _number(self.imap, "UIDVALIDITY")
        if uidvalidity is None:
            raise ImapFailure(f"the server gave no UIDVALIDITY for {folder!r}")
        return FolderState(uidvalidity, exists, _number(self.imap, "UIDNEXT"), _number(self.imap, "HIGHESTMODSEQ"))

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above the cursor, in order (``n:*`` also answers the highest UID when none is above: dropped)."""
        data = self._ok(*self.imap.uid("SEARCH", "UID", f"{last_uid + 1}:*"), "UID SEARCH")
        return sorted(uid for uid in (int(x) for x in b" ".join(d for d in data if d).split()) if uid > last_uid)

    def all_uids(self) -> list[int]:
        data = self._ok(*self.imap.uid("SEARCH", "ALL"), "UID SEARCH")
        return sorted(int(x) for x in b" ".join(d for d in data if d).split())

    def _fetch(self, uids: list[int], items: str) -> dict[int, bytes]:
        out: dict[int, bytes] = {}
        for start in range(0, len(uids), FETCH_BATCH):
            chunk = ",".join(str(uid) for uid in uids[start:start + FETCH_BATCH])
            data = self._ok(*self.imap.uid("FETCH", chunk, items), "UID FETCH")
            for item in data:
                if isinstance(item, tuple):
                    match = re.search(rb"UID (\d+)", item[0])
                    if match:
                        out[int(match.group(1))] = item[1]
        return out

    def fetch(self, uids: list[int]) -> dict[int, bytes]:
        """Whole messages by UID (BODY.PEEK: not marked as read)."""
        return self._fetch(uids, "(UID BODY.PEEK[])")

    def message_ids(self) -> dict[int, str | None]:
        """Every message's Message-ID in the open folder, by UID (for reconciliation)."""
        uids = self.all_uids()
        headers = self._fetch(uids, "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        out: dict[int, str | None] = {}
        for uid in uids:
            match = re.search(rb"<[^<>\s]+>", headers.get(uid, b""))
            out[uid] = match.group(0).decode(errors="replace") if match else None
        return out

    def sent_folder(self) -> str | None:
        """The folder flagged \\Sent (RFC 6154), else one named like it."""
        typ, data = self.imap.list()
        names = []
        for line in data if typ == "OK" else []:
            if not isinstance(line, bytes):
                continue
            match = re.match(rb'\(([^)]*)\) (?:"[^"]*"|NIL) (.+)$', line)
            if not match:
                continue
            name = match.group(2).strip().strip(b'"').decode(errors="replace")
            if b"\\sent" in match.group(1).lower():
                return name
            names.append(name)
        return next((n for n in names if n.lower() in ("sent", "sent items", "sent messages", "[gmail]/sent mail")),
                    None)

    def has_message_id(self, message_id: str) -> bool:
        """Whether the open folder holds a message with this Message-ID."""
        data = self._ok(*self.imap.uid("SEARCH", "HEADER", "Message-ID", _quote(message_id)), "UID SEARCH")
        return bool(b" ".join(d for d in data if d).split())

    def append(self, folder: str, data: bytes) -> None:
        typ, answer = self.imap.append(_quote(folder), r"(\Seen)", None, data)
        self._ok(typ, answer, f"APPEND to {folder!r}")


async def run(func: Any, *args: Any) -> Any:
    """A blocking IMAP call, off the event loop; network errors become ImapFailure."""
    try:
        return await asyncio.to_thread(func, *args)
    except (imaplib.IMAP4.error, OSError) as exc:
        raise ImapFailure(_reason(exc)) from None


@asynccontextmanager
async def open_mailbox(settings: ImapSettings) -> AsyncIterator[Mailbox]:
    mailbox = await run(Mailbox, settings)
    try:
        yield mailbox
    finally:
        await asyncio.to_thread(mailbox.close)


async def test_connection(settings: ImapSettings) -> str:
    """LOGIN + SELECT INBOX; returns a short description."""
    async with open_mailbox(settings) as mailbox:
        state = await run(mailbox.select, "INBOX")
        return f"INBOX: {state.exists} messages"
