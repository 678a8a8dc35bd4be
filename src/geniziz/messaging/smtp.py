"""Talking SMTP (aiosmtplib): the connection test, and a send split so the caller can record the
hand-off between RCPT and DATA."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

import aiosmtplib

TIMEOUT = 20.0
DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: str  # ssl | starttls | none
    username: str | None
    password: str | None


class SmtpFailure(Exception):
    """The server (or the network) said no. ``field`` names the setting the reason is about;
    ``permanent``: a 5xx answer, which a retry would only repeat."""

    def __init__(self, reason: str, field: str = "smtp_host", permanent: bool = False) -> None:
        super().__init__(reason)
        self.field = field
        self.permanent = permanent


def _reason(exc: Exception) -> str:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}".strip()
    return str(exc) or type(exc).__name__


@asynccontextmanager
async def session(settings: SmtpSettings) -> AsyncIterator[aiosmtplib.SMTP]:
    """A connected, greeted and (with a password) authenticated client; SmtpFailure otherwise."""
    client = aiosmtplib.SMTP(hostname=settings.host, port=settings.port, timeout=TIMEOUT,
                             use_tls=settings.tls == "ssl", start_tls=settings.tls == "starttls",
                             tls_context=ssl.create_default_context())
    try:
        await client.connect()
        await client.ehlo()
    except (aiosmtplib.SMTPException, OSError, ValueError) as exc:  # ValueError: a name the resolver refuses
        raise SmtpFailure(f"cannot connect to {settings.host}:{settings.port}: {_reason(exc)}") from None
    try:
        if settings.password:
            try:
                await client.login(settings.username or "", settings.password)
            except aiosmtplib.SMTPAuthenticationError as exc:
                raise SmtpFailure(_reason(exc), "smtp_password", permanent=True) from None
            except aiosmtplib.SMTPException as exc:
                raise SmtpFailure(_reason(exc), "smtp_username") from None
        yield client
    finally:
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()


async def test_connection(settings: SmtpSettings) -> str:
    """EHLO (+ STARTTLS/TLS) + AUTH; returns the server's greeting name."""
    async with session(settings) as client:
        greeting = client.last_ehlo_response
        return greeting.message.splitlines()[0] if greeting and greeting.message else settings.host


def build_message(*, message_id: str, sender: str, display_name: str | None, to: list[str], cc: list[str],
                  subject: str | None, body_text: str | None, body_html: str | None, date: str,
                  list_unsubscribe: str | None = None) -> EmailMessage:
    message = EmailMessage(policy=SMTP_POLICY)
    message["Message-ID"] = message_id
    message["Date"] = date
    message["From"] = f"{display_name} <{sender}>" if display_name else sender
    if to:
        message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = subject or ""
    if list_unsubscribe:  # RFC 2369 links, and RFC 8058: a POST to the https one unsubscribes in one click
        message["List-Unsubscribe"] = list_unsubscribe
        if "<http" in list_unsubscribe:
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(body_text or "")
    if body_html:
        message.add_alternative(body_html, subtype="html")
    return message


async def envelope(client: aiosmtplib.SMTP, sender: str, recipients: list[str]) -> list[str]:
    """MAIL FROM and RCPT TO; returns the accepted recipients (SmtpFailure when none is)."""
    try:
        await client.mail(sender)
    except aiosmtplib.SMTPResponseException as exc:
        raise SmtpFailure(f"sender refused: {_reason(exc)}", "sender", permanent=exc.code >= 500) from None
    accepted, refused = [], []
    for recipient in recipients:
        try:
            await client.rcpt(recipient)
            accepted.append(recipient)
        except aiosmtplib.SMTPResponseException as exc:
            refused.append((recipient, exc))
    if not accepted:
        permanent = all(exc.code >= 500 for _r, exc in refused)
        reason = "; ".join(f"{r}: {_reason(e)}" for r, e in refused)
        raise SmtpFailure(f"every recipient refused: {reason}", "to", permanent=permanent)
    return accepted


class UnknownOutcome(Exception):
    """The connection failed during DATA: the server may or may not have taken the message."""


async def data(client: aiosmtplib.SMTP, message: EmailMessage) -> str:
    """DATA: the server's answer when it takes the message; SmtpFailure when it clearly refuses it;
    UnknownOutcome when the connection breaks before its answer."""
    try:
        response = await client.data(message.as_bytes(policy=SMTP_POLICY))
    except aiosmtplib.SMTPResponseException as exc:
        raise SmtpFailure(f"message refused: {_reason(exc)}", "body", permanent=exc.code >= 500) from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise UnknownOutcome(_reason(exc)) from None
    return f"{response.code} {response.message}".strip()
