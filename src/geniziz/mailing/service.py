"""Mailing exports: platform connections (verified, key sealed), the audience a filter selects, and
creating an export (the dry-run count is the audience snapshot the worker then pushes)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, func, insert, select
from sqlalchemy.exc import IntegrityError

from geniziz.api.context import Ctx
from geniziz.api.errors import APIError, field_error
from geniziz.api.resource import CrudService
from geniziz.contacts.models import Contact
from geniziz.custom import values as custom_values
from geniziz.db import utcnow
from geniziz.identity.models import Membership
from geniziz.leads.models import Lead
from geniziz.mailing import outbound
from geniziz.mailing.adapters import PLATFORMS, Adapter, Connection
from geniziz.mailing.models import MailingConnection, MailingExport, MailingExportMember
from geniziz.messaging import crypto
from geniziz.messaging.suppression import suppressed_clause
from geniziz.statuses.models import Status
from geniziz.worker import enqueue

STEP_JOB = "mailing_export.step"
MAX_FAILURES_SHOWN = 1000


# --- connections ------------------------------------------------------------------------------------
def connection_of(record: MailingConnection) -> Connection:
    api_key = crypto.unseal(record.credentials)["api_key"]
    return Connection(api_key=api_key, base_url=record.base_url or PLATFORMS[record.platform].base_url(api_key))


async def verify(adapter: Adapter, api_key: str, base_url: str | None) -> str:
    """The account's name, or a 400 naming what to fix. Runs before any database statement where it can,
    so no SQLite write lock is held while the platform answers."""
    if problem := adapter.key_problem(api_key):
        raise field_error("api_key", problem)
    url = base_url or adapter.base_url(api_key)
    try:
        await outbound.check_url(url)
    except outbound.HostRefused as exc:
        raise field_error("base_url", str(exc)) from None
    try:
        return await adapter.verify(Connection(api_key=api_key, base_url=url))
    except outbound.RateLimited as exc:
        raise APIError(400, f"{adapter.title} is rate limiting this key: try again in {exc.wait:g} s",
                       {"api_key": "rate limited by the platform"}) from None
    except outbound.PlatformError as exc:
        name = "api_key" if exc.status in (401, 403) else "base_url"
        raise APIError(400, f"{adapter.title} verification failed: {exc}", {name: str(exc)}) from None


class MailingConnectionService(CrudService[MailingConnection]):
    model = MailingConnection
    prefix = "mcon"
    label = "mailing connection"

    async def create(self, ctx: Ctx, data: dict[str, Any]) -> MailingConnection:
        ctx.require_admin()
        adapter = PLATFORMS[data["platform"]]
        account = await verify(adapter, data["api_key"], data.get("base_url"))
        taken = await ctx.session.scalar(select(MailingConnection.id).where(
            MailingConnection.platform == data["platform"]))
        if taken:
            raise field_error("platform", f"{adapter.title} is already connected ({taken}): update that connection")
        data["account_name"] = account
        try:
            async with ctx.session.begin_nested():  # a concurrent connect of the same platform wins
                return await super().create(ctx, data)
        except IntegrityError:
            raise field_error("platform", f"{adapter.title} is already connected: update that connection") from None

    async def update(self, ctx: Ctx, record_id: str, data: dict[str, Any]) -> MailingConnection:
        ctx.require_admin()
        return await super().update(ctx, record_id, data)

    async def apply(self, ctx: Ctx, obj: MailingConnection, data: dict[str, Any], *, creating: bool) -> None:
        api_key = data.pop("api_key", None)
        if not creating and (api_key or "base_url" in data):  # create verified before touching the database
            api_key = api_key or crypto.unseal(obj.credentials)["api_key"]
            data["account_name"] = await verify(PLATFORMS[obj.platform], api_key, data.get("base_url", obj.base_url))
        if api_key:
            obj.credentials = crypto.seal({"api_key": api_key})
        for name, value in data.items():
            setattr(obj, name, value)
        obj.last_verified_at = utcnow() if (creating or api_key) else obj.last_verified_at

    async def before_delete(self, ctx: Ctx, obj: MailingConnection) -> None:
        ctx.require_admin()


CONNECTIONS = MailingConnectionService()


async def connected(ctx: Ctx, platform: str, field: str = "platform") -> MailingConnection:
    record = await ctx.session.scalar(select(MailingConnection).where(MailingConnection.platform == platform))
    if record is None:
        raise field_error(field, f"{PLATFORMS[platform].title} is not connected in this workspace: "
                                 "POST /mailing_connection/ with its API key first")
    return record


async def platforms(ctx: Ctx) -> list[dict[str, Any]]:
    """The registry as the UI needs it: each platform, its config fields, and this workspace's connection."""
    records = {row.platform: row for row in await ctx.session.scalars(select(MailingConnection))}
    out = []
    for adapter in PLATFORMS.values():
        record = records.get(adapter.name)
        out.append({
            "name": adapter.name, "title": adapter.title, "connected": record is not None,
            "connection_id": record.id if record else None, "account_name": record.account_name if record else None,
            "max_batch": adapter.max_batch, "asynchronous": adapter.asynchronous, "docs": adapter.docs,
            "config_fields": config_fields(adapter)})
    return out


