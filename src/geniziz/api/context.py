"""The caller's context, passed to every service call: who, in which workspace, through what, on which session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from geniziz.api.auth import Principal
from geniziz.api.errors import forbidden


@dataclass(slots=True)
class Ctx:
    session: AsyncSession
    principal: Principal
    # Where the change came from: "api", "mcp", "genesy", "cli". Recorded on generated activities.
    via: str = "api"

    @property
    def org_id(self) -> str:
        return self.principal.organization_id

    @property
    def user_id(self) -> str:
        return self.principal.user_id

    def require_admin(self) -> None:
        if not self.principal.is_admin:
            raise forbidden()


async def read_ctx(request: Request) -> AsyncIterator[Ctx]:
    async with request.app.state.db.read_session() as session:
        yield Ctx(session, request.state.principal)


async def write_ctx(request: Request) -> AsyncIterator[Ctx]:
    async with request.app.state.db.write_session() as session:
        yield Ctx(session, request.state.principal)
