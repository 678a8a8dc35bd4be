"""Connected accounts (who may use which, credentials sealed, tested on the way in) and email templates
(visibility, syntax checked on the way in, rendering with a lead, contact, sender and workspace)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, case, func, or_, select

from geniziz.api.context import Ctx
from geniziz.api.errors import APIError, field_error, forbidden
from geniziz.api.resource import CrudService, Ref
from geniziz.contacts.models import Contact
from geniziz.contacts.service import lead_of_contact
from geniziz.db import utcnow
from geniziz.identity.models import Organization, User
from geniziz.identity.refs import MemberRef
from geniziz.leads.models import Lead
from geniziz.messaging import crypto, imap, sms, smtp, templates
from geniziz.messaging.models import ConnectedAccount, EmailTemplate
from geniziz.messaging.schemas import IMAP_FIELDS, SECRETS, SMS_FIELDS, SMTP_FIELDS
from geniziz.statuses.models import Status


# --- connected accounts --------------------------------------------------------------------------------
def smtp_settings(values: dict[str, Any], password: str | None) -> smtp.SmtpSettings:
    tls = values.get("smtp_tls") or "starttls"
    return smtp.SmtpSettings(host=values["smtp_host"], port=values.get("smtp_port") or smtp.DEFAULT_PORTS[tls],
                             tls=tls, username=values.get("smtp_username") or values.get("email"), password=password)


def account_settings(account: ConnectedAccount) -> smtp.SmtpSettings:
    values = {name: getattr(account, name) for name in ("smtp_host", "smtp_port", "smtp_tls", "smtp_username", "email")}
    return smtp_settings(values, crypto.unseal(account.credentials).get("smtp_password"))


async def check_smtp(settings: smtp.SmtpSettings) -> None:
    """The connection test of create and of a credential change: a 400 with the server's reason."""
    try:
        await smtp.test_connection(settings)
    except smtp.SmtpFailure as exc:
        raise APIError(400, f"SMTP test failed: {exc}", {exc.field: str(exc)}) from None


def imap_settings(values: dict[str, Any], password: str | None) -> imap.ImapSettings | None:
    """None for an account that does not receive mail (no imap_host)."""
    if not values.get("imap_host"):
        return None
    tls = values.get("imap_tls") or "ssl"
    return imap.ImapSettings(host=values["imap_host"], port=values.get("imap_port") or imap.DEFAULT_PORTS[tls], tls=tls,
                             username=values.get("imap_username") or values.get("email") or "", password=password)


def account_imap_settings(account: ConnectedAccount) -> imap.ImapSettings | None:
    values = {name: getattr(account, name) for name in ("imap_host", "imap_port", "imap_tls", "imap_username", "email")}
    password = crypto.unseal(account.credentials).get("imap_password") if values["imap_host"] else None
    return imap_settings(values, password)


async def check_imap(settings: imap.ImapSettings | None) -> None:
    """LOGIN + SELECT INBOX when the account receives mail: a 400 with the server's reason."""
    if settings is None:
        return
    try:
        await imap.test_connection(settings)
    except imap.ImapFailure as exc:
        raise APIError(400, f"IMAP test failed: {exc}", {exc.field: str(exc)}) from None


async def check_sms(settings: sms.SmsSettings) -> None:
    """An SMS account's test: its credentials fetch the provider's account record, or a 400 with its reason."""
    try:
        await sms.test_connection(settings)
    except sms.SmsFailure as exc:
        raise APIError(400, f"SMS provider test failed: {exc}", {exc.field: str(exc)}) from None


# The settings each kind needs (400 naming the first missing one).
REQUIRED = {"email": ("email", "smtp_host"), "sms": ("sms_base_url", "sms_account_sid", "sms_token", "phone_numbers")}


