"""Genesy's conversation log: emails become Geniziz email activities; LinkedIn messages, InMails and
connection requests (and any other channel) become channel messages, with their direction."""

from __future__ import annotations

import re
from typing import Any

from geniziz.api.context import Ctx
from geniziz.api.errors import field_error
from geniziz.api.resource import REGISTRY
from geniziz.integrations.genesy.refs import create_once
from geniziz.integrations.genesy.schemas import ActivityIn
from geniziz.integrations.genesy.service import contact_or_lead, genesy_names, resolve_lead, resolve_owner

SOURCE = "genesy:activity"
_NAMES = {"lead_id": "companyId", "contact_id": "contactId", "user_id": "ownerId", "activity_at": "occurredAt",
          "channel": "type", "subject": "subject", "body_html": "body", "body_text": "body", "text": "body",
          "external_id": "metadata.messageId"}
_HTML = re.compile(r"<[a-zA-Z][^>]*>")


async def create_activity(ctx: Ctx, body: ActivityIn) -> dict[str, Any]:
    kind = body.type.strip().upper()
    direction = (body.direction or "OUTBOUND").strip().lower()
    if direction not in ("inbound", "outbound"):
        raise field_error("direction", "must be INBOUND or OUTBOUND")
    if not (body.contact_id or body.company_id):
        raise field_error("contactId", "required: an activity goes on a contact (or give companyId)")
    message_id = (body.metadata or {}).get("messageId")
    # Genesy may log the same message twice (a retry); its message ID finds the first one.
    ref = f"{kind}:{message_id}" if isinstance(message_id, str | int) and str(message_id) else None
    resource = REGISTRY["activity/email" if kind == "EMAIL" else "activity/channel_message"]

    async def create() -> Any:
        data: dict[str, Any] = {"direction": direction, "activity_at": body.occurred_at or None}
        if body.owner_id:
            data["user_id"] = await resolve_owner(ctx, body.owner_id, "ownerId")
        if body.company_id:
            data["lead_id"] = await resolve_lead(ctx, body.company_id, "companyId")
        data.update(await contact_or_lead(ctx, body.contact_id, data.get("lead_id")))
        if kind == "EMAIL":
            # A logged email has happened: sent if ours, in the inbox if theirs.
            data.update(status="inbox" if direction == "inbound" else "sent", subject=body.subject)
            data["body_html" if body.body and _HTML.search(body.body) else "body_text"] = body.body
        else:
            data.update(channel=kind.lower(), external_id=str(message_id) if ref else None,
                        text="\n\n".join(part for part in (body.subject, body.body) if part) or None)
        with genesy_names(_NAMES):
            return await resource.service.create(ctx, resource.parse(resource.create_schema, data).model_dump())

    activity = await create_once(ctx, resource, SOURCE, ref, create)
    return {"id": activity.id, "type": kind, "subject": body.subject, "direction": activity.direction.upper(),
            "occurredAt": resource.serialize(activity)["activity_at"], "contactId": activity.contact_id,
            "companyId": activity.lead_id}
