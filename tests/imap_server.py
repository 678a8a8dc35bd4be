"""A real IMAP4rev1 server for the tests: asyncio, in a thread of the test process, on a free port.

Small but real over the wire (imaplib and any IMAP client can talk to it): LOGIN, CAPABILITY, LIST,
SELECT/EXAMINE (EXISTS, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ), STATUS, UID SEARCH, UID FETCH
(BODY.PEEK[], BODY.PEEK[HEADER.FIELDS (...)], UID, FLAGS, RFC822.SIZE), APPEND (with APPENDUID), NOOP,
CLOSE, LOGOUT. The tests drive the mailbox directly: ``deliver`` a message, ``plant`` one below the
sync's cursor, ``renumber`` a folder (a new UIDVALIDITY, as after a server migration).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import free_port

USERNAME, PASSWORD = "seller", "imap-app-password"


@dataclass
class Stored:
    uid: int
    data: bytes
    flags: list[str] = field(default_factory=list)
    modseq: int = 1


@dataclass
class Folder:
    uidvalidity: int
    uidnext: int = 1
    highestmodseq: int = 1
    messages: list[Stored] = field(default_factory=list)


def make_email(*, sender: str, to: str, subject: str = "Hello", body: str = "Hi there", message_id: str | None = None,
               date: datetime | None = None, **headers: str) -> bytes:
    """An RFC 5322 message as a mail client would send it; extra headers by keyword (In_Reply_To=...).
    Dated a second ahead by default: a reply written in the second its email was sent still sorts after it."""
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"] = format_datetime(date or datetime.now(UTC) + timedelta(seconds=1))
    message["Message-ID"] = message_id or make_msgid(domain="remote.example")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


_TOKEN = re.compile(rb'"((?:[^"\\]|\\.)*)"|\(([^()]*)\)|(\S+)')


def _tokens(line: bytes) -> list[bytes]:
    """Arguments: "quoted strings" (unescaped), (parenthesized lists) kept whole, and atoms."""
    out = []
    for match in _TOKEN.finditer(line):
        if match.group(1) is not None:
            out.append(re.sub(rb"\\(.)", rb"\1", match.group(1)))
        elif match.group(2) is not None:
            out.append(b"(" + match.group(2) + b")")
        else:
            out.append(match.group(3))
    return out


def _header_of(data: bytes, name: bytes) -> bytes:
    match = re.search(rb"(?im)^" + re.escape(name) + rb":[ \t]*(.*(?:\r?\n[ \t].*)*)", data.split(b"\r\n\r\n", 1)[0])
    return match.group(1) if match else b""


def _uid_set(spec: str, highest: int) -> set[int] | list[tuple[int, int]]:
    ranges = []
    for part in spec.split(","):
        low, _, high = part.partition(":")
        a = highest if low == "*" else int(low)
        b = a if not high else highest if high == "*" else int(high)
        ranges.append((min(a, b), max(a, b)))
    return ranges


def _in(uid: int, ranges: Any) -> bool:
    return any(low <= uid <= high for low, high in ranges)


class ImapServer:
    def __init__(self, *, condstore: bool = True) -> None:
        self.port = free_port()
        self.condstore = condstore
        self.lock = threading.Lock()
        self.folders: dict[str, Folder] = {"INBOX": Folder(self._validity()), "Sent": Folder(self._validity())}
        self.logins = 0
        self.password = PASSWORD  # change it to make the server refuse the account (a revoked app password)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None

    @staticmethod
    def _validity() -> int:
        return secrets.randbelow(2**31 - 2) + 1

    # -- driving the mailbox from a test ----------------------------------------------------------
    def deliver(self, data: bytes, folder: str = "INBOX") -> int:
        with self.lock:
            box = self.folders.setdefault(folder, Folder(self._validity()))
            box.highestmodseq += 1
            box.messages.append(Stored(box.uidnext, data, modseq=box.highestmodseq))
            box.uidnext += 1
            return box.uidnext - 1

    def plant(self, data: bytes, uid: int, folder: str = "INBOX") -> None:
        """A message under a UID the sync has passed already (as a broken server or a restore may do)."""
        with self.lock:
            box = self.folders[folder]
            assert all(m.uid != uid for m in box.messages)
            box.highestmodseq += 1
            box.messages.append(Stored(uid, data, modseq=box.highestmodseq))
            box.messages.sort(key=lambda m: m.uid)

    def renumber(self, folder: str = "INBOX") -> int:
        """A new UIDVALIDITY and new UIDs for the same messages; returns the new UIDVALIDITY."""
        with self.lock:
            box = self.folders[folder]
            box.uidvalidity = self._validity()
            for i, message in enumerate(box.messages, start=1):
                message.uid = i
            box.uidnext = len(box.messages) + 1
            return box.uidvalidity

    def messages(self, folder: str = "INBOX") -> list[Stored]:
        with self.lock:
            return list(self.folders[folder].messages)

    def account(self, **extra: Any) -> dict[str, Any]:
        """The imap_* fields of a connected account on this server."""
        return {"imap_host": "127.0.0.1", "imap_port": self.port, "imap_tls": "none", "imap_username": USERNAME,
                "imap_password": PASSWORD, **extra}

    # -- running ----------------------------------------------------------------------------------
    def start(self) -> ImapServer:
        self.thread = threading.Thread(target=self._run, daemon=True, name="imap-server")
        self.thread.start()
        assert self._ready.wait(10), "the IMAP server did not start"
        return self

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._server = self.loop.run_until_complete(asyncio.start_server(self._session, "127.0.0.1", self.port))
        self._ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        if self.loop is None:
            return

        async def close() -> None:
            self._server.close()  # type: ignore[union-attr]

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)  # type: ignore[union-attr]
        self.loop = None

    # -- the protocol -----------------------------------------------------------------------------
    def capabilities(self) -> str:
        return "IMAP4rev1 LITERAL+ UIDPLUS SPECIAL-USE" + (" CONDSTORE" if self.condstore else "")

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state: dict[str, Any] = {"user": None, "folder": None}
        writer.write(b"* OK [CAPABILITY " + self.capabilities().encode() + b"] test IMAP server ready\r\n")
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                line = line.rstrip(b"\r\n")
                literal = None
                match = re.search(rb"\{(\d+)(\+?)\}$", line)
                if match:  # APPEND's message: a literal after the command line
                    if not match.group(2):
                        writer.write(b"+ go ahead\r\n")
                        await writer.drain()
                    literal = await reader.readexactly(int(match.group(1)))
                    line = line[:match.start()] + (await reader.readline()).rstrip(b"\r\n")
                tag, _, rest = line.partition(b" ")
                command, _, args = rest.partition(b" ")
                try:
                    done = self._command(state, command.decode().upper(), args, literal, writer)
                except Exception as exc:  # noqa: BLE001 - a test server answers BAD rather than hang up
                    writer.write(tag + b" BAD " + str(exc).encode() + b"\r\n")
                    done = False
                else:
                    writer.write(tag + b" " + done[1] + b"\r\n")
                    done = done[0]
                await writer.drain()
                if done:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    def _command(self, state: dict[str, Any], command: str, args: bytes, literal: bytes | None,
                 writer: asyncio.StreamWriter) -> tuple[bool, bytes]:
        out = writer.write
        if command == "CAPABILITY":
            out(b"* CAPABILITY " + self.capabilities().encode() + b"\r\n")
            return False, b"OK CAPABILITY completed"
        if command == "NOOP":
            return False, b"OK NOOP completed"
        if command == "LOGOUT":
            out(b"* BYE logging out\r\n")
            return True, b"OK LOGOUT completed"
        if command == "LOGIN":
            user, password = [t.decode() for t in _tokens(args)[:2]]
            if (user, password) != (USERNAME, self.password):
                return False, b"NO [AUTHENTICATIONFAILED] Invalid credentials"
            state["user"] = user
            self.logins += 1
            return False, b"OK LOGIN completed"
        if state["user"] is None:
            return False, b"NO log in first"
        with self.lock:
            if command == "LIST":
                for name in self.folders:
                    special = b" \\Sent" if name == "Sent" else b""
                    out(b'* LIST (\\HasNoChildren' + special + b') "/" "' + name.encode() + b'"\r\n')
                return False, b"OK LIST completed"
            if command in ("SELECT", "EXAMINE"):
                name = _tokens(args)[0].decode()
                box = self.folders.get(name)
                if box is None:
                    return False, b"NO no such folder"
                state["folder"] = name
                out(b"* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft)\r\n")
                out(f"* {len(box.messages)} EXISTS\r\n* 0 RECENT\r\n".encode())
                out(f"* OK [UIDVALIDITY {box.uidvalidity}] UIDs valid\r\n".encode())
                out(f"* OK [UIDNEXT {box.uidnext}] next\r\n".encode())
                if self.condstore:
                    out(f"* OK [HIGHESTMODSEQ {box.highestmodseq}] modseq\r\n".encode())
                mode = b"READ-ONLY" if command == "EXAMINE" else b"READ-WRITE"
                return False, b"OK [" + mode + b"] " + command.encode() + b" completed"
            if command == "STATUS":
                tokens = _tokens(args)
                box = self.folders.get(tokens[0].decode())
                if box is None:
                    return False, b"NO no such folder"
                items = {"MESSAGES": len(box.messages), "UIDNEXT": box.uidnext, "UIDVALIDITY": box.uidvalidity,
                         "UNSEEN": 0, "HIGHESTMODSEQ": box.highestmodseq}
                wanted = tokens[1].strip(b"()").decode().upper().split()
                body = " ".join(f"{w} {items[w]}" for w in wanted if w in items)
                out(f'* STATUS "{tokens[0].decode()}" ({body})\r\n'.encode())
                return False, b"OK STATUS completed"
            if command == "APPEND":
                name = _tokens(args)[0].decode()
                box = self.folders.get(name)
                if box is None or literal is None:
                    return False, b"NO [TRYCREATE] no such folder"
                flags = re.findall(r"\\\w+", args.decode())
                box.highestmodseq += 1
                box.messages.append(Stored(box.uidnext, literal, flags, modseq=box.highestmodseq))
                box.uidnext += 1
                return False, f"OK [APPENDUID {box.uidvalidity} {box.uidnext - 1}] APPEND completed".encode()
            if command == "CLOSE":
                state["folder"] = None
                return False, b"OK CLOSE completed"
            if command == "UID":
                if state["folder"] is None:
                    return False, b"NO select a folder first"
                sub, _, rest = args.partition(b" ")
                box = self.folders[state["folder"]]
                highest = box.messages[-1].uid if box.messages else 0
                if sub.upper() == b"SEARCH" and rest.upper().startswith(b"HEADER "):
                    _h, name, value = _tokens(rest)[:3]
                    found = [str(m.uid) for m in box.messages if value.lower() in _header_of(m.data, name).lower()]
                    out(("* SEARCH " + " ".join(found)).rstrip().encode() + b"\r\n")
                    return False, b"OK SEARCH completed"
                if sub.upper() == b"SEARCH":
                    words = rest.decode().split()
                    spec = words[words.index("UID") + 1] if "UID" in [w.upper() for w in words] else "1:*"
                    ranges = _uid_set(spec, highest)
                    found = [str(m.uid) for m in box.messages if _in(m.uid, ranges)]
                    out(("* SEARCH " + " ".join(found)).rstrip().encode() + b"\r\n")
                    return False, b"OK SEARCH completed"
                if sub.upper() == b"FETCH":
                    spec, _, items = rest.decode().partition(" ")
                    ranges = _uid_set(spec, highest)
                    for seq, message in enumerate(box.messages, start=1):
                        if _in(message.uid, ranges):
                            out(self._fetch_item(seq, message, items.upper()))
                    return False, b"OK FETCH completed"
                return False, b"BAD unknown UID command"
        return False, b"BAD unknown command"

    @staticmethod
    def _fetch_item(seq: int, message: Stored, items: str) -> bytes:
        parts = [f"UID {message.uid}".encode()]
        if "FLAGS" in items:
            parts.append(f"FLAGS ({' '.join(message.flags)})".encode())
        if "MODSEQ" in items:
            parts.append(f"MODSEQ ({message.modseq})".encode())
        if "RFC822.SIZE" in items:
            parts.append(f"RFC822.SIZE {len(message.data)}".encode())
        fields = re.search(r"BODY(?:\.PEEK)?\[HEADER\.FIELDS \(([^)]*)\)\]", items)
        if fields:
            names = fields.group(1).split()
            header = message.data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
            kept, keep = [], False
            for raw in header.splitlines(keepends=True):
                if raw[:1] in (b" ", b"\t"):
                    if keep:
                        kept.append(raw)
                    continue
                keep = raw.split(b":", 1)[0].strip().decode(errors="replace").upper() in names
                if keep:
                    kept.append(raw)
            block = b"".join(kept) + b"\r\n"
            parts.append(f"BODY[HEADER.FIELDS ({' '.join(names)})] {{{len(block)}}}".encode() + b"\r\n" + block)
        elif re.search(r"BODY(?:\.PEEK)?\[\]|RFC822(?!\.)", items):
            parts.append(f"BODY[] {{{len(message.data)}}}".encode() + b"\r\n" + message.data)
        return f"* {seq} FETCH (".encode() + b" ".join(parts) + b")\r\n"


_shared: ImapServer | None = None


def shared() -> ImapServer:
    """One server for tests that only need an account that receives mail to exist."""
    global _shared
    if _shared is None:
        _shared = ImapServer().start()
    return _shared


def make_bounce(*, original_message_id: str, recipient: str, status: str = "5.1.1", action: str = "failed",
                to: str = "seller@seller.example") -> bytes:
    """An RFC 3464 delivery report (multipart/report), as a mail server writes it, returning the headers of
    the message it is about."""
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.remote.example>
To: {to}
Subject: Undelivered Mail Returned to Sender
Date: {format_datetime(datetime.now(UTC))}
Message-ID: {make_msgid(domain="mx.remote.example")}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b0undary"

--b0undary
Content-Type: text/plain; charset=us-ascii

Your message to {recipient} could not be delivered.

--b0undary
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.remote.example

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 {status} mailbox unavailable

--b0undary
Content-Type: text/rfc822-headers

From: {to}
To: {recipient}
Subject: Proposal
Message-ID: {original_message_id}

--b0undary--
""".replace("\n", "\r\n").encode()