class ConnectedAccountService(CrudService[ConnectedAccount]):
    model = ConnectedAccount
    prefix = "acct"
    label = "connected account"
    refs = {"user_id": MemberRef()}

    def query(self, ctx: Ctx) -> Select:
        query = super().query(ctx)
        if ctx.principal.is_admin:
            return query
        return query.where(or_(ConnectedAccount.user_id == ctx.user_id, ConnectedAccount.is_shared.is_(True)))

    def _check_rights(self, ctx: Ctx, obj: ConnectedAccount, data: dict[str, Any]) -> None:
        if ctx.principal.is_admin:
            return
        if obj.user_id not in (None, ctx.user_id):
            raise forbidden("Only its owner or an admin can change this account")
        if data.get("user_id") not in (None, ctx.user_id):
            raise field_error("user_id", "only admins may connect an account for another member")
        if data.get("is_shared"):
            raise field_error("is_shared", "only admins may share an account with the workspace")

    async def create(self, ctx: Ctx, data: dict[str, Any]) -> ConnectedAccount:
        # Tested before the first database statement: on SQLite no write lock is held while we wait.
        self._check_rights(ctx, ConnectedAccount(), data)
        for name in REQUIRED[data["kind"]]:
            if not data.get(name):
                raise field_error(name, f"required for an {data['kind']} account")
        if data["kind"] == "sms":
            await check_sms(sms.SmsSettings(data["sms_base_url"], data["sms_account_sid"], data["sms_token"]))
            data["email"] = data.get("email") or ""  # SMS accounts have no address
        else:
            await check_smtp(smtp_settings(data, data.get("smtp_password")))
            await check_imap(imap_settings(data, data.get("imap_password")))
        return await super().create(ctx, data)

    async def apply(self, ctx: Ctx, obj: ConnectedAccount, data: dict[str, Any], *, creating: bool) -> None:
        self._check_rights(ctx, obj, data)
        if not creating:
            if data.pop("kind", None) not in (None, obj.kind):
                raise field_error("kind", "cannot be changed: connect a new account")
            for name in REQUIRED[obj.kind]:
                if name in data and not data[name]:
                    raise field_error(name, f"required for an {obj.kind} account")
        kind = data["kind"] if creating else obj.kind
        retest = creating or bool((SMS_FIELDS if kind == "sms" else SMTP_FIELDS) & data.keys())
        retest_imap = not creating and kind == "email" and bool(IMAP_FIELDS & data.keys())
        secrets = {} if creating else crypto.unseal(obj.credentials)
        for name in SECRETS:
            if name in data:
                secrets[name] = data.pop(name)
        secrets = {name: value for name, value in secrets.items() if value}  # null removes one
        if creating:
            data["user_id"] = data.get("user_id") or ctx.user_id
        for name, value in data.items():
            setattr(obj, name, value)
        if obj.kind == "email":
            obj.smtp_port = obj.smtp_port or smtp.DEFAULT_PORTS[obj.smtp_tls or "starttls"]
            obj.smtp_username = obj.smtp_username or obj.email
            if obj.imap_host:
                obj.imap_port = obj.imap_port or imap.DEFAULT_PORTS[obj.imap_tls or "ssl"]
        if (obj.max_per_hour or 0) > (obj.max_per_day or 0):
            raise field_error("max_per_hour", "cannot exceed max_per_day")
        obj.credentials = crypto.seal(secrets) if secrets else None
        obj.secrets_set = sorted(secrets)
        if retest:
            if not creating and obj.kind == "sms":  # create tested before touching the database
                await check_sms(sms.settings_of(obj, secrets.get("sms_token")))
            elif not creating:
                await check_smtp(account_settings(obj))
            obj.last_tested_at, obj.last_test_error = utcnow(), None
        if retest_imap:
            await check_imap(account_imap_settings(obj))
            obj.last_tested_at, obj.last_test_error = utcnow(), None

    async def before_delete(self, ctx: Ctx, obj: ConnectedAccount) -> None:
        self._check_rights(ctx, obj, {})

    async def test(self, ctx: Ctx, account_id: str) -> dict[str, Any]:
        """The `test` action: EHLO + AUTH (and IMAP LOGIN + SELECT) with the stored settings; the outcome is
        kept on the account."""
        account = await self.get(ctx, account_id, for_update=True)
        self._check_rights(ctx, account, {})
        try:
            if account.kind == "sms":
                detail, error = await sms.test_connection(sms.settings_of(account)), None
            else:
                detail, error = await smtp.test_connection(account_settings(account)), None
                if (settings := account_imap_settings(account)) is not None:
                    detail = f"{detail}; IMAP {await imap.test_connection(settings)}"
        except (smtp.SmtpFailure, imap.ImapFailure, sms.SmsFailure) as exc:
            detail = error = str(exc)
        account.last_tested_at, account.last_test_error = utcnow(), error
        await ctx.session.flush()
        return {"ok": error is None, "detail": detail, "last_tested_at": account.last_tested_at}


