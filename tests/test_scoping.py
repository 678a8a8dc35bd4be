"""Workspace scoping below the services, and the unit of work.

Queries here are written WITHOUT any workspace condition and run, in this process, against the
test server's real database holding two workspaces' rows: a session bound to workspace B must
still never see or change workspace A's rows. Then: a session bound to nothing refuses, and the
unit of work commits only on a clean exit, before the response is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import delete, exists, func, inspect, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, joinedload, selectinload

from geniziz.api.auth import Principal
from geniziz.api.context import Ctx, write_ctx
from geniziz.api.resource import REGISTRY
from geniziz.api.routing import DirectRoute, QuickRouter
from geniziz.api.rows import RowReader
from geniziz.app import load_domains
from geniziz.contacts.models import Contact
from geniziz.db import Database, UnscopedQuery, WorkspaceSession, new_id
from geniziz.identity.models import Membership, Organization
from geniziz.leads.models import Lead
from geniziz.opportunities.models import Opportunity
from geniziz.statuses.models import Status
from geniziz.tasks.models import Task
from tests.conftest import Api, Server
from tests.factories import make_contact, make_lead, make_opportunity

load_domains()


def run(server: Server, work: Callable[[Database], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        db = Database(server.database_url, pool_size=2)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(main())


@pytest.fixture
def rows(api: Api, other: Api) -> dict[str, Any]:
    """A lead with a contact and an opportunity in each workspace."""
    out: dict[str, Any] = {}
    for name, client in (("a", api), ("b", other)):
        lead = make_lead(client, name=f"Scoped {name}")
        out[name] = {"lead": lead["id"], "contact": make_contact(client, lead_id=lead["id"])["id"],
                     "opportunity": make_opportunity(client, lead_id=lead["id"])["id"], "org": client.org_id}
    return out


def test_queries_without_the_condition_see_only_the_bound_workspace(server: Server, rows: dict[str, Any]) -> None:
    a, b = rows["a"], rows["b"]

    async def work(db: Database) -> dict[str, Any]:
        async with db.unit(b["org"]) as s:
            status = aliased(Status)
            return {
                "orm": set(await s.scalars(select(Lead.id))),
                "entities": {lead.id for lead in await s.scalars(select(Lead))},
                "get": await s.get(Lead, a["lead"]),
                "get_own": (await s.get(Lead, b["lead"])).id,
                "by_id": (await s.execute(select(Lead).where(Lead.id == a["lead"]))).first(),
                "count": await s.scalar(select(func.count()).select_from(Lead)),
                "count_orgs": await s.scalar(select(func.count(func.distinct(Contact.organization_id)))),
                # joins, aliases, subqueries and EXISTS: each table gets the condition
                "join": set(await s.scalars(select(Opportunity.id).join(Status, Status.id == Opportunity.status_id))),
                "alias": set(await s.scalars(select(status.id).where(status.kind == "opportunity"))),
                "subquery": set(await s.scalars(select(Lead.id).where(Lead.id.in_(select(Contact.lead_id))))),
                "exists": await s.scalar(select(exists().where(Contact.id == a["contact"]))),
                "members": {m.organization_id for m in await s.scalars(select(Membership))},
            }

    seen = run(server, work)
    assert a["lead"] not in seen["orm"] and b["lead"] in seen["orm"]
    assert seen["entities"] == seen["orm"]
    assert seen["get"] is None and seen["get_own"] == b["lead"]
    assert seen["by_id"] is None
    assert seen["count"] == len(seen["orm"])
    assert seen["count_orgs"] == 1
    assert b["opportunity"] in seen["join"] and a["opportunity"] not in seen["join"]
    assert seen["alias"] and seen["subquery"] == {b["lead"]}
    assert seen["exists"] is False
    assert seen["members"] == {b["org"]}


def test_relationship_loads_are_scoped(server: Server, rows: dict[str, Any]) -> None:
    """Even a row that points across workspaces (which the services never write) stays invisible."""
    a, b = rows["a"], rows["b"]
    stray = new_id("cont")

    async def work(db: Database) -> tuple[set[str], set[str]]:
        async with db.unit(system=True, write=True) as s:  # corrupt data on purpose: A's contact on B's lead
            s.add(Contact(id=stray, organization_id=a["org"], lead_id=b["lead"], name="Stray"))
        try:
            async with db.unit(b["org"]) as s:
                selectin = (await s.scalars(select(Lead).where(Lead.id == b["lead"])
                                            .options(selectinload(Lead.contacts)))).one()
                selected = {c.id for c in selectin.contacts}
            async with db.unit(b["org"]) as s:
                joined = (await s.scalars(select(Lead).where(Lead.id == b["lead"])
                                          .options(joinedload(Lead.contacts)))).unique().one()
                return selected, {c.id for c in joined.contacts}
        finally:
            async with db.unit(system=True, write=True) as s:
                await s.execute(delete(Contact).where(Contact.id == stray))

    selected, joined = run(server, work)
    assert selected == joined == {b["contact"]}


def test_reads_as_rows_are_scoped(server: Server, rows: dict[str, Any]) -> None:
    """Leads are read as rows by Core statements (api/rows.py), which the session's criteria do not reach: their
    own workspace conditions keep a stray contact, another workspace's lead and an unbound session out."""
    a, b = rows["a"], rows["b"]
    stray = new_id("cont")
    service = REGISTRY["lead"].service

    async def work(db: Database) -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with db.unit(system=True, write=True) as s:  # corrupt data on purpose: A's contact on B's lead
            s.add(Contact(id=stray, organization_id=a["org"], lead_id=b["lead"], name="Stray"))
        try:
            async with db.unit(b["org"]) as s:
                ctx = Ctx(s, Principal(b["org"], "user_x", "admin", "key_x"))
                out["read"] = {c["id"] for c in (await service.read(ctx, b["lead"]))["contacts"]}
                page, _ = await service.read_page(ctx, {}, 200, 0)
                out["page"] = {r["id"] for r in page}
                out["page_contacts"] = {c["id"] for r in page for c in r["contacts"]}
                # A filtered page reads its IDs' rows by a statement of its own, which names the workspace too:
                # handed another workspace's lead ID, it reads nothing.
                filtered, _ = await service.read_page(ctx, {"query": "scoped"}, 200, 0)  # both leads match it
                out["filtered"] = {r["id"] for r in filtered}
                out["listed_other"] = (await s.execute(service._row_lists, {"ids": [a["lead"]]})).all()
                # A reader keeps its service's own condition: lead statuses only, never an opportunity's.
                statuses = RowReader(inspect(Status), None, REGISTRY["status/lead"].service.base_query().whereclause)
                out["lead_statuses"] = {r["kind"] for r in statuses.records(await s.execute(
                    statuses.pages((Status.id,))[False], {"page_skip": 0, "page_limit": 100}))}
                opportunity_status = await s.scalar(select(Status.id).where(Status.kind == "opportunity").limit(1))
                out["other_kind"] = (await s.execute(statuses.by_id, {"record_id": opportunity_status})).all()
                try:
                    await service.read(ctx, a["lead"])
                    out["other"] = "read"
                except Exception as error:  # noqa: BLE001
                    out["other"] = getattr(error, "status", type(error).__name__)
            async with db.system_session() as s:  # no workspace: the statement lacks its parameter and fails
                try:
                    await service.read(Ctx(s, Principal(b["org"], "user_x", "admin", "key_x")), b["lead"])
                    out["system"] = "read"
                except Exception as error:  # noqa: BLE001
                    out["system"] = type(error).__name__
        finally:
            async with db.unit(system=True, write=True) as s:
                await s.execute(delete(Contact).where(Contact.id == stray))
        return out

    out = run(server, work)
    assert out["read"] == {b["contact"]}
    assert out["lead_statuses"] == {"lead"} and not out["other_kind"]
    assert a["lead"] not in out["page"] and b["lead"] in out["page"]
    assert stray not in out["page_contacts"] and b["contact"] in out["page_contacts"]
    assert b["lead"] in out["filtered"] and a["lead"] not in out["filtered"] and out["listed_other"] == []
    assert out["other"] == 404
    assert out["system"] != "read"


