"""A real SMTP server for the tests (aiosmtpd, in a thread of the test process), with AUTH.

It records every message it takes; ``hold()`` makes DATA wait (after recording) until ``release()``,
to kill a sender mid-send. ``shared()`` is one server for tests that only need an account to exist
(the isolation sweep's factory).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.conftest import Api, free_port

USERNAME, PASSWORD = "seller", "s3cret-app-password"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage


@dataclass
class Mailbox:
    received: list[Received] = field(default_factory=list)
    held: threading.Event = field(default_factory=threading.Event)  # set: DATA answers at once
    reply: str = "250 2.0.0 OK queued"

    def __post_init__(self) -> None:
        self.held.set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        while not self.held.is_set():
            await asyncio.sleep(0.05)
        return self.reply


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USERNAME \
        and auth_data.password.decode() == PASSWORD
    return AuthResult(success=ok, handled=False)


class SmtpServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.mailbox = Mailbox()
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, authenticator=_authenticate,
                                     auth_require_tls=False, auth_exclude_mechanism=["CRAM-MD5"])
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def hold(self) -> None:
        self.mailbox.held.clear()

    def release(self) -> None:
        self.mailbox.held.set()

    def with_id(self, message_id: str) -> list[Received]:
        return [r for r in self.mailbox.received if r.message["Message-ID"] == message_id]

    def account(self, api: Api, **body: Any) -> dict[str, Any]:
        """A connected account of `api`'s caller on this server (no gap between sends unless asked)."""
        values = {"email": f"seller-{secrets.token_hex(3)}@seller.example", "smtp_host": "127.0.0.1",
                  "smtp_port": self.port, "smtp_tls": "none", "smtp_username": USERNAME, "smtp_password": PASSWORD,
                  "min_gap_seconds": 0, **body}
        return api.create("connected_account", **values)


_shared: SmtpServer | None = None


def shared() -> SmtpServer:
    global _shared
    if _shared is None:
        _shared = SmtpServer().start()
    return _shared
