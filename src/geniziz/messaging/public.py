"""The routes that take no API key: the one-click unsubscribe link (``/unsubscribe/{token}``) and the SMS
provider's webhook (``/webhooks/sms/{account_id}/``).

Each is a public surface of the gateway (request IDs, body limit, a rate limit per client address,
the error envelope), and proves itself instead of a key: the unsubscribe token is signed with the
server's secret key and names the workspace and the address; the webhook carries the provider's
signature (Twilio's ``X-Twilio-Signature``: HMAC-SHA1 of the URL and the sorted form fields, keyed
with the account's auth token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from geniziz.api.auth import Principal
from geniziz.api.context import Ctx
from geniziz.api.errors import APIError
from geniziz.api.gateway import Surface
from geniziz.api.routing import QuickRouter
from geniziz.config import get_settings
from geniziz.identity.models import Organization
from geniziz.messaging import crypto
from geniziz.messaging.models import ConnectedAccount
from geniziz.messaging.suppression import email_key, unsubscribe

UNSUBSCRIBE = "/unsubscribe"
WEBHOOKS = "/webhooks"


def _no_keys(_headers: object) -> list[tuple[str, str]]:
    return []


SURFACES = [Surface(name="unsubscribe", prefix=UNSUBSCRIBE, find_keys=_no_keys, public=True, slash="add"),
            Surface(name="webhook", prefix=WEBHOOKS, find_keys=_no_keys, public=True)]
router = QuickRouter(include_in_schema=False)


# --- unsubscribe links ------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unsubscribe_token(organization_id: str, email: str) -> str:
    """``<workspace and address>.<signature>``: unforgeable without the server's secret key."""
    message = f"{organization_id}\n{email_key(email)}".encode()
    return f"{_b64(message)}.{crypto.sign(message)}"


def read_token(token: str) -> tuple[str, str] | None:
    payload, _, signature = token.partition(".")
    try:
        message = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except ValueError:
        return None
    if not signature or not crypto.verify(message, signature):
        return None
    organization_id, _, email = message.decode(errors="replace").partition("\n")
    return (organization_id, email) if organization_id and email else None


def list_unsubscribe(organization_id: str, email: str, sender: str) -> str:
    """The List-Unsubscribe header's value: the https link (when the server knows its public address)
    and a mailto to the sender, whose subject carries the token."""
    token = unsubscribe_token(organization_id, email)
    links = [f"<mailto:{sender}?subject={quote('unsubscribe ' + token)}>"]
    if base := get_settings().public_url:
        links.insert(0, f"<{base.rstrip('/')}{UNSUBSCRIBE}/{token}/>")
    return ", ".join(links)


def _page(title: str, text: str, form: bool = False, status: int = 200) -> HTMLResponse:
    button = ('<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
              '<button type="submit">Unsubscribe</button></form>') if form else ""
    return HTMLResponse(f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
                        f"<body><h1>{title}</h1><p>{html.escape(text)}</p>{button}</body></html>", status_code=status)


async def _target(request: Request, token: str) -> tuple[str, str]:
    found = read_token(token)
    if found is None:
        raise APIError(404, "This unsubscribe link is not valid", {"token": "not a link this server signed"})
    async with request.app.state.db.system_session() as session:
        if await session.get(Organization, found[0]) is None:
            raise APIError(404, "This unsubscribe link is not valid any more", {"token": "unknown workspace"})
    return found


@router.get(UNSUBSCRIBE + "/{token}/")
async def unsubscribe_page(request: Request, token: str) -> Response:
    """A page with a button: a GET (a link scanner's, a preview's) never unsubscribes anyone."""
    _organization_id, email = await _target(request, token)
    return _page("Unsubscribe", f"Stop emails to {email}?", form=True)


@router.post(UNSUBSCRIBE + "/{token}/")
async def unsubscribe_now(request: Request, token: str) -> Response:
    """RFC 8058 one-click (``List-Unsubscribe=One-Click``), or the page's button: on the list at once."""
    organization_id, email = await _target(request, token)
    principal = Principal(organization_id, None, "member", "")  # type: ignore[arg-type] - nobody's key
    async with request.app.state.db.unit(organization_id, write=True) as session:
        await unsubscribe(Ctx(session, principal, "unsubscribe"), email, "one_click")
    return _page("Unsubscribed", f"{email} will not be emailed again.")


# --- the SMS provider's webhook ---------------------------------------------------------------------------
def twilio_signature(token: str, url: str, form: dict[str, str]) -> str:
    """Twilio's request signature: HMAC-SHA1 over the URL followed by each field name and value, sorted."""
    message = url + "".join(f"{name}{form[name]}" for name in sorted(form))
    return base64.b64encode(hmac.new(token.encode(), message.encode(), hashlib.sha1).digest()).decode()


EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@router.post(WEBHOOKS + "/sms/{account_id}/")
async def sms_webhook(request: Request, account_id: str) -> Response:
    """An inbound SMS: stored once per MessageSid as an inbound SMS activity (announcing ``sms.received``)."""
    from geniziz.messaging import sms  # the job module imports this one's link helpers

    form = {name: str(value) for name, value in (await request.form()).items()}
    async with request.app.state.db.system_session() as session:  # which workspace: the account says
        account = await session.scalar(select(ConnectedAccount).where(ConnectedAccount.id == account_id,
                                                                      ConnectedAccount.kind == "sms"))
    if account is None:
        raise APIError(404, "No such SMS account")
    token = sms.settings_of(account).token
    base = get_settings().public_url
    url = f"{base.rstrip('/')}{request.url.path}" if base else str(request.url)
    given = request.headers.get("x-twilio-signature", "")
    if form.get("AccountSid") != account.sms_account_sid or not hmac.compare_digest(
            given, twilio_signature(token, url, form)):
        raise APIError(403, "Invalid signature", {"X-Twilio-Signature": "does not match this account's token"})
    missing = [name for name in ("MessageSid", "From", "To") if not form.get(name)]
    if missing:
        raise APIError(400, "Missing fields: " + ", ".join(missing), {name: "required" for name in missing})
    principal = Principal(account.organization_id, account.user_id, "admin", "")
    async with request.app.state.db.unit(account.organization_id, write=True) as session:
        await sms.receive(Ctx(session, principal, "webhook"), account.id, form)
    return Response(EMPTY_TWIML, media_type="text/xml")
