"""Messaging actions: render a template, test a connected account."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from geniziz.api.action import Action, Args, FieldsArg, Scope, joined, register_action
from geniziz.api.context import Ctx
from geniziz.api.resource import parse_fields
from geniziz.messaging import resources
from geniziz.messaging.schemas import ConnectionTestRead, RenderedTemplate


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
    title="Test a connected account's SMTP settings",
    description="EHLO and AUTH with the stored settings; ok and the server's reason, also kept on the account.",
))
