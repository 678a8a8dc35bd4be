"""Mailing exports: the platform connections (admin, REST only) and the exports (the platforms registry
and the audience picker are actions, in actions.py)."""

from geniziz.api.resource import Resource, register
from geniziz.mailing import jobs  # noqa: F401 - the mailing_export.step job
from geniziz.mailing import schemas as s
from geniziz.mailing.service import CONNECTIONS, EXPORTS

mailing_connection = register(Resource(
    name="mailing_connection", title="Mailing connection", service=CONNECTIONS,
    read_schema=s.MailingConnectionRead, create_schema=s.MailingConnectionCreate,
    update_schema=s.MailingConnectionUpdate, filters=s.MailingConnectionFilters, mcp=False,
    description="A workspace's account on an email-marketing platform (Mailchimp, Brevo, Klaviyo), one per "
                "platform. The API key is verified against the platform on create and on change (400 with the "
                "platform's reason), stored encrypted and never returned. Admins only to change.",
))

mailing_export = register(Resource(
    name="mailing_export", title="Mailing export", service=EXPORTS,
    read_schema=s.MailingExportRead, create_schema=s.MailingExportCreate, detail_schema=s.MailingExportDetail,
    filters=s.MailingExportFilters, operations=frozenset({"list", "get", "create"}),
    description="POST /mailing_export/ {platform, filters{...}, config{...}}. Dry-runs the audience so the "
                "caller sees the match count immediately (total), then queues the push for the worker: "
                "batches add or update contacts by email in the platform's list; progress in pushed, failed, "
                "skipped and status (queued, running, done, failed); GET one for the per-contact failures.",
))
