"""The caller's context, passed to every service call: who, in which workspace, through what, on which session;
and the unit of work that provides it to every surface (REST, MCP, Genesy, CLI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from anyio import CancelScope
from anyio.lowlevel import checkpoint_if_cancelled
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from geniziz.api.auth import Principal
from geniziz.api.errors import forbidden
from geniziz.db import Database


@dataclass(slots=True)
class Ctx:
    session: AsyncSession
    principal: Principal
    # Where the change came from: "api", "mcp", "genesy", "cli". Recorded on generated activities.
    via: str = "api"
    # False for an MCP connection below the write_destructive scope: a write that cannot be undone, reached
    # through a tool of a lower scope (a bulk delete is a create_record of a bulk action), asks this.
    may_destroy: bool = True

    @property
    def org_id(self) -> str:
        return self.principal.organization_id

    @property
    def user_id(self) -> str:
        return self.principal.user_id

    def require_admin(self) -> None:
        if not self.principal.is_admin:
            raise forbidden()

    def require_destructive(self, what: str) -> None:
        if not self.may_destroy:
            raise forbidden(f"{what} cannot be undone: it needs the write_destructive scope "
                            "(send the header Geniziz-Scope: write_destructive)")


@asynccontextmanager
async def unit_of_work(db: Database, principal: Principal, *, via: str, write: bool,
                       may_destroy: bool = True) -> AsyncIterator[Ctx]:
    """One request's work: a session bound to the caller's workspace, committed on a clean exit when
    writing, rolled back on an error. Services, adapters and resources only flush."""
    async with db.unit(principal.organization_id, write=write) as session:
        yield Ctx(session, principal, via, may_destroy)


def request_unit(scope: dict[str, Any], *, write: bool) -> AbstractAsyncContextManager[Ctx]:
    """The unit of work of one HTTP request (its ASGI scope), for the caller the gateway admitted. A write's
    end (the commit or the rollback) is shielded from cancellation, as FastAPI shields a dependency's exit:
    a client that goes away mid-commit must not leave the commit half-awaited. A read's end needs no shield
    (a tenth of a lead read on PostgreSQL): without a transaction it does no I/O, so nothing can cut it
    short, and a read that asked for one closes in a task of its own (``Database.unit``)."""
    state = scope["state"]
    unit = unit_of_work(scope["app"].state.db, state["principal"], via=state.get("via", "api"), write=write)
    return _shielded_exit(unit) if write else unit


@asynccontextmanager
async def _shielded_exit(unit: AbstractAsyncContextManager[Ctx]) -> AsyncIterator[Ctx]:
    with CancelScope() as cleanup:
        async with unit as ctx:
            try:
                yield ctx
            finally:
                cleanup.shield = True
    await checkpoint_if_cancelled()


def _request_unit(write: bool):  # type: ignore[no-untyped-def]
    async def unit(request: Request) -> AsyncIterator[Ctx]:
        state = request.state
        async with unit_of_work(request.app.state.db, state.principal, via=getattr(state, "via", "api"),
                                write=write) as ctx:
            yield ctx

    return unit


# Scope "function": the unit ends (and commits) when the endpoint returns, before the response is
# sent, so a failed commit becomes an error response instead of a 200 for lost data. Wrapped in
# plain dependencies so that every `Depends(read_ctx)` gets that scope without having to ask for it.
async def read_ctx(ctx: Annotated[Ctx, Depends(_request_unit(write=False), scope="function")]) -> Ctx:
    return ctx


async def write_ctx(ctx: Annotated[Ctx, Depends(_request_unit(write=True), scope="function")]) -> Ctx:
    return ctx


# The dependencies that provide a request's unit of work, and whether it writes: a DirectRoute
# (api/routing.py) opens that unit itself, with request_unit, instead of solving them.
UNIT_DEPENDENCIES = {read_ctx: False, write_ctx: True}
