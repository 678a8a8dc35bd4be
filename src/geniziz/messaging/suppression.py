"""The suppression list (``/unsubscribed_email/``): addresses the workspace never emails again.

Adding an address is idempotent (adding it again answers the existing entry) and announces
``email.unsubscribed`` so that other domains (sequences) react in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.exc import IntegrityError

from geniziz import events
from geniziz.api.context import Ctx
from geniziz.api.resource import CrudService
from geniziz.messaging.models import UnsubscribedEmail


def email_key(address: str) -> str:
    return address.strip().lower()


async def suppressed(ctx: Ctx, addresses: Iterable[str]) -> list[str]:
    """Which of these addresses are on the workspace's list (as given, in order)."""
    wanted = {email_key(address): address for address in addresses if address}
    if not wanted:
        return []
    found = set(await ctx.session.scalars(
        select(UnsubscribedEmail.email).where(UnsubscribedEmail.email.in_(list(wanted)))))
    return [address for key, address in wanted.items() if key in found]


async def is_suppressed(ctx: Ctx, address: str) -> bool:
    return bool(await suppressed(ctx, [address]))


def suppressed_clause(column: Any) -> ColumnElement[bool]:
    """A condition true where ``column`` (an email column) is on the list, for audience queries:
    ``.where(~suppressed_clause(ContactEmail.email))`` (the session scopes the list to the workspace)."""
    return exists().where(UnsubscribedEmail.email == func.lower(column))


class UnsubscribedEmailService(CrudService[UnsubscribedEmail]):
    model = UnsubscribedEmail
    prefix = "unsub"
    label = "unsubscribed email"

    def filter(self, ctx: Ctx, query: Any, filters: dict[str, Any]) -> Any:
        if email := filters.get("email"):
            query = query.where(UnsubscribedEmail.email == email_key(email))
        if source := filters.get("source"):
            query = query.where(UnsubscribedEmail.source == source)
        return query

    async def create(self, ctx: Ctx, data: dict[str, Any]) -> UnsubscribedEmail:
        return await unsubscribe(ctx, data["email"], data.get("source") or "manual", data.get("reason"))


async def unsubscribe(ctx: Ctx, address: str, source: str, reason: str | None = None) -> UnsubscribedEmail:
    """Put an address on the list once: a repeat (or a concurrent add) answers the entry already there."""
    key = email_key(address)
    query = select(UnsubscribedEmail).where(UnsubscribedEmail.email == key)
    if (entry := await ctx.session.scalar(query)) is not None:
        return entry
    entry = UNSUBSCRIBED.new(ctx)
    entry.email, entry.source, entry.reason = key, source, reason
    try:
        async with ctx.session.begin_nested():  # a concurrent add of the same address wins; we answer it
            ctx.session.add(entry)
    except IntegrityError:
        return (await ctx.session.scalars(query)).one()
    await events.emit(ctx, "email.unsubscribed", email=key, source=source)
    return entry


UNSUBSCRIBED = UnsubscribedEmailService()
