"""Messaging: connected accounts, email templates and the suppression list (the render and test actions
are in actions.py)."""

from geniziz.api.resource import Resource, register
from geniziz.messaging import (
    handlers,  # noqa: F401 - an email entering the outbox queues its send
    inbound,  # noqa: F401 - every inbound email activity announces email.received
    jobs,  # noqa: F401 - the email.send job
    sync,  # noqa: F401 - the IMAP sync jobs
)
from geniziz.messaging import schemas as s
from geniziz.messaging.service import ConnectedAccountService, EmailTemplateService
from geniziz.messaging.suppression import UNSUBSCRIBED

connected_account = register(Resource(
    name="connected_account", title="Connected account", service=ConnectedAccountService(),
    read_schema=s.ConnectedAccountRead, create_schema=s.ConnectedAccountCreate,
    update_schema=s.ConnectedAccountUpdate, filters=s.ConnectedAccountFilters,
    description="Email accounts messages are sent through (SMTP). Tested on create and when its SMTP settings "
                "change (400 with the server's reason). Passwords are write-only: reads show has_smtp_password. "
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