def test_a_statement_reused_across_workspaces_sees_only_the_current_one(server: Server, rows: dict[str, Any]) -> None:
    """The listener scopes a statement object once and runs that scoped copy again (geniziz.db): the workspace is
    a parameter of each execution, so one statement object run in either workspace, in turn, sees that one's rows."""
    a, b = rows["a"], rows["b"]
    both = [a["lead"], b["lead"]]
    ids = select(Lead.id).where(Lead.id.in_(both))
    joined = select(Contact.id).join(Lead, Lead.id == Contact.lead_id).where(Lead.id.in_(both))
    with_contacts = select(Lead).where(Lead.id.in_(both)).options(selectinload(Lead.contacts))
    by_id = REGISTRY["lead"].service._by_id_statements[False, False]  # what GET /lead/{id}/ runs
    touch = update(Lead).where(Lead.id.in_(both)).values(description="reused")

    async def work(db: Database) -> list[dict[str, Any]]:
        seen = []
        for org in (b["org"], a["org"], b["org"], a["org"]):  # the second round reuses the scoped copies
            async with db.unit(org, write=True) as s:
                leads = list(await s.scalars(with_contacts))
                s.expire(leads[0])  # reloaded with the criteria it was loaded with, which read the workspace too
                await s.run_sync(lambda _: leads[0].name)
                seen.append({
                    "ids": set(await s.scalars(ids)), "joined": set(await s.scalars(joined)),
                    "leads": {lead.id for lead in leads}, "contacts": {c.id for lead in leads for c in lead.contacts},
                    "by_id": {lead_id for lead_id in both
                              if (await s.scalars(by_id, {"record_id": lead_id})).unique().first() is not None},
                    "touched": (await s.execute(touch)).rowcount,
                })
        return seen

    for seen, name in zip(run(server, work), "baba", strict=True):
        mine = rows[name]
        assert seen == {"ids": {mine["lead"]}, "joined": {mine["contact"]}, "leads": {mine["lead"]},
                        "contacts": {mine["contact"]}, "by_id": {mine["lead"]}, "touched": 1}