def config_fields(adapter: Adapter) -> list[dict[str, Any]]:
    from geniziz.mailing.schemas import ExportConfig

    fields = []
    for name, info in ExportConfig.model_fields.items():
        if name == "double_opt_in" and adapter.name != "mailchimp":
            continue
        kind = {"list_id": "string", "fields": "object", "double_opt_in": "boolean", "batch_size": "integer"}[name]
        fields.append({"name": name, "type": kind, "required": info.is_required(), "description": info.description})
    return fields


async def audiences(ctx: Ctx, connection_id: str) -> list[dict[str, Any]]:
    record = await CONNECTIONS.get(ctx, connection_id)
    platform, conn = record.platform, connection_of(record)
    await ctx.session.commit()  # read only: no SQLite lock held while the platform answers
    try:
        return await PLATFORMS[platform].audiences(conn)
    except outbound.RateLimited as exc:
        raise APIError(429, f"{PLATFORMS[platform].title} is rate limiting: try again in {exc.wait:g} s") from None
    except (outbound.PlatformError, outbound.HostRefused) as exc:
        raise APIError(400, f"{PLATFORMS[platform].title} answered: {exc}", {"connection_id": str(exc)}) from None


# --- the audience -----------------------------------------------------------------------------------
def first_email() -> Any:
    """A contact's first email address, as the JSON column holds it."""
    return Contact.emails[0]["email"].as_string()


async def audience(ctx: Ctx, filters: dict[str, Any]) -> Select:
    """(lower-cased address, first contact with it) for every contact the filters select, leaving out
    contacts without an address and addresses on the suppression list; one row per address."""
    address = func.lower(first_email())
    query = (select(address.label("email"), func.min(Contact.id).label("contact_id"))
             .join(Lead, Lead.id == Contact.lead_id)
             .where(first_email().is_not(None), first_email() != "", ~suppressed_clause(first_email())))
    conditions = {
        "lead_ids": lambda v: Lead.id.in_(v), "status_ids": lambda v: Lead.status_id.in_(v),
        "owner_ids": lambda v: Lead.owner_id.in_(v),
        "lead_created_after": lambda v: Lead.date_created >= v, "lead_created_before": lambda v: Lead.date_created < v,
        "contact_created_after": lambda v: Contact.date_created >= v,
        "contact_created_before": lambda v: Contact.date_created < v,
    }
    for name, condition in conditions.items():
        if filters.get(name) is not None:
            query = query.where(condition(filters[name]))
    for name, column, kind in (("lead_custom", Lead.custom, "lead"), ("contact_custom", Contact.custom, "contact")):
        if params := filters.get(name):
            # The lists' own grammar and checks; a bad key or value is a 400 naming filters.<name>.<key>.
            keyed = {key if key.startswith(custom_values.PREFIX) else custom_values.PREFIX + key: value
                     for key, value in params.items()}
            try:
                query = query.where(*custom_values.conditions(
                    custom_values.dialect_of(ctx), column, await custom_values.fields_of(ctx, kind), keyed, f"{kind}s"))
            except APIError as exc:
                raise APIError(400, exc.message, {f"filters.{name}.{key}": why
                                                  for key, why in exc.field_errors.items()}) from None
    return query.group_by(address)


