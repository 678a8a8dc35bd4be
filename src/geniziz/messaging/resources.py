"""Messaging: connected accounts, email templates, the suppression list and conversations (the render,
test, restore and message actions are in actions.py)."""

from dataclasses import dataclass
from typing import Any

from geniziz.api.context import Ctx
from geniziz.api.resource import Resource, register
from geniziz.messaging import (
    handlers,  # noqa: F401 - an email entering the outbox queues its send
    inbound,  # noqa: F401 - every inbound email activity announces email.received
    jobs,  # noqa: F401 - the email.send job
    moves,  # noqa: F401 - a lead with messages waiting to be sent does not move
    sync,  # noqa: F401 - the IMAP sync jobs
    sms,  # noqa: F401 - an SMS entering the outbox queues its send; the sms.send job
)
from geniziz.messaging.conversations import CONVERSATIONS
from geniziz.messaging import schemas as s
from geniziz.messaging.service import ConnectedAccountService, EmailTemplateService
from geniziz.messaging.suppression import UNSUBSCRIBED

connected_account = register(Resource(
    name="connected_account", title="Connected account", service=ConnectedAccountService(),
    read_schema=s.ConnectedAccountRead, create_schema=s.ConnectedAccountCreate,
    update_schema=s.ConnectedAccountUpdate, filters=s.ConnectedAccountFilters,
    description="Accounts messages are sent through: email (SMTP) or sms (a Twilio-compatible API). Tested on "
                "create and when its SMTP or SMS settings change (400 with the server's reason). Passwords and "
                "tokens are write-only: reads show has_smtp_password, has_sms_token. "
                "Members see and use their own accounts and shared ones.",
))

email_template = register(Resource(
    name="email_template", title="Email template", service=EmailTemplateService(),
    read_schema=s.EmailTemplateRead, create_schema=s.EmailTemplateCreate, update_schema=s.EmailTemplateUpdate,
    filters=s.EmailTemplateFilters,
    description="Jinja templates (subject, body_text, body_html) over lead, contact, user and organization. "
                "Private templates are their author's; shared ones the workspace's.",
))

unsubscribed_email = register(Resource(
    name="unsubscribed_email", title="Unsubscribed email", service=UNSUBSCRIBED,
    read_schema=s.UnsubscribedEmailRead, create_schema=s.UnsubscribedEmailCreate,
    filters=s.UnsubscribedEmailFilters, operations=frozenset({"list", "get", "create", "delete"}),
    description="The suppression list: no email is sent to these addresses (queuing one answers 400; one "
                "that joins the list after it was queued ends in error) and mailing exports leave them out. "
                "Adding an address twice answers the existing entry. Deleting one allows sending again.",
))


@dataclass
class ConversationResource(Resource):
    """A single read also returns the conversation's messages, oldest first."""

    async def get(self, ctx: Ctx, record_id: str, fields: str | None = None, parent_id: str | None = None, *,
                  as_json: bool = False) -> dict[str, Any]:
        selected = self.selected_fields(fields, self.detail_schema)
        obj = await self.service.get(ctx, record_id)
        shaped = self.serialize(obj, None if selected is None else selected - {"messages"})
        if selected is None or "messages" in selected:
            shaped["messages"] = await self.service.messages(ctx, obj.id)
        return shaped


conversation = register(ConversationResource(
    name="conversation", title="Conversation", service=CONVERSATIONS,
    read_schema=s.ConversationRead, detail_schema=s.ConversationDetail, create_schema=s.ConversationCreate,
    update_schema=s.ConversationUpdate, filters=s.ConversationFilters,
    description="Threads of email, SMS and note activities with a contact, latest message first. Getting one "
                "returns its `messages`. Inbound replies land in theirs and are unread until "
                "`is_unread: false` is set. DELETE hides it from lists (is_deleted=true lists those); "
                "restore brings it back.",
))
