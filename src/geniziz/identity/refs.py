"""References to people: a user ID that must be a member of the caller's workspace."""

from __future__ import annotations

from sqlalchemy import exists, select

from geniziz.api.context import Ctx
from geniziz.api.resource import Ref
from geniziz.db import looks_like_id
from geniziz.identity.models import Membership


class MemberRef(Ref):
    """A user ID that must belong to a member of the caller's workspace (the session adds the workspace)."""

    def __init__(self) -> None:
        super().__init__(Membership, "user")

    async def exists(self, ctx: Ctx, value: str) -> bool:
        if not looks_like_id(value):
            return False
        return bool(await ctx.session.scalar(select(exists().where(Membership.user_id == value))))