async def check_filters(ctx: Ctx, filters: dict[str, Any]) -> None:
    """Every ID a filter names is the workspace's (a lead, a lead status, a member): 400 naming the filter."""
    checks = {"lead_ids": (Lead.id, None), "status_ids": (Status.id, Status.kind == "lead"),
              "owner_ids": (Membership.user_id, None)}
    for name, (column, extra) in checks.items():
        wanted = set(filters.get(name) or ())
        if not wanted:
            continue
        query = select(column).where(column.in_(wanted))
        if extra is not None:
            query = query.where(extra)
        if missing := wanted - set(await ctx.session.scalars(query)):
            raise field_error(f"filters.{name}", f"not in this workspace: {', '.join(sorted(missing)[:10])}")


class MailingExportService(CrudService[MailingExport]):
    model = MailingExport
    prefix = "mexp"
    label = "mailing export"

    async def get(self, ctx: Ctx, record_id: str, *, for_update: bool = False, refresh: bool = False) -> MailingExport:
        export = await super().get(ctx, record_id, for_update=for_update, refresh=refresh)
        if not for_update:  # a read: with the contacts that were not pushed, and why
            rows = await ctx.session.execute(
                select(MailingExportMember.email, MailingExportMember.contact_id, MailingExportMember.state,
                       MailingExportMember.error)
                .where(MailingExportMember.export_id == export.id, MailingExportMember.state.in_(("failed", "skipped")))
                .order_by(MailingExportMember.email).limit(MAX_FAILURES_SHOWN))
            export.failure_rows = [row._asdict() for row in rows]  # type: ignore[attr-defined]
        return export

    async def create(self, ctx: Ctx, data: dict[str, Any]) -> MailingExport:
        adapter = PLATFORMS[data["platform"]]
        config, filters = data["config"], data["filters"]
        if not re.match(adapter.list_id_pattern, config["list_id"]):
            raise field_error("config.list_id", f"not a {adapter.title} list ID")
        if (config.get("batch_size") or 0) > adapter.max_batch:
            raise field_error("config.batch_size", f"{adapter.title} takes at most {adapter.max_batch} per call")
        if adapter.name == "mailchimp" and {"FNAME", "LNAME"} & set(config.get("fields") or {}):
            raise field_error("config.fields", "FNAME and LNAME are set from the contact's name")
        await check_filters(ctx, filters)
        connection = await connected(ctx, data["platform"])
        export = self.new(ctx)
        export.platform, export.connection_id, export.name = adapter.name, connection.id, data.get("name")
        # Stored as JSON, timestamps as ISO text.
        export.filters = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in filters.items()
                          if v is not None}
        export.config = config
        export.status, export.step = "queued", 0
        ctx.session.add(export)
        await ctx.session.flush()
        # The dry run is the snapshot: what is counted now is exactly what the worker pushes.
        members = [{"organization_id": ctx.org_id, "export_id": export.id, "email": email, "contact_id": contact_id,
                    "state": "pending"} for email, contact_id in (await ctx.session.execute(await audience(ctx, filters))).all()]
        for start in range(0, len(members), 5000):
            await ctx.session.execute(insert(MailingExportMember), members[start:start + 5000])
        export.total = len(members)
        if members:
            await enqueue(ctx, STEP_JOB, {"export_id": export.id, "step": 0}, owner=export,
                          idempotency_key=f"{export.id}:0", max_attempts=8)
        else:
            export.status, export.date_finished = "done", utcnow()
        await ctx.session.flush()
        return export


EXPORTS = MailingExportService()
