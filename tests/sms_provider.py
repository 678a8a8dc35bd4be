"""A local stand-in for Twilio's Messages API, checking requests as Twilio does (a thread of the test process).

- ``GET  /2010-04-01/Accounts/{AccountSid}.json``: the account (how connected accounts are tested);
- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``: form-encoded To, From, Body; 201 with a ``sid``.
HTTP Basic auth AccountSid:AuthToken (401, code 20003, otherwise); a ``To`` or ``From`` that is not an
E.164 number is a 400 (code 21211 / 21212), an empty Body a 400 (code 21602); a JSON body a 400.
``hold()`` makes a send wait after it is recorded (to kill the sender mid-send), ``fail(n, status)``
refuses the next n sends, and ``webhook()`` posts an inbound SMS to Geniziz signed as Twilio signs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx

from tests.conftest import Api, free_port

SID, TOKEN = "AC" + "0" * 30, "test-auth-token"
NUMBER = "+15005550006"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass
class Sent:
    sid: str
    to: str
    sender: str
    body: str
    idempotency_token: str | None


@dataclass
class State:
    sent: list[Sent] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    failures: list[int] = field(default_factory=list)  # statuses for the next sends

    def __post_init__(self) -> None:
        self.released.set()


class _Handler(BaseHTTPRequestHandler):
    state: State

    def log_message(self, *_args: Any) -> None:
        pass

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: int, message: str) -> None:
        self._answer(status, {"code": code, "message": message, "status": status})

    def _authorized(self, sid: str) -> bool:
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if sid != SID or self.headers.get("Authorization") != expected:
            self._error(401, 20003, "Authenticate")
            return False
        return True

    def do_GET(self) -> None:  # noqa: N802
        match = re.fullmatch(r"/2010-04-01/Accounts/([^/]+)\.json", self.path)
        if not match:
            return self._error(404, 20404, "The requested resource was not found")
        if self._authorized(match.group(1)):
            self._answer(200, {"sid": SID, "friendly_name": "Test account", "status": "active"})

    def do_POST(self) -> None:  # noqa: N802
        match = re.fullmatch(r"/2010-04-01/Accounts/([^/]+)/Messages\.json", self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not match:
            return self._error(404, 20404, "The requested resource was not found")
        if not self._authorized(match.group(1)):
            return None
        if self.headers.get("Content-Type", "").split(";")[0] != "application/x-www-form-urlencoded":
            return self._error(400, 20001, "Request body must be form-encoded")
        form = {name: values[0] for name, values in parse_qs(raw.decode(), keep_blank_values=True).items()}
        if not E164.match(form.get("To", "")):
            return self._error(400, 21211, f"The 'To' number {form.get('To')} is not a valid phone number.")
        if not E164.match(form.get("From", "")):
            return self._error(400, 21212, f"The 'From' number {form.get('From')} is not a valid phone number.")
        if not form.get("Body"):
            return self._error(400, 21602, "Message body is required.")
        if self.state.failures:
            status = self.state.failures.pop(0)
            return self._error(status, 20429 if status == 429 else 20503, "Service unavailable, try again")
        sent = Sent("SM" + secrets.token_hex(16), form["To"], form["From"], form["Body"],
                    self.headers.get("I-Twilio-Idempotency-Token"))
        self.state.sent.append(sent)
        while not self.state.released.wait(0.05):
            pass
        self._answer(201, {"sid": sent.sid, "status": "queued", "to": sent.to, "from": sent.sender,
                           "body": sent.body, "account_sid": SID})


class SmsProvider:
    def __init__(self) -> None:
        self.port = free_port()
        self.state = State()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sent(self) -> list[Sent]:
        return self.state.sent

    def start(self) -> SmsProvider:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.state.released.set()
        self.server.shutdown()
        self.server.server_close()

    def hold(self) -> None:
        self.state.released.clear()

    def release(self) -> None:
        self.state.released.set()

    def fail(self, times: int, status: int = 503) -> None:
        self.state.failures.extend([status] * times)

    def account(self, api: Api, **body: Any) -> dict[str, Any]:
        """An SMS connected account of `api`'s caller on this provider."""
        return api.create("connected_account", **{"kind": "sms", "sms_base_url": self.base_url,
                                                  "sms_account_sid": SID, "sms_token": TOKEN,
                                                  "phone_numbers": [NUMBER], "min_gap_seconds": 0, **body})

    def webhook(self, server_url: str, account_id: str, token: str = TOKEN, **form: str) -> httpx.Response:
        """An inbound SMS posted to Geniziz as Twilio posts it: form-encoded, signed with the auth token."""
        url = f"{server_url}/webhooks/sms/{account_id}/"
        values = {"MessageSid": "SM" + secrets.token_hex(16), "AccountSid": SID, "To": NUMBER,
                  "Body": "Hello", "NumMedia": "0", **form}
        message = url + "".join(f"{name}{values[name]}" for name in sorted(values))
        signature = base64.b64encode(hmac.new(token.encode(), message.encode(), hashlib.sha1).digest()).decode()
        return httpx.post(url, data=values, headers={"X-Twilio-Signature": signature}, timeout=30)


def wait_sent(provider: SmsProvider, count: int, timeout: float = 30) -> list[Sent]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(provider.sent) >= count:
            return provider.sent
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {count} SMS")
