"""Workspaces, members and API keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from geniziz.api.auth import digest, generate_secret
from geniziz.api.context import Ctx
from geniziz.api.errors import APIError, field_error, not_found
from geniziz.api.resource import CrudService
from geniziz.identity.refs import MemberRef
from geniziz.db import looks_like_id, new_id, utcnow
from geniziz.identity.keys import forget_after_commit
from geniziz.identity.models import ApiKey, Membership, Organization, User
from geniziz.statuses.service import create_default_statuses, lock_workspace


def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert


async def user_by_email(session: AsyncSession, email: str, name: str | None = None, *, create: bool) -> User | None:
    by_email = select(User).where(func.lower(User.email) == email.lower())
    user = await session.scalar(by_email)
    if user is None and create:
        # Two invitations of one new address at once: the unique email lets one insert, both find it.
        await session.execute(_insert(session)(User).values(
            id=new_id("user"), email=email, name=name or email.split("@")[0],
        ).on_conflict_do_nothing())  # the unique index on lower(email): any spelling
        user = await session.scalar(by_email)
    return user


async def issue_api_key(session: AsyncSession, organization_id: str, user_id: str, name: str = "") -> tuple[ApiKey, str]:
    secret = generate_secret()
    key = ApiKey(id=new_id("key"), organization_id=organization_id, user_id=user_id, name=name,
                 digest=digest(secret), hint=secret[:8])
    session.add(key)
    await session.flush()
    return key, secret


async def create_workspace(session: AsyncSession, name: str, admin_email: str,
                           admin_name: str | None = None) -> tuple[Organization, User, ApiKey, str]:
    """A new workspace with its default statuses, its admin (created if new) and an API key for them."""
    org = Organization(id=new_id("orga"), name=name)
    session.add(org)
    user = await user_by_email(session, admin_email, admin_name, create=True)
    assert user is not None
    session.add(Membership(id=new_id("memb"), organization_id=org.id, user_id=user.id, role="admin"))
    await session.flush()
    await create_default_statuses(session, org.id, user.id)
    key, secret = await issue_api_key(session, org.id, user.id, "default")
    return org, user, key, secret


class UserService(CrudService[User]):
    """Read-only: the members of the caller's workspace, with their role."""

    model = User
    prefix = "user"
    label = "user"

    def query(self, ctx: Ctx) -> Select:
        # The session keeps Membership to the caller's workspace, so this is its members.
        return select(User, Membership.role).join(Membership, Membership.user_id == User.id)

    async def list(self, ctx: Ctx, filters: dict[str, Any], limit: int, skip: int) -> tuple[list[User], bool]:
        rows = (await ctx.session.execute(
            self.query(ctx).order_by(User.id.desc()).offset(skip).limit(limit + 1))).all()
        return [_with_role(user, role) for user, role in rows[:limit]], len(rows) > limit

    async def get(self, ctx: Ctx, record_id: str, *, for_update: bool = False, refresh: bool = False) -> User:
        if not looks_like_id(record_id):
            raise not_found("User")
        row = (await ctx.session.execute(self.query(ctx).where(User.id == record_id))).first()
        if row is None:
            raise not_found("User")
        return _with_role(*row)


def _with_role(user: User, role: str) -> User:
    user.role = role  # type: ignore[attr-defined]  # transient: the role in the caller's workspace
    return user


class MembershipService(CrudService[Membership]):
    """Admins invite members by email, change roles and remove members. A workspace keeps an admin."""

    model = Membership
    prefix = "memb"
    label = "membership"

    async def create(self, ctx: Ctx, data: dict[str, Any]) -> Membership:
        ctx.require_admin()
        user = await user_by_email(ctx.session, data["email"], data.get("name"), create=True)
        assert user is not None
        # The unique (workspace, user) settles a race the same way as a repeat: already a member.
        membership_id = None if await MemberRef().exists(ctx, user.id) else await ctx.session.scalar(
            _insert(ctx.session)(Membership).values(
                id=new_id("memb"), organization_id=ctx.org_id, user_id=user.id, role=data["role"],
            ).on_conflict_do_nothing(index_elements=["organization_id", "user_id"]).returning(Membership.id))
        if membership_id is None:
            raise field_error("email", "already a member of this workspace")
        return await self.get(ctx, membership_id)

    async def update(self, ctx: Ctx, record_id: str, data: dict[str, Any]) -> Membership:
        ctx.require_admin()
        membership = await self.get(ctx, record_id, for_update=True)
        role = data.get("role") or membership.role
        if membership.role == "admin" and role != "admin":
            await self._keep_an_admin(ctx)
        if role != membership.role:
            forget_after_commit(ctx.session)  # cached keys carry the old role
        membership.role = role
        membership.date_updated = utcnow()
        await ctx.session.flush()
        return membership

    async def before_delete(self, ctx: Ctx, obj: Membership) -> None:
        ctx.require_admin()
        if obj.role == "admin":
            await self._keep_an_admin(ctx)
        # A removed member's keys for this workspace stop working with the membership; delete them too.
        for key in await ctx.session.scalars(select(ApiKey).where(ApiKey.user_id == obj.user_id)):
            await ctx.session.delete(key)
        forget_after_commit(ctx.session)

    async def _keep_an_admin(self, ctx: Ctx) -> None:
        # Counted under the workspace's lock: two admins demoting each other at once cannot both pass.
        await lock_workspace(ctx)
        admins = await ctx.session.scalar(select(func.count()).select_from(Membership).where(
            Membership.role == "admin"))
        if admins <= 1:
            raise APIError(400, "A workspace needs at least one admin", {"role": "last admin"})


class ApiKeyService(CrudService[ApiKey]):
    """A caller sees and deletes only their own keys in this workspace."""

    model = ApiKey
    prefix = "key"
    label = "API key"

    def query(self, ctx: Ctx) -> Select:
        return select(ApiKey).where(ApiKey.user_id == ctx.user_id)

    async def issue(self, ctx: Ctx, name: str, user_id: str | None) -> tuple[ApiKey, str]:
        if user_id and user_id != ctx.user_id:
            ctx.require_admin()
            if not await MemberRef().exists(ctx, user_id):
                raise field_error("user_id", f"No user with ID {user_id} in this workspace")
        return await issue_api_key(ctx.session, ctx.org_id, user_id or ctx.user_id, name)

    async def before_delete(self, ctx: Ctx, obj: ApiKey) -> None:
        forget_after_commit(ctx.session)  # the deleted key stops working at once in this process