def test_bulk_update_and_delete_are_scoped(server: Server, api: Api, rows: dict[str, Any]) -> None:
    a, b = rows["a"], rows["b"]

    async def work(db: Database) -> tuple[int, int]:
        async with db.unit(b["org"], write=True) as s:
            updated = (await s.execute(update(Lead).values(description="touched"))).rowcount
            deleted = (await s.execute(delete(Opportunity).where(Opportunity.id == a["opportunity"]))).rowcount
        return updated, deleted

    updated, deleted = run(server, work)
    assert deleted == 0 and updated >= 1
    assert api.ok("GET", f"/lead/{a['lead']}/")["description"] is None
    assert api.ok("GET", f"/opportunity/{a['opportunity']}/")["id"] == a["opportunity"]


def test_unbound_sessions_refuse_and_system_sessions_say_so(server: Server, rows: dict[str, Any]) -> None:
    a, b = rows["a"], rows["b"]

    async def work(db: Database) -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with AsyncSession(db.read_engine, sync_session_class=WorkspaceSession) as s:
            for name, statement in (("select", select(Lead)), ("columns", select(func.count(Contact.id))),
                                    ("exists", select(exists().where(Membership.user_id == "x"))),
                                    ("update", update(Task).values(text="x"))):
                try:
                    await s.execute(statement)
                    out[name] = "ran"
                except UnscopedQuery:
                    out[name] = "refused"
            # Organizations are not workspace-owned rows: a workspace is looked up before it is known.
            out["organization"] = await s.get(Organization, a["org"]) is not None
        async with db.system_session() as s:
            out["system"] = set(await s.scalars(select(Lead.id).where(Lead.id.in_([a["lead"], b["lead"]]))))
        async with db.unit(b["org"]) as s:
            everywhere = select(Lead.id).where(Lead.id.in_([a["lead"], b["lead"]]))
            out["all_workspaces"] = set(await s.scalars(everywhere.execution_options(all_workspaces=True)))
        with pytest.raises(ValueError):
            async with db.unit():  # neither a workspace nor, explicitly, system=True
                pass
        return out

    out = run(server, work)
    assert {out[k] for k in ("select", "columns", "exists", "update")} == {"refused"}
    assert out["organization"] is True
    assert out["system"] == out["all_workspaces"] == {a["lead"], b["lead"]}


