"""Messaging actions: render a template, test a connected account, see and start its mail sync, restore a
conversation, add a message."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from geniziz.api.action import Action, Args, FieldsArg, Scope, joined, register_action
from geniziz.api.context import Ctx
from geniziz.api.errors import field_error
from geniziz.api.resource import parse_fields
from geniziz.db import new_id
from geniziz.messaging import resources, sync
from geniziz.messaging.conversations import add_message
from geniziz.messaging.schemas import (ConnectionTestRead, ConversationRead, MessageRead, MessageType, RenderedTemplate,
                                       SyncQueued, SyncStateRead)


class RenderArgs(Args):
    template_id: str = Field(description="The template's ID.")
    lead_id: str | None = Field(None, description="The lead (default: the contact's).")
    contact_id: str | None = Field(None, description="The contact (default: the lead's first).")
    limit: int | None = Field(None, alias="_limit", ge=1, le=200, description="Accepted; one result is rendered.")
    skip: int | None = Field(None, alias="_skip", ge=0, description="Accepted; one result is rendered.")
    fields: FieldsArg = None


async def _render(ctx: Ctx, args: RenderArgs) -> dict[str, Any]:
    body = await resources.email_template.service.render(ctx, args.template_id, args.lead_id, args.contact_id)
    wanted = parse_fields(joined(args.fields), RenderedTemplate.model_fields)
    return body if wanted is None else {name: body[name] for name in wanted}


register_action(Action(
    name="email_template_render", method="GET", path="/email_template/{template_id}/render/", input=RenderArgs,
    output=RenderedTemplate, scope=Scope.READ, rate_group="read", tag="Email template", run=_render,
    title="Render an email template for a lead and contact",
    description="Subject and bodies with lead, contact, user (you) and organization; 400 names an undefined "
                "variable.",
))


class TestArgs(Args):
    account_id: str = Field(description="The connected account's ID.")


async def _test(ctx: Ctx, args: TestArgs) -> dict[str, Any]:
    result = await resources.connected_account.service.test(ctx, args.account_id)
    return ConnectionTestRead.model_validate(result).model_dump(mode="json")


register_action(Action(
    name="connected_account_test", method="POST", path="/connected_account/{account_id}/test/", input=TestArgs,
    output=ConnectionTestRead, scope=Scope.WRITE_SAFE, rate_group="write", tag="Connected account", run=_test,
    title="Test a connected account's settings",
    description="SMTP EHLO and AUTH, or the SMS provider's account fetch; ok and the reason, also kept on the account.",
))


# --- conversations --------------------------------------------------------------------------------------
class RestoreArgs(Args):
    conversation_id: str = Field(description="The conversation's ID.")


async def _restore(ctx: Ctx, args: RestoreArgs) -> dict[str, Any]:
    return resources.conversation.serialize(await resources.conversation.service.restore(ctx, args.conversation_id))


register_action(Action(
    name="conversation_restore", method="POST", path="/conversation/{conversation_id}/restore/", input=RestoreArgs,
    output=ConversationRead, scope=Scope.WRITE_SAFE, rate_group="write", tag="Conversation", run=_restore,
    title="Restore a deleted conversation", description="Undo a soft delete: it is listed again, with its messages.",
))

_Text = Annotated[str, Field(max_length=500_000)]
_Addresses = Annotated[list[Annotated[str, Field(max_length=320)]], Field(max_length=100)]


class MessageArgs(Args):
    conversation_id: str = Field(description="The conversation's ID.")
    type: MessageType = Field(description="note, email or sms.", examples=["note"])
    note: _Text | None = Field(None, description="note: plain text.", examples=["Called, will follow up"])
    note_html: _Text | None = Field(None, description="note: rich text (sanitized).")
    status: Literal["draft", "outbox", "scheduled"] | None = Field(
        None, description="email/sms: draft (default), outbox (send now) or scheduled (with date_scheduled).")
    date_scheduled: Annotated[str, Field(max_length=40)] | None = Field(None, description="When to send (ISO 8601).")
    subject: Annotated[str, Field(max_length=1000)] | None = Field(None, description="email: default the "
                                                                                     "conversation's subject.")
    body_text: _Text | None = None
    body_html: _Text | None = None
    sender: Annotated[str, Field(max_length=320)] | None = Field(None, description="email: one of your accounts.")
    to: _Addresses | None = Field(None, description="email: default the conversation's contact.")
    cc: _Addresses | None = None
    bcc: _Addresses | None = None
    template_id: Annotated[str, Field(max_length=40)] | None = None
    attachments: Annotated[list[dict[str, Any]], Field(max_length=50)] | None = None
    text: Annotated[str, Field(max_length=10_000)] | None = Field(None, description="sms: the text.")
    local_phone: Annotated[str, Field(max_length=40)] | None = Field(None, description="sms: one of your numbers.")
    remote_phone: Annotated[str, Field(max_length=40)] | None = Field(None, description="sms: default the "
                                                                                        "contact's phone.")


async def _message(ctx: Ctx, args: MessageArgs) -> dict[str, Any]:
    body = args.model_dump(exclude={"conversation_id"}, exclude_unset=True)
    return await add_message(ctx, args.conversation_id, {"type": args.type, **body})


register_action(Action(
    name="conversation_message", method="POST", path="/conversation/{conversation_id}/message/",
    input=MessageArgs, output=MessageRead, scope=Scope.WRITE_SAFE, rate_group="write", tag="Conversation",
    run=_message, status_code=201, title="Add a message to a conversation",
    description="A note, or an email/SMS through the delivery life cycle (draft by default; outbox sends; "
                "scheduled with date_scheduled). Recipients default to the conversation's contact.",
))


class SyncArgs(Args):
    account_id: str = Field(description="The connected account's ID.")


class SyncNowArgs(SyncArgs):
    reconcile: bool = Field(False, description="Also compare every Message-ID on the server with the stored ones.")


async def _sync_state(ctx: Ctx, args: SyncArgs) -> dict[str, Any]:
    account = await resources.connected_account.service.get(ctx, args.account_id)
    return SyncStateRead.model_validate(await sync.sync_state(ctx, account)).model_dump(mode="json")


async def _sync_now(ctx: Ctx, args: SyncNowArgs) -> dict[str, Any]:
    account = await resources.connected_account.service.get(ctx, args.account_id)
    if not account.imap_host:
        raise field_error("account_id", "this account has no IMAP settings (imap_host) to sync")
    jobs = await sync.queue_sync(ctx, account, key=f"now:{new_id('req')}", reconcile=args.reconcile)
    return {"account_id": account.id, "job_ids": jobs}


register_action(Action(
    name="connected_account_sync_state", method="GET", path="/connected_account/{account_id}/sync/",
    input=SyncArgs, output=SyncStateRead, scope=Scope.READ, rate_group="read", tag="Connected account",
    run=_sync_state, title="See a connected account's mail sync health",
    description="Per folder: cursor, last sync, messages fetched, last error, server vs. stored counts and what "
                "reconciliation found missing; messages by outcome (unmatched, unreadable).",
))

register_action(Action(
    name="connected_account_sync", method="POST", path="/connected_account/{account_id}/sync/",
    input=SyncNowArgs, output=SyncQueued, scope=Scope.WRITE_SAFE, rate_group="write", tag="Connected account",
    run=_sync_now, title="Sync a connected account's mail now",
    description="Queues an IMAP sync of the account's folders (they also sync every few minutes).",
))
