"""Search served by indexes (leads/search.py): the lead `query`, the contact `email`/`phone` filters and
MCP's `search` find what a plain substring match finds, after any edit, on both databases; and the
database really answers them from an index (SQLite FTS5 trigram tables, PostgreSQL trigram indexes, and
for whole email/phone keys the contact_key B-tree, which triggers keep right for every writer)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

from sqlalchemy import String, cast, event, func, insert, select, text

from geniziz.app import load_domains
from geniziz.contacts.models import Contact
from geniziz.contacts.service import ContactService
from geniziz.db import Database, new_id
from geniziz.leads.models import Lead
from geniziz.leads import search
from geniziz.leads.search import matching
from geniziz.leads.service import LeadService
from tests.conftest import Api, Server
from tests.factories import make_contact, make_lead
from tests.test_mcp import Mcp
from tests.test_merge_move import admin_of_both

load_domains()


def run(server: Server, work: Callable[[Database], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        db = Database(server.database_url, pool_size=2)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(main())


def found(api: Api, **params: str) -> list[str]:
    return [row["id"] for row in api.ok("GET", "/lead/", params=params)["data"]]


def contacts(api: Api, **params: str) -> list[str]:
    return [row["id"] for row in api.ok("GET", "/contact/", params=params)["data"]]


def test_query_finds_substrings_after_every_kind_of_edit(api: Api, other: Api) -> None:
    lead = make_lead(api, name="Zyxwvut Harbor Logistics", emails=[{"email": "ops@zyxharbor.example"}])
    twin = make_lead(other, name="Zyxwvut Harbor Logistics")  # the same words in another workspace
    assert found(api, query="wvut harb") == [lead["id"]]  # across words, mid-word
    assert found(api, query="ZYXWVUT HARBOR") == [lead["id"]]  # case-insensitive
    assert found(api, query="ops@zyxharbor") == [lead["id"]]
    assert found(other, query="wvut harb") == [twin["id"]]  # each workspace sees its own

    api.ok("PUT", f"/lead/{lead['id']}/", json={"name": "Qrstuv Freight"})
    assert found(api, query="wvut harb") == []  # the old text is gone from the index
    assert found(api, query="qrstuv fr") == [lead["id"]]
    api.ok("PUT", f"/lead/{lead['id']}/", json={"description": "no change to the search text"})
    assert found(api, query="qrstuv fr") == [lead["id"]]

    person = make_contact(api, lead_id=lead["id"], name="Ottoline Brightwater",
                          emails=[{"email": "ottoline@bright.example"}], phones=[{"phone": "+1 415 555 0177"}])
    assert found(api, query="brightwat") == [lead["id"]]  # a contact's name
    assert found(api, query="4155550177") == [lead["id"]]  # part of a contact's phone
    api.ok("PUT", f"/contact/{person['id']}/", json={"name": "Ottoline Darkwater"})
    assert found(api, query="brightwat") == []
    assert found(api, query="darkwat") == [lead["id"]]
    api.ok("DELETE", f"/contact/{person['id']}/")
    assert found(api, query="darkwat") == []
    assert found(api, query="qrstuv") == [lead["id"]]

    api.ok("DELETE", f"/lead/{lead['id']}/")
    assert found(api, query="qrstuv") == []
    assert found(other, query="wvut harb") == [twin["id"]]


def test_query_short_terms_quotes_and_wildcards(api: Api) -> None:
    a = make_lead(api, name='Ab "Quoted" 100% Pure_Co')
    b = make_lead(api, name="Abba Corp")
    newest_first = [b["id"], a["id"]]
    # 1-2 characters: no trigram, so a plain scan answers, with the same results.
    assert [i for i in found(api, query="ab") if i in newest_first] == newest_first
    assert [i for i in found(api, query="B") if i in newest_first] == newest_first
    assert found(api, query='"quoted"') == [a["id"]]  # FTS5's quote is an ordinary character here
    assert found(api, query='ab "quo') == [a["id"]]
    assert found(api, query="100% pure_co") == [a["id"]]
    assert found(api, query="100%_") == []  # LIKE wildcards are literal
    assert found(api, query="0% p") == [a["id"]]
    assert found(api, query="ure_c") == [a["id"]]
    assert found(api, query="ure-c") == []
    assert found(api, query="  abba corp  ") == [b["id"]]  # surrounding spaces are not part of the term
    api.bad("GET", "/lead/", "query", params={"query": ""})


def test_query_of_a_whole_email_or_phone_is_still_a_substring_match(server: Server, api: Api) -> None:
    """A long term asks the index for a window of it (an email's local part, a phone's tail), and LIKE
    checks the whole term: the rows are what a substring match gives, `joann@` included for `ann@`."""
    ann = make_lead(api, name="Ann Co", emails=[{"email": "ann@window.example"}])
    joann = make_lead(api, name="Joann Co", emails=[{"email": "joann@window.example"}])
    make_lead(api, name="Ann Other", emails=[{"email": "ann@other.example"}])
    make_lead(api, name="Dan Other", emails=[{"email": "dan@other.example"}])  # the window (n@o, r.e), not the term
    phone = make_lead(api, name="Phone Co", phones=[{"phone": "+1 415 555 0188"}])
    make_lead(api, name="Tail Co", phones=[{"phone": "+1 212 555 0188"}])  # the same last 7 digits
    assert found(api, query="ann@window.example") == [joann["id"], ann["id"]]
    assert found(api, query="joann@window.example") == [joann["id"]]
    assert found(api, query="+14155550188") == [phone["id"]]

    async def work(db: Database) -> list[str]:
        """With few matches allowed, a common window falls back to the whole term (SQLite)."""
        sent: list[Any] = []
        async with db.unit(api.org_id) as session:
            if session.bind.dialect.name != "sqlite":
                return []
            engine = session.bind.sync_engine
            capture = lambda conn, cursor, statement, params, context, many: sent.append(params)  # noqa: E731
            event.listen(engine, "before_cursor_execute", capture)
            search.PROBE, probe = 2, search.PROBE  # the window matches 2 leads, the term 1
            try:
                query = LeadService().filter(SimpleNamespace(session=session), select(Lead.id),  # type: ignore[arg-type]
                                             {"query": "ann@other.example"})
                ids = list(await session.scalars(query))
            finally:
                search.PROBE = probe
                event.remove(engine, "before_cursor_execute", capture)
        return [len(ids)] + [p for params in sent for p in params if isinstance(p, str) and "search_text" in p]

    sqlite_path = run(server, work)
    if sqlite_path:  # probes of the window and of the term, then the rows by the rowids the term's probe found
        assert sqlite_path == [1, '(search_text : ("n@o" AND "r.e"))', '(search_text : "ann@other.example")'], \
            sqlite_path


def test_a_long_name_fragment_asks_the_index_for_a_spread_of_its_trigrams(server: Server, api: Api) -> None:
    """A long term of words asks for 4 of its trigrams spread over it (SQLite: an FTS5 window, the probe's
    first question; PostgreSQL: trigram conditions the GIN index serves, strpos checking the whole), and the
    rows stay exactly what a substring match gives: a lead holding those trigrams but not the term is not
    found."""
    hit = make_lead(api, name="Coleman Riverbend Ltd")
    make_lead(api, name="Colman Ives Verend")  # col, "an ", ive, end (SQLite) and col, man, ver, end (PostgreSQL)
    assert found(api, query="coleman riverbend") == [hit["id"]]
    assert found(api, query="Coleman Riverbend") == [hit["id"]]

    async def work(db: Database) -> list[Any]:
        sent: list[Any] = []
        async with db.unit(api.org_id) as session:
            engine = session.bind.sync_engine
            def capture(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
                sent.append((statement, params))

            event.listen(engine, "before_cursor_execute", capture)
            try:
                service, ctx = LeadService(), SimpleNamespace(session=session)
                query = service.filter(ctx, select(Lead.id), {"query": "coleman riverbend"})  # type: ignore[arg-type]
                ids = list(await session.scalars(query))
            finally:
                event.remove(engine, "before_cursor_execute", capture)
        return [ids, *sent]

    ids, *sent = run(server, work)
    assert ids == [hit["id"]]
    if server.database_url.startswith("sqlite"):  # the window found 2 rows (under PROBE): the term is not asked
        assert [p for _, params in sent for p in params if isinstance(p, str) and "search_text" in p] == \
            ['(search_text : ("col" AND "an " AND "ive" AND "end"))']
    else:
        statement, params = sent[-1]
        assert statement.count("LIKE") == 4 and "strpos" in statement, statement
        values = params.values() if isinstance(params, dict) else params
        assert sorted(v for v in values if isinstance(v, str) and "%" in v) == \
            ["%col%", "%end%", "%man%", "%ver%"], params


def test_contact_email_and_phone_filters_are_exact(api: Api, other: Api) -> None:
    lead = make_lead(api)
    ann = make_contact(api, lead_id=lead["id"], name="Ann", emails=[{"email": "Ann.Lee@Example.com"},
                                                                     {"email": "ann@home.example"}],
                       phones=[{"phone": "+1 212 555 0101"}])
    bob = make_contact(api, lead_id=lead["id"], name="Bob", emails=[{"email": "bob.ann.lee@example.com"}],
                       phones=[{"phone": "+1 212 555 0102"}])
    make_contact(other, name="Ann elsewhere", emails=[{"email": "ann.lee@example.com"}],
                 phones=[{"phone": "+1 212 555 0101"}])
    assert contacts(api, email="ann.lee@example.com") == [ann["id"]]  # not bob's, which contains it
    assert contacts(api, email="ANN.LEE@EXAMPLE.COM") == [ann["id"]]
    assert contacts(api, email="ann@home.example") == [ann["id"]]  # any of the contact's emails
    assert contacts(api, email="lee@example.com") == []  # a part is not a match
    assert contacts(api, phone="(212) 555-0101") == [ann["id"]]
    assert contacts(api, phone="+1 212 555 0102") == [bob["id"]]
    api.ok("PUT", f"/contact/{ann['id']}/", json={"emails": [{"email": "ann.new@example.com"}], "phones": []})
    assert contacts(api, email="ann.lee@example.com") == []
    assert contacts(api, email="ann.new@example.com") == [ann["id"]]
    assert contacts(api, phone="(212) 555-0101") == []
    api.ok("DELETE", f"/contact/{ann['id']}/")
    assert contacts(api, email="ann.new@example.com") == []
    # A contact with the same address twice is found once
    twice = make_contact(api, lead_id=lead["id"], emails=[{"email": "twice@example.com"}, {"email": "TWICE@example.com"}])
    assert contacts(api, email="twice@example.com") == [twice["id"]]
    # `|` is the keys' separator and valid in an address: the whole address (LIKE) and each part (the key
    # table) are found, as LIKE '%|part|%' found them before the key table
    pipe = make_contact(api, lead_id=lead["id"], emails=[{"email": "pipe|name@example.com"}])
    assert contacts(api, email="pipe|name@example.com") == [pipe["id"]]
    assert contacts(api, email="name@example.com") == [pipe["id"]]


def key_rows(server: Server) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
    """(contact_key's rows, the rows the contacts' email_keys / phone_keys say it must hold), all workspaces."""
    async def work(db: Database) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
        async with db.system_session() as session:
            held = {tuple(r) for r in await session.execute(text(
                "SELECT kind, value, organization_id, contact_id FROM contact_key"))}
            wanted = set()
            for org, contact_id, emails, phones in await session.execute(
                    select(Contact.organization_id, Contact.id, Contact.email_keys, Contact.phone_keys)):
                for kind, keys in (("email", emails), ("phone", phones)):
                    wanted |= {(kind, k, org, contact_id) for k in keys.split("|") if k}
            return held, wanted

    return run(server, work)


def test_contact_keys_follow_every_writer(server: Server, api: Api, other: Api) -> None:
    """contact_key agrees with the contacts after creates, edits, deletes (a lead's cascading too),
    merges, moves to another workspace and a bulk insert that bypasses the services."""
    admin_of_both(api, other)
    lead = make_lead(api)
    zed = make_contact(api, lead_id=lead["id"], emails=[{"email": "zed@keys.example"}], phones=[{"phone": "+1 212 555 0150"}])
    yan = make_contact(api, lead_id=lead["id"], emails=[{"email": "yan@keys.example"}])
    api.ok("PUT", f"/contact/{zed['id']}/", json={"emails": [{"email": "zed2@keys.example"}]})
    api.ok("PUT", f"/contact/{zed['id']}/", json={"name": "Zed Renamed"})  # keys unchanged
    assert contacts(api, email="zed@keys.example") == [] and contacts(api, email="zed2@keys.example") == [zed["id"]]
    assert contacts(api, phone="+12125550150") == [zed["id"]]
    api.ok("DELETE", f"/contact/{yan['id']}/")
    assert contacts(api, email="yan@keys.example") == []

    doomed = make_lead(api)
    make_contact(api, lead_id=doomed["id"], emails=[{"email": "gone@keys.example"}])
    api.ok("DELETE", f"/lead/{doomed['id']}/")  # its contacts go by the foreign key's cascade
    assert contacts(api, email="gone@keys.example") == []

    source = make_lead(api)
    xia = make_contact(api, lead_id=source["id"], emails=[{"email": "xia@keys.example"}])
    api.ok("POST", "/lead/merge/", status=200, json={"source": source["id"], "destination": lead["id"]})
    assert contacts(api, email="xia@keys.example") == [xia["id"]]

    api.ok("POST", f"/lead/{lead['id']}/move/", status=200, json={"target_organization_id": other.org_id})
    assert contacts(api, email="zed2@keys.example") == [] and contacts(api, email="xia@keys.example") == []
    assert contacts(other, email="zed2@keys.example") == [zed["id"]]
    assert contacts(other, email="xia@keys.example") == [xia["id"]]

    target = make_lead(api)["id"]

    async def bulk(db: Database) -> str:  # as a bulk import would: INSERT without the services
        async with db.unit(api.org_id, write=True) as session:
            contact_id = new_id("cont")
            await session.execute(insert(Contact).values(
                id=contact_id, organization_id=api.org_id, lead_id=target, name="Bulk", custom={},
                emails=[{"email": "bulk@keys.example", "type": "office"}], phones=[], urls=[],
                email_keys="|bulk@keys.example|", phone_keys="|"))
            return contact_id

    bulk_id = run(server, bulk)
    assert contacts(api, email="bulk@keys.example") == [bulk_id]
    held, wanted = key_rows(server)
    assert held == wanted and any(k[1] == "bulk@keys.example" for k in held)


def test_mcp_search_finds_contacts_through_the_index_after_edits(api: Api) -> None:
    lead = make_lead(api, name="Plover Instruments")
    person = make_contact(api, lead_id=lead["id"], name="Quillon Farraday",
                          urls=[{"url": "https://linkedin.example/in/qfarraday"}])
    mcp = Mcp(api, "read")
    hits = lambda query: [(h["type"], h[h["type"]]["id"]) for h in mcp.call("search", query=query)["data"]]  # noqa: E731
    assert hits("farraday") == [("contact", person["id"])]
    assert hits("linkedin.example/in/qfarraday") == [("contact", person["id"])]
    api.ok("PUT", f"/contact/{person['id']}/", json={"name": "Quillon Marsh", "urls": []})
    assert hits("farraday") == []
    assert hits("quillon m") == [("contact", person["id"])]
    assert hits("plover") == [("lead", lead["id"])]


def test_the_database_answers_from_the_index(server: Server, api: Api) -> None:
    """The plan of each search uses its index, and on SQLite the FTS tables agree with their sources."""
    make_contact(api, lead_id=make_lead(api, name="Indexed Co")["id"], name="Ida Index",
                 emails=[{"email": "ida@indexed.example"}], phones=[{"phone": "+1 212 555 0199"}])

    async def work(db: Database) -> dict[str, str]:
        async with db.unit(api.org_id) as session:
            await Database.read_transaction(session)  # PostgreSQL: for the SET LOCAL below
            ctx = SimpleNamespace(session=session)
            sqlite = session.bind.dialect.name == "sqlite"
            queries = {
                "lead query": LeadService().filter(ctx, select(Lead.id), {"query": "indexed co"}),  # type: ignore[arg-type]
                "contact email": ContactService().filter(ctx, select(Contact.id), {"email": "ida@indexed.example"}),  # type: ignore[arg-type]
                "contact phone": ContactService().filter(ctx, select(Contact.id), {"phone": "+12125550199"}),  # type: ignore[arg-type]
                # MCP's search also matches the contact's name and URLs
                "contact name": matching(ctx, select(Contact.id), Contact,  # type: ignore[arg-type]
                                         [(func.lower(Contact.name), "ida ind", Contact.name)]),
                "contact urls": matching(ctx, select(Contact.id), Contact,  # type: ignore[arg-type]
                                         [(func.lower(cast(Contact.urls, String)), "linkedin", Contact.urls)]),
            }
            plans = {}
            if sqlite:  # a lead page read as rows (api/rows.py): its IDs by the FTS probe, then their rows by ID
                page = lambda: LeadService().read_page(ctx, {"query": "indexed co"}, 100, 0)  # type: ignore[arg-type]  # noqa: E731
                plans["lead page as rows"], records = await captured_plan(session, page, which=-2)
                rows_plan, _ = await captured_plan(session, page)
                assert "SEARCH lead USING INDEX sqlite_autoindex_lead_1 (id=?)" in rows_plan, rows_plan
                assert [type(r) for r in records[0]] == [dict] and records[0][0]["name"] == "Indexed Co", records
            if not sqlite:  # a handful of rows: make the planner show whether it *can* use the index
                await session.execute(text("SET LOCAL enable_seqscan = off"))
            for name, query in queries.items():
                plans[name] = await plan(session, query)
            if sqlite:
                # A term with many matches keeps the walk of the workspace newest first.
                search.PROBE, probe = 1, search.PROBE
                try:
                    plans["common term"] = await plan(session, queries["lead query"])
                finally:
                    search.PROBE = probe
                # Compares the index with the table it mirrors: an INSERT in form, so not on a read
                # unit's (query_only) connection.
                async with db.unit(api.org_id, write=True) as checking:
                    for fts in ("lead_fts", "contact_fts"):
                        await checking.execute(text(f"INSERT INTO {fts}({fts}, rank) VALUES ('integrity-check', 1)"))
                plans["triggers"] = " ".join(sorted(await session.scalars(text(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%_fts_%'"))))
                plans["key triggers"] = " ".join(sorted(await session.scalars(text(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'contact' "
                    "AND name LIKE 'contact_key_%'"))))
            return plans

    plans = run(server, work)
    if "triggers" in plans:
        assert plans.pop("triggers") == ("contact_fts_delete contact_fts_insert contact_fts_update "
                                         "lead_fts_delete lead_fts_insert lead_fts_update")
        assert plans.pop("key triggers") == "contact_key_delete contact_key_insert contact_key_update"
        common = plans.pop("common term")
        assert "lead_fts" not in common and "INDEX ix_lead_org_id (organization_id=?)" in common, common
        for name in ("contact email", "contact phone"):  # one descent of contact_key, then contacts by ID
            plan_ = plans.pop(name)
            assert "SEARCH contact_key USING PRIMARY KEY (kind=? AND value=? AND organization_id=?)" in plan_, plan_
            assert "SEARCH contact USING INDEX sqlite_autoindex_contact_1 (id=?)" in plan_, plan_
        for name, plan_ in plans.items():
            # the FTS table gave rowids, and the table is read by them (not by walking the workspace's rows)
            assert "probed _fts" in plan_ and "SCAN json_each VIRTUAL TABLE" in plan_, (name, plan_)
            assert "USING INTEGER PRIMARY KEY (rowid=?)" in plan_, (name, plan_)
    else:
        expected = {"lead query": "ix_lead_search_text_trgm", "contact email": "pk_contact_key",
                    "contact phone": "pk_contact_key", "contact name": "ix_contact_name_trgm",
                    "contact urls": "ix_contact_urls_trgm"}
        for name, plan_ in plans.items():
            assert expected[name] in plan_, (name, plan_)


async def plan(session: Any, query: Any) -> str:
    """The plan of `query` as the session runs it (scoped, and on SQLite after leads/search.py chose the path);
    on PostgreSQL, whether the planner can use an index for the match (tiny tables: other plans are as cheap)."""
    if session.bind.dialect.name == "postgresql":
        sql = str(query.compile(session.bind, compile_kwargs={"literal_binds": True}))
        return "\n".join(str(row[-1]) for row in (await session.execute(text("EXPLAIN " + sql))).all())
    table = query.selected_columns[0].table
    query = query.order_by(table.c.id.desc()).limit(101)
    return (await captured_plan(session, lambda: session.execute(query)))[0]


async def captured_plan(session: Any, run: Callable[[], Awaitable[Any]], which: int = -1) -> tuple[str, Any]:
    """(SQLite) the plan of the statement ``run`` sent ``which``-th (the last by default), noting whether an FTS
    table was probed before it, and what ``run`` returned."""
    statements: list[tuple[str, Any]] = []
    engine = session.bind.sync_engine if hasattr(session.bind, "sync_engine") else session.bind
    capture = lambda conn, cursor, statement, params, context, many: statements.append((statement, params))  # noqa: E731
    event.listen(engine, "before_cursor_execute", capture)
    try:
        result = await run()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, params = statements[which]
    rows = (await session.connection()).exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
    probed = ["probed _fts" for s, _ in statements[:which] if "_fts MATCH" in s]  # leads/search.py asked the FTS table
    return "\n".join([str(row[-1]) for row in (await rows).all()] + probed[-1:]), result