def test_the_unit_commits_only_on_a_clean_exit(server: Server, api: Api) -> None:
    lead = make_lead(api)

    async def work(db: Database) -> None:
        with pytest.raises(RuntimeError):
            async with db.unit(api.org_id, write=True) as s:
                await s.execute(update(Lead).where(Lead.id == lead["id"]).values(name="rolled back"))
                raise RuntimeError("the request failed")
        async with db.unit(api.org_id, write=False) as s:  # a read unit never commits: its connections
            # (autocommit) refuse writes: SQLite's are query_only, PostgreSQL's transactions read-only
            with pytest.raises(DBAPIError, match="readonly|read-only"):
                await s.execute(update(Lead).where(Lead.id == lead["id"]).values(name="read unit"))
        async with db.unit(api.org_id, write=True) as s:
            await s.execute(update(Lead).where(Lead.id == lead["id"]).values(name="committed"))

    run(server, work)
    assert api.ok("GET", f"/lead/{lead['id']}/")["name"] == "committed"


@pytest.mark.parametrize("route_class", [APIRoute, DirectRoute])
def test_a_failed_commit_is_an_error_response(server: Server, api: Api, route_class: type[APIRoute]) -> None:
    """write_ctx commits before the response is sent, whether FastAPI solves it or a DirectRoute opens the
    unit itself: a commit that fails (here a constraint checked only at COMMIT) is an error response, and
    the handler's writes are gone."""
    lead = make_lead(api)
    sqlite = server.database_url.startswith("sqlite")
    app = FastAPI()
    app.state.db = Database(server.database_url, pool_size=2)
    handled: list[str] = []

    @app.middleware("http")
    async def authenticated(request: Request, call_next: Any) -> Any:
        request.state.principal = Principal(api.org_id, api.user_id, "admin", "key_test")
        return await call_next(request)

    router = QuickRouter(route_class=route_class)

    @router.post("/task/{fail}")
    async def create(fail: str, ctx: Ctx = Depends(write_ctx)) -> JSONResponse:
        task = Task(id=new_id("task"), organization_id=ctx.org_id, lead_id=lead["id"], text="kept?")
        ctx.session.add(task)
        if fail == "fail":  # a violation that only COMMIT detects
            if sqlite:
                await ctx.session.execute(text("PRAGMA defer_foreign_keys = ON"))
                ctx.session.add(Task(id=new_id("task"), organization_id=ctx.org_id, lead_id=new_id("lead"), text="x"))
            else:
                await ctx.session.execute(text("CREATE TEMP TABLE probe (x int UNIQUE DEFERRABLE INITIALLY DEFERRED) "
                                               "ON COMMIT DROP"))
                await ctx.session.execute(text("INSERT INTO probe VALUES (1), (1)"))
        await ctx.session.flush()
        handled.append(task.id)
        return JSONResponse({"id": task.id})

    app.include_router(router)
    if route_class is DirectRoute:
        assert "solve_dependencies" not in router.routes[0].get_route_handler().__code__.co_names

    async def call(fail: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post(f"/task/{fail}")

    async def main() -> tuple[httpx.Response, httpx.Response]:
        try:
            return await call("ok"), await call("fail")
        finally:
            await app.state.db.dispose()

    ok, failed = asyncio.run(main())
    assert ok.status_code == 200 and failed.status_code == 500
    assert len(handled) == 2  # the handler returned normally both times: the commit decided
    assert api.ok("GET", f"/task/{handled[0]}/")["id"] == handled[0]
    api.bad("GET", f"/task/{handled[1]}/", status=404)
