"""Mailing export actions: the platforms registry (as the UI needs it) and a platform's lists."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from geniziz.api.action import Action, Args, FieldsArg, Scope, joined, register_action
from geniziz.api.context import Ctx
from geniziz.api.resource import MAX_LIMIT, parse_fields
from geniziz.mailing import resources  # noqa: F401 - the resources, declared before the actions
from geniziz.mailing import service
from geniziz.mailing.schemas import AudienceList, AudienceRead, PlatformList, PlatformRead


class PageArgs(Args):
    limit: int = Field(100, alias="_limit", ge=1, le=MAX_LIMIT, description="Page size (max 200).")
    skip: int = Field(0, alias="_skip", ge=0, le=10**9, description="Offset for pagination.")
    fields: FieldsArg = None


def _page(rows: list[dict[str, Any]], args: PageArgs, schema: type) -> dict[str, Any]:
    wanted = parse_fields(joined(args.fields), schema.model_fields)
    page = rows[args.skip:args.skip + args.limit]
    if wanted is not None:
        page = [{name: row[name] for name in wanted} for row in page]
    return {"data": page, "has_more": len(rows) > args.skip + args.limit}


async def _platforms(ctx: Ctx, args: PageArgs) -> dict[str, Any]:
    return _page(await service.platforms(ctx), args, PlatformRead)


register_action(Action(
    name="platforms_mailing_export", method="GET", path="/mailing_export/platforms/", input=PageArgs,
    output=PlatformList, scope=Scope.READ, rate_group="read", tag="Mailing export", run=_platforms,
    title="Mailing export platforms",
    description="GET /mailing_export/platforms/ — the registry as the UI needs it: each platform with its config "
                "fields and whether its credential is connected for this workspace.",
))


class AudienceArgs(PageArgs):
    connection_id: str = Field(description="The mailing connection's ID (connection_id in the platforms list).")


async def _audiences(ctx: Ctx, args: AudienceArgs) -> dict[str, Any]:
    rows = [AudienceRead.model_validate(row).model_dump() for row in await service.audiences(ctx, args.connection_id)]
    return _page(rows, args, AudienceRead)


register_action(Action(
    name="mailing_connection_audiences", method="GET", path="/mailing_connection/{connection_id}/audiences/",
    input=AudienceArgs, output=AudienceList, scope=Scope.READ, rate_group="heavy", tag="Mailing export",
    run=_audiences, title="A connected platform's lists",
    description="The lists (audiences) an export can push into, as the platform answers now: id (config.list_id), "
                "name, member_count.",
))