async def sending_account(ctx: Ctx, sender: str | None) -> ConnectedAccount:
    """The account an email from the caller leaves through: their own (first) or a shared one, with the
    sender's address when one is given. Another member's private account is never a choice."""
    query = (select(ConnectedAccount).where(
        ConnectedAccount.kind == "email",
        or_(ConnectedAccount.user_id == ctx.user_id, ConnectedAccount.is_shared.is_(True)))
        .order_by(case((ConnectedAccount.user_id == ctx.user_id, 0), else_=1), ConnectedAccount.id).limit(1))
    if sender:
        query = query.where(func.lower(ConnectedAccount.email) == sender.lower())
    account = (await ctx.session.scalars(query)).first()
    if account is None:
        raise field_error("sender", f"none of your connected accounts (or the shared ones) sends as {sender}"
                          if sender else "connect an email account (/connected_account/) to send email")
    return account


# --- email templates -----------------------------------------------------------------------------------
class EmailTemplateService(CrudService[EmailTemplate]):
    model = EmailTemplate
    prefix = "emtp"
    label = "email template"

    def query(self, ctx: Ctx) -> Select:
        return super().query(ctx).where(or_(EmailTemplate.is_shared.is_(True), EmailTemplate.created_by == ctx.user_id))

    async def apply(self, ctx: Ctx, obj: EmailTemplate, data: dict[str, Any], *, creating: bool) -> None:
        if not creating and obj.created_by != ctx.user_id and not ctx.principal.is_admin:
            raise forbidden("Only its author or an admin can change this template")
        for name in ("subject", "body_text", "body_html"):
            templates.check_syntax(name, data.get(name))
        if data.get("subject") is None and "subject" in data:
            data["subject"] = ""
        await super().apply(ctx, obj, data, creating=creating)

    async def before_delete(self, ctx: Ctx, obj: EmailTemplate) -> None:
        if obj.created_by != ctx.user_id and not ctx.principal.is_admin:
            raise forbidden("Only its author or an admin can delete this template")

    async def render(self, ctx: Ctx, template_id: str, lead_id: str | None, contact_id: str | None) -> dict[str, Any]:
        template = await self.get(ctx, template_id)
        variables = await template_variables(ctx, lead_id, contact_id)
        rendered = templates.render(template.subject, template.body_text, template.body_html, variables)
        return {"template_id": template.id, "lead_id": variables.get("lead", {}).get("id"),
                "contact_id": variables.get("contact", {}).get("id"), **rendered}


async def template_variables(ctx: Ctx, lead_id: str | None, contact_id: str | None) -> dict[str, Any]:
    """lead, contact, user (the sender: the caller) and organization, as plain dicts. A contact given
    alone brings its lead; a lead alone brings its first contact, if it has one."""
    lead_id = await lead_of_contact(ctx, contact_id, lead_id)
    variables: dict[str, Any] = {
        "user": templates.user_vars(await ctx.session.get(User, ctx.user_id)),
        "organization": templates.organization_vars(await ctx.session.get(Organization, ctx.org_id)),
    }
    if lead_id:
        if not await Ref(Lead, "lead").exists(ctx, lead_id):
            raise field_error("lead_id", f"No lead with ID {lead_id} in this workspace")
        lead = await ctx.session.get(Lead, lead_id)
        status = await ctx.session.get(Status, lead.status_id)
        variables["lead"] = templates.lead_vars(lead, status.label if status else None)
        contact = await ctx.session.get(Contact, contact_id) if contact_id else (await ctx.session.scalars(
            select(Contact).where(Contact.lead_id == lead_id).order_by(Contact.id).limit(1))).first()
        if contact is not None:
            variables["contact"] = templates.contact_vars(contact)
    return variables
