"""The MCP server at /mcp/, driven by the official SDK's client over streamable HTTP: the handshake,
tools per scope, the generic tools over several resources, refusals, bad arguments, auth and
two-workspace isolation. ``Mcp`` below is reused by the other MCP test modules."""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client

from geniziz.api.action import Scope
from geniziz.api.resource import REGISTRY
from geniziz.app import load_domains
from geniziz.mcp.catalog import RUNNER, dispatched
from tests.conftest import Api
from tests.factories import FACTORIES, make_contact, make_lead, make_opportunity, make_task

load_domains()
T = TypeVar("T")

# run_action: the reports (and every other read action without a tool of its own).
READ_TOOLS = {"describe_resource", "list_records", "get_record", "search", "lead_score", "run_action"}
SAFE_TOOLS = READ_TOOLS | {"create_record", "update_record", "log_activity", "complete_task", "run_write_action",
                          "send_email"}
# run_destructive_action: the dispatch tool of destructive actions (custom object types deleted with their
# instances, lead merge and move).
ALL_TOOLS = SAFE_TOOLS | {"delete_record", "run_destructive_action"}
IDENTITY = {"user", "membership", "api_key", "organization", "role", "credential"}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "tests", "version": "1"}}}
MCP_ACCEPT = {"Accept": "application/json, text/event-stream"}


class Mcp:
    """One workspace's MCP client: each ``call`` opens an SDK session (initialize, then the call)."""

    def __init__(self, api: Api, scope: str | None = "write_destructive", auth: str = "bearer",
                 path: str = "/mcp/") -> None:
        self.api = api
        self.url = api.server_url + path
        self.headers = {"Authorization": f"Bearer {api.key}"} if auth == "bearer" else {}
        if scope is not None:
            self.headers["Geniziz-Scope"] = scope
        self.auth = httpx2.BasicAuth(api.key, "") if auth == "basic" else None

    def http(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(headers=self.headers, auth=self.auth, timeout=30)

    def session(self, work: Callable[[ClientSession], Awaitable[T]]) -> T:
        async def run() -> T:
            async with self.http() as http, streamable_http_client(self.url, http_client=http) as (read, write), \
                    ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)

        return anyio.run(run)

    def tools(self) -> dict[str, Any]:
        async def work(session: ClientSession) -> dict[str, Any]:
            return {tool.name: tool for tool in (await session.list_tools()).tools}

        return self.session(work)

    def raw(self, name: str, **arguments: Any) -> tuple[bool, dict[str, Any]]:
        async def work(session: ClientSession) -> tuple[bool, dict[str, Any]]:
            result = await session.call_tool(name, arguments)
            body = json.loads(result.content[0].text)
            assert result.structured_content == body  # the text and the structured result agree
            return result.is_error, body

        return self.session(work)

    def call(self, name: str, **arguments: Any) -> dict[str, Any]:
        is_error, body = self.raw(name, **arguments)
        assert not is_error, body
        return body

    def fail(self, name: str, field: str | None = None, **arguments: Any) -> dict[str, Any]:
        """A call that must answer a tool error in the REST envelope (naming ``field``, if given)."""
        is_error, body = self.raw(name, **arguments)
        assert is_error, body
        assert isinstance(body.get("error"), str) and isinstance(body.get("field-errors"), dict), body
        if field is not None:
            assert any(n == field or n.startswith(field + ".") for n in body["field-errors"]), body
        return body


def post(api: Api, path: str = "/mcp/", body: Any = INITIALIZE, **headers: str) -> httpx.Response:
    return httpx.post(api.server_url + path, json=body, headers={**MCP_ACCEPT, **headers}, timeout=30)


def mcp_resources(operation: str) -> list[str]:
    return [r.name for r in REGISTRY.values() if r.mcp and operation in r.operations]


# --- the handshake and the tool lists -----------------------------------------------------------------
def test_initialize_names_the_server(api: Api) -> None:
    async def work(session: ClientSession) -> Any:
        return session.initialize_result

    result = Mcp(api).session(work)
    assert result.server_info.name == "geniziz" and result.capabilities.tools is not None
    assert "Geniziz-Scope" in (result.instructions or "")


def test_the_high_level_client_on_the_2026_protocol(api: Api) -> None:
    """The SDK's Client negotiates the newest protocol (per-request envelopes) with the same server."""
    mcp = Mcp(api, "write_safe")

    async def run() -> tuple[str, set[str], Any]:
        async with mcp.http() as http, Client(streamable_http_client(mcp.url, http_client=http), mode="auto") as c:
            tools = {tool.name for tool in (await c.list_tools()).tools}
            created = await c.call_tool("create_record", {"resource": "lead", "body": {"name": "Modern"}})
            return c.protocol_version, tools, created

    version, tools, result = anyio.run(run)
    assert version == "2026-07-28" and tools == SAFE_TOOLS and not result.is_error
    assert api.ok("GET", f"/lead/{result.structured_content['id']}/")["name"] == "Modern"


@pytest.mark.parametrize(("scope", "expected"), [
    (None, READ_TOOLS), ("read", READ_TOOLS), ("write_safe", SAFE_TOOLS), ("write_destructive", ALL_TOOLS)])
def test_tools_listed_per_scope(api: Api, scope: str | None, expected: set[str]) -> None:
    tools = Mcp(api, scope).tools()
    assert set(tools) == expected
    for name, tool in tools.items():
        assert tool.input_schema["type"] == "object" and tool.description, name
        assert tool.annotations.read_only_hint is (name in READ_TOOLS)
        assert tool.annotations.destructive_hint is (None if name in READ_TOOLS else name in ALL_TOOLS - SAFE_TOOLS)


def test_the_tool_list_fits_in_an_agents_context(api: Api) -> None:
    """Every tool an agent may use, at the widest scope, costs it under 10,000 characters (about 2,500 tokens):
    resources are named once (describe_resource), actions once (their scope's run_* tool), and details
    come from describe_resource when needed. (8,000 until custom objects, sequences, conversations, mailing
    exports and the lead flows joined: 42 resources and 22 actions.)"""
    response = post(api, body={"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
                    **{"Authorization": f"Bearer {api.key}", "Geniziz-Scope": "write_destructive"})
    tools = response.json()["result"]["tools"]
    assert {tool["name"] for tool in tools} == ALL_TOOLS
    assert len(json.dumps(tools)) < 10_000


def test_generic_tools_derive_resources_from_the_registry(api: Api) -> None:
    """Each name is listed once: resources in describe_resource, actions in their scope's run_* tool."""
    tools = Mcp(api).tools()
    described = tools["describe_resource"].input_schema["properties"]["resource"]["enum"]
    assert described == [r.name for r in REGISTRY.values() if r.mcp]
    runnable = [name for runner in set(RUNNER.values()) & set(tools)
                for name in tools[runner].input_schema["properties"]["action"]["enum"]]
    assert sorted(runnable) == sorted(a.name for a in dispatched()) and not set(runnable) & set(described)
    assert not IDENTITY & set(described) and "activity/call" in described
    for name in ("list_records", "get_record", "create_record", "update_record", "delete_record"):
        assert "enum" not in tools[name].input_schema["properties"]["resource"], name


def test_describe_resource_answers_for_every_resource(api: Api) -> None:
    """Derived from the tool list: each resource an agent can name is described, with what its operations take."""
    mcp = Mcp(api, "read")
    names = [n for n in mcp.tools()["describe_resource"].input_schema["properties"]["resource"]["enum"]
             if n in REGISTRY]
    assert {"lead", "contact", "opportunity/line_item", "activity/call", "status/lead"} <= set(names)
    for name in names:
        about = mcp.call("describe_resource", resource=name)
        resource = REGISTRY[name]
        assert about["resource"] == name and about["operations"] == sorted(resource.operations)
        assert about["fields"] and "id" in about["fields"], name
        assert ("filters" in about) is ("list" in resource.operations), name
        assert ("create_body" in about) is (name in mcp_resources("create") and resource.create_schema is not None)
        assert about["example"]["tool"] in ("create_record", "list_records")
        assert about["example"]["arguments"]["resource"] == name
        assert ("parent_id" in about["example"]["arguments"]) is (resource.parent is not None), name
    lead = mcp.call("describe_resource", resource="lead")
    assert lead["fields"] == list(make_lead(api))  # the keys a lead shows, in order
    assert "status_id: string" in lead["filters"] and "query: string" in lead["filters"]
    assert "name*: string" in lead["create_body"] and "name: string" in lead["update_body"]  # * marks required
    assert "emails: [{email*, type}]" in lead["create_body"]
    assert lead["example"] == {"tool": "create_record", "arguments": {"resource": "lead", "body": {"name": "Name"}}}
    mcp.fail("describe_resource", "resource", resource="membership")
    mcp.fail("describe_resource", "resource", resource="leads")


def test_describe_resource_examples_run(api: Api) -> None:
    """Each example works as given once its placeholder IDs name real records."""
    mcp = Mcp(api, "write_destructive")  # the widest scope, so that destructive actions' examples run too
    ids = {'"lead ID"': f'"{make_lead(api)["id"]}"', '"opportunity ID"': f'"{make_opportunity(api)["id"]}"'}
    ran = []
    for name in mcp.tools()["describe_resource"].input_schema["properties"]["resource"]["enum"]:
        text = json.dumps(mcp.call("describe_resource", resource=name)["example"])
        for placeholder, real in ids.items():
            text = text.replace(placeholder, real)
        if " ID" in text:  # e.g. a custom activity type's ID
            continue
        example = json.loads(text)
        is_error, body = mcp.raw(example["tool"], **example["arguments"])
        if is_error:  # a rule beyond the schema (a note needs a note): the refusal names what to add
            assert body["field-errors"], (name, body)
        else:
            ran.append(name)
    assert {"lead", "contact", "opportunity/line_item", "task", "activity/call", "status/lead", "pipeline",
            "activity/emailthread"} <= set(ran)


def test_a_resource_registered_later_is_offered_with_no_mcp_change() -> None:
    from geniziz.mcp.catalog import describe_resource
    from geniziz.mcp.server import TOOLS  # in-process: the definitions come from the registry as it is

    probe = dataclasses.replace(REGISTRY["status/lead"], name="probe/thing", title="Probe thing")
    hidden = dataclasses.replace(probe, name="probe/secret", mcp=False)
    REGISTRY[probe.name], REGISTRY[hidden.name] = probe, hidden
    try:
        enum = TOOLS["describe_resource"].definition().input_schema["properties"]["resource"]["enum"]
        assert "probe/thing" in enum and "probe/secret" not in enum
        assert describe_resource(probe)["title"] == "Probe thing"
    finally:
        del REGISTRY[probe.name], REGISTRY[hidden.name]
    assert "probe/thing" not in TOOLS["describe_resource"].definition().input_schema["properties"]["resource"]["enum"]


# --- the generic tools ----------------------------------------------------------------------------------
def test_generic_tools_on_leads_read_like_rest(api: Api) -> None:
    mcp = Mcp(api)
    lead = mcp.call("create_record", resource="lead", body={
        "name": "Acme Inc", "emails": [{"email": "hello@acme.example"}], "phones": [{"phone": "(555) 123-4567"}]})
    assert lead["phones"][0]["phone"] == "+15551234567"
    assert mcp.call("get_record", resource="lead", id=lead["id"]) == api.ok("GET", f"/lead/{lead['id']}/") == lead
    assert mcp.call("get_record", resource="lead", id=lead["id"], _fields=["id", "name"]) == {
        "id": lead["id"], "name": "Acme Inc"}
    updated = mcp.call("update_record", resource="lead", id=lead["id"], body={"name": "Acme Corp"}, _fields="name")
    assert updated == {"name": "Acme Corp"} and api.ok("GET", f"/lead/{lead['id']}/")["emails"] == lead["emails"]
    listed = mcp.call("list_records", resource="lead", filters={"query": "acme"}, _limit=1)
    assert listed == api.ok("GET", "/lead/", params={"query": "acme", "_limit": 1})
    assert [row["id"] for row in listed["data"]] == [lead["id"]] and listed["has_more"] is False
    assert mcp.call("delete_record", resource="lead", id=lead["id"]) == {}
    api.bad("GET", f"/lead/{lead['id']}/", status=404)


def test_generic_tools_on_contacts_and_tasks(api: Api) -> None:
    mcp = Mcp(api, "write_safe")
    lead = make_lead(api)
    contact = mcp.call("create_record", resource="contact", body={"lead_id": lead["id"], "name": "Jane Roe"})
    assert mcp.call("list_records", resource="contact", filters={"lead_id": lead["id"]})["data"] == [contact]
    task = mcp.call("create_record", resource="task", body={
        "contact_id": contact["id"], "text": "Call Jane", "due_date": "2030-01-02T10:00:00+02:00"})
    assert task["lead_id"] == lead["id"] and task["due_date"] == "2030-01-02T08:00:00.000Z"
    assert task["assigned_to"] == api.user_id
    page = mcp.call("list_records", resource="task", filters={"is_complete": False, "lead_id": lead["id"]})
    assert page["data"] == [api.ok("GET", f"/task/{task['id']}/")]
    done = mcp.call("update_record", resource="task", id=task["id"], body={"is_complete": True})
    assert done["is_complete"] is True and done["date_completed"]


def test_generic_tools_on_statuses(api: Api) -> None:
    mcp = Mcp(api)
    status = mcp.call("create_record", resource="status/lead", body={"label": "Nurturing"})
    assert mcp.call("list_records", resource="status/lead")["data"][-1] == status
    renamed = mcp.call("update_record", resource="status/lead", id=status["id"], body={"label": "Nurture"})
    assert renamed["label"] == "Nurture"
    assert mcp.call("get_record", resource="status/lead", id=status["id"]) == \
        api.ok("GET", f"/status/lead/{status['id']}/")
    assert mcp.call("delete_record", resource="status/lead", id=status["id"]) == {}
    won = mcp.call("create_record", resource="status/opportunity", body={"label": "Signed", "type": "won"})
    assert won["type"] == "won" and won["pipeline_id"]


def test_generic_tools_on_an_activity_type(api: Api) -> None:
    mcp = Mcp(api)
    lead = make_lead(api)
    call = mcp.call("create_record", resource="activity/call", body={
        "lead_id": lead["id"], "direction": "inbound", "duration": 90, "phone": "555 123 4567",
        "note": "Asked for a quote"})
    assert call["_type"] == "call" and call["phone"] == "+15551234567" and call["duration"] == 90
    assert mcp.call("get_record", resource="activity/call", id=call["id"]) == \
        api.ok("GET", f"/activity/call/{call['id']}/")
    changed = mcp.call("update_record", resource="activity/call", id=call["id"], body={"disposition": "answered"})
    assert changed["disposition"] == "answered" and changed["note"] == "Asked for a quote"
    stream = mcp.call("list_records", resource="activity", filters={"lead_id": lead["id"], "_type": ["call"]})
    assert [row["id"] for row in stream["data"]] == [call["id"]]
    assert mcp.call("delete_record", resource="activity/call", id=call["id"]) == {}
    api.bad("GET", f"/activity/call/{call['id']}/", status=404)


def test_nested_resources_take_the_parent_id(api: Api) -> None:
    mcp = Mcp(api)
    opportunity = make_opportunity(api)
    mcp.fail("create_record", "parent_id", resource="opportunity/line_item", body={"name": "Seat", "unit_price": 100})
    item = mcp.call("create_record", resource="opportunity/line_item", parent_id=opportunity["id"],
                    body={"name": "Seat", "quantity": 3, "unit_price": 1000})
    assert item["opportunity_id"] == opportunity["id"] and item["total"] == 3000
    assert mcp.call("list_records", resource="opportunity/line_item", parent_id=opportunity["id"])["data"] == [item]
    assert api.ok("GET", f"/opportunity/{opportunity['id']}/")["value"] == 3000
    mcp.fail("list_records", "parent_id", resource="lead", parent_id=opportunity["id"])
    assert mcp.call("delete_record", resource="opportunity/line_item", parent_id=opportunity["id"], id=item["id"]) == {}


# --- refusals and bad arguments -------------------------------------------------------------------------
def test_tools_outside_the_scope_are_refused_and_write_nothing(api: Api) -> None:
    body = Mcp(api, "read").fail("create_record", resource="lead", body={"name": "Nope"})
    assert "write_safe" in body["error"]
    assert api.ok("GET", "/lead/")["data"] == []
    lead = make_lead(api)
    body = Mcp(api, "write_safe").fail("delete_record", resource="lead", id=lead["id"])
    assert "write_destructive" in body["error"]
    assert Mcp(api, None).fail("complete_task", task_id=make_task(api, lead_id=lead["id"])["id"])["error"]
    assert api.ok("GET", f"/lead/{lead['id']}/")["id"] == lead["id"]
    assert api.ok("GET", "/task/")["data"][0]["is_complete"] is False
    assert "Unknown tool" in Mcp(api).fail("send_fax", to="x@example.com")["error"]


def test_bad_arguments_name_the_field_and_write_nothing(api: Api) -> None:
    mcp = Mcp(api)
    lead = make_lead(api)
    before = {name: api.ok("GET", f"/{name}/") for name in ("lead", "contact", "task", "status/lead")}
    assert mcp.fail("create_record", "name", resource="lead", body={}) == \
        api.bad("POST", "/lead/", "name", json={})  # the same envelope as REST
    mcp.fail("create_record", "nickname", resource="lead", body={"name": "x", "nickname": "y"})
    mcp.fail("create_record", "emails.0.email", resource="lead", body={"name": "x", "emails": [{"email": "nope"}]})
    mcp.fail("create_record", "status_id", resource="lead", body={"name": "x", "status_id": "stat_" + "0" * 22})
    mcp.fail("create_record", "lead_id", resource="contact", body={"lead_id": "lead_" + "0" * 22, "name": "x"})
    mcp.fail("update_record", "status_id", resource="lead", id=lead["id"], body={"status_id": None})
    mcp.fail("create_record", "text", resource="task", body={"lead_id": lead["id"], "text": ""})
    mcp.fail("create_record", "label", resource="status/lead", body={})
    mcp.fail("create_record", "body", resource="lead")  # the tool's own arguments are checked too
    mcp.fail("create_record", "colour", resource="lead", body={"name": "x"}, colour="red")
    mcp.fail("list_records", "_limit", resource="lead", _limit=0)
    mcp.fail("list_records", "_limit", resource="lead", _limit=201)
    mcp.fail("list_records", "nope", resource="lead", filters={"nope": 1})
    mcp.fail("list_records", "_fields", resource="lead", _fields="id,shoe_size")
    mcp.fail("get_record", "resource", resource="leads", id=lead["id"])
    body = mcp.fail("update_record", resource="opportunity/line_item", id="litm_" + "0" * 22, body={})
    assert "does not support" in body["error"]
    assert "does not support" in mcp.fail("create_record", resource="activity/created", body={})["error"]
    assert mcp.fail("get_record", resource="lead", id="lead_" + "0" * 22) == \
        api.bad("GET", f"/lead/lead_{'0' * 22}/", status=404)
    assert {name: api.ok("GET", f"/{name}/") for name in before} == before
    assert api.ok("GET", f"/lead/{lead['id']}/") == lead


@pytest.mark.parametrize("name", sorted(IDENTITY & set(REGISTRY)))
def test_identity_resources_are_never_reachable(api: Api, name: str) -> None:
    mcp = Mcp(api)
    for tool, arguments in (("list_records", {}), ("get_record", {"id": api.user_id}),
                            ("create_record", {"body": {"email": "x@example.com", "name": "x"}}),
                            ("update_record", {"id": api.user_id, "body": {"role": "member"}}),
                            ("delete_record", {"id": api.user_id})):
        body = mcp.fail(tool, "resource", resource=name, **arguments)
        assert "Unknown resource" in body["error"]
    assert len(api.ok("GET", "/api_key/")["data"]) == 1 and len(api.ok("GET", "/membership/")["data"]) == 1


# --- HTTP: auth, scope header, paths ---------------------------------------------------------------------
def test_no_key_or_a_bad_key_is_401_before_any_mcp_exchange(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer gz_not-a-key"}, {"Authorization": "Basic Z3pfbm9wZTo="},
                    {"Authorization": f"Token {api.key}"}):
        response = post(api, **headers)
        assert response.status_code == 401, headers
        assert response.json()["error"] and response.json()["field-errors"] == {}
        assert "Bearer" in response.headers["www-authenticate"] and "Basic" in response.headers["www-authenticate"]
    assert post(api, "/mcp", **{"Geniziz-Scope": "nonsense"}).status_code == 401  # auth is checked first
    with pytest.raises(Exception):  # noqa: B017 - the SDK client cannot even initialize
        Mcp(Api(api.server_url, "gz_" + secrets.token_urlsafe(32))).tools()


def test_bearer_and_basic_both_authenticate_at_both_paths(api: Api) -> None:
    for path in ("/mcp/", "/mcp"):
        response = post(api, path, Authorization=f"Bearer {api.key}")
        assert response.status_code == 200 and response.json()["result"]["serverInfo"]["name"] == "geniziz"
        response = httpx.post(api.server_url + path, json=INITIALIZE, headers=MCP_ACCEPT, auth=(api.key, ""))
        assert response.status_code == 200, response.text
    assert set(Mcp(api, "write_safe", auth="basic", path="/mcp").tools()) == SAFE_TOOLS


def test_only_post_is_served(api: Api) -> None:
    """Stateless: no GET stream to hold open, no session to DELETE."""
    headers = {**MCP_ACCEPT, "Authorization": f"Bearer {api.key}"}
    for method in ("GET", "DELETE", "PUT"):
        response = httpx.request(method, api.server_url + "/mcp/", headers=headers, timeout=10)
        assert response.status_code == 405 and response.headers["allow"] == "POST", method
        assert response.json()["field-errors"] == {}


def test_a_bad_scope_header_is_400(api: Api) -> None:
    for value in ("admin", "READ_ALL", "write", ""):
        response = post(api, **{"Authorization": f"Bearer {api.key}", "Geniziz-Scope": value})
        assert response.status_code == 400, value
        assert "Geniziz-Scope" in response.json()["error"] and "Geniziz-Scope" in response.json()["field-errors"]


# --- two workspaces ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [r.name for r in REGISTRY.values() if r.mcp and r.name in FACTORIES])
def test_another_workspace_cannot_reach_records_over_mcp(api: Api, other: Api, name: str) -> None:
    resource = REGISTRY[name]
    record_id, parent_id = FACTORIES[name](api)
    theirs = Mcp(other)
    where = {"resource": name} | ({"parent_id": parent_id} if parent_id else {})
    if "get" in resource.operations:
        assert theirs.fail("get_record", id=record_id, **where)["error"].endswith("not found")
    if "update" in resource.operations:
        theirs.fail("update_record", id=record_id, body={}, **where)
    if "delete" in resource.operations:
        theirs.fail("delete_record", id=record_id, **where)
    if "list" in resource.operations and not parent_id:
        rows = theirs.call("list_records", _limit=200, **where)["data"]
        assert record_id not in {row.get("id") for row in rows}
    if "get" in resource.operations:  # the owner still has it
        assert Mcp(api).call("get_record", id=record_id, **where)["id"] == record_id


def test_another_workspace_cannot_search_score_log_or_complete(api: Api, other: Api) -> None:
    lead = make_lead(api, name="Zyxwv Industries")
    contact = make_contact(api, lead_id=lead["id"], name="Zyxwv Person")
    task = make_task(api, lead_id=lead["id"])
    theirs = Mcp(other)
    assert theirs.call("search", query="zyxwv")["data"] == []
    assert theirs.fail("lead_score", lead_id=lead["id"])["error"] == "Lead not found"
    theirs.fail("log_activity", "lead_id", lead_id=lead["id"], note="Sneaky")
    theirs.fail("log_activity", "contact_id", contact_id=contact["id"], note="Sneaky")
    assert theirs.fail("complete_task", task_id=task["id"])["error"] == "Task not found"
    assert api.ok("GET", "/activity/note/", params={"lead_id": lead["id"]})["data"] == []
    assert api.ok("GET", f"/task/{task['id']}/")["is_complete"] is False
    assert [hit["lead"]["id"] for hit in Mcp(api).call("search", query="zyxwv")["data"]] == [lead["id"]] * 2


# --- actions without a tool of their own ------------------------------------------------------------------
def test_every_action_is_callable_at_its_scope_and_refused_below(api: Api) -> None:
    """Derived from ACTIONS: each dispatched action runs through its scope's tool with the example
    describe_resource gives, that tool enumerates exactly its scope's actions, and scopes below see neither."""
    tools = {scope: Mcp(api, scope.value).tools() for scope in Scope}
    for scope in Scope:
        names = [a.name for a in dispatched(scope)]
        for seen in Scope:
            listed = RUNNER[scope] in tools[seen]
            assert listed is (bool(names) and seen.allows(scope)), (scope, seen)
            if listed:
                assert tools[seen][RUNNER[scope]].input_schema["properties"]["action"]["enum"] == names
    assert dispatched(Scope.READ), "the reports are read actions"
    for action in dispatched():
        mcp = Mcp(api, action.scope.value)
        about = mcp.call("describe_resource", resource=action.name)
        assert about["scope"] == action.scope.value and about["example"]["tool"] == RUNNER[action.scope]
        assert about["rest"] == f"{action.method} /api/v1{action.path}" and about["args"] and about["returns"]
        # An action on one record (its example names a placeholder "... ID") answers "not found", in the envelope.
        is_error, body = mcp.raw(about["example"]["tool"], **about["example"]["arguments"])
        on_a_record = any(str(v).endswith(" ID") for v in about["example"]["arguments"]["args"].values())
        assert isinstance(body, dict) and is_error is on_a_record, (action.name, body)
        assert not on_a_record or "not found" in body["error"], (action.name, body)
        for below in [s for s in Scope if not s.allows(action.scope)]:
            body = Mcp(api, below.value).fail(RUNNER[action.scope], **about["example"]["arguments"])
            assert action.scope.value in body["error"]
        for other in [s for s in Scope if s is not action.scope]:  # another scope's tool does not run it
            if dispatched(other) and Scope.WRITE_DESTRUCTIVE.allows(other):
                Mcp(api).fail(RUNNER[other], "action", action=action.name, args={})


def test_run_action_checks_the_actions_own_input(api: Api) -> None:
    mcp = Mcp(api, "read")
    body = mcp.call("run_action", action="report_activity",
                    args={"relative_range": "today", "metrics": ["notes.count"]})
    assert body["totals"] == {"notes.count": 0}
    assert body == api.ok("POST", "/report/activity/", status=200,
                          json={"relative_range": "today", "metrics": ["notes.count"]})  # the same as REST
    mcp.fail("run_action", "relative_range", action="report_activity", args={"relative_range": "someday"})
    mcp.fail("run_action", "colour", action="report_funnel", args={"relative_range": "today", "colour": 1})
    mcp.fail("run_action", "date_start", action="report_sales", args={})
    mcp.fail("run_action", "action", action="report_nope", args={})
    mcp.fail("run_action", "action", action="lead_score", args={})  # it has a tool of its own
    mcp.fail("describe_resource", "resource", resource="report_nope")
