"""Actions declared once: the REST route, its OpenAPI entry, the MCP tool with its scope, and the rate-limit
group all come from one ``Action`` (the lead score over the wire; a probe action in-process)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from geniziz.api.action import ACTIONS, Action, Args, Scope, action_routers, rate_group, register_action
from geniziz.api.ratelimit import endpoint_group
from geniziz.app import load_domains
from tests.conftest import Api, Server, new_workspace, start_server, stop_server
from tests.factories import make_lead
from tests.test_mcp import Mcp

load_domains()


class ProbeArgs(Args):
    lead_id: str = Field(description="The lead.")
    period: str = Field(description="e.g. 2026-01.")


class ProbeOut(BaseModel):
    total: int


async def _probe(_ctx: Any, args: ProbeArgs) -> dict[str, Any]:
    return {"total": len(args.period)}


@pytest.fixture
def probe() -> Iterator[Action]:
    """A write action registered in this process only (the server under test never sees it)."""
    action = register_action(Action(
        name="probe_report", method="POST", path="/report/probe/{lead_id}/", input=ProbeArgs, output=ProbeOut,
        scope=Scope.WRITE_SAFE, rate_group="heavy", title="A probe report", run=_probe, tag="Report"))
    yield action
    del ACTIONS[action.name]


def test_the_lead_score_is_in_the_openapi_document(api: Api) -> None:
    document = api.ok("GET", "/openapi.json")
    operation = document["paths"]["/api/v1/lead/{lead_id}/score/"]["get"]
    assert operation["operationId"] == "lead_score" and operation["tags"] == ["Lead"]
    assert operation["summary"] == ACTIONS["lead_score"].title
    assert [(p["name"], p["in"]) for p in operation["parameters"]] == [("lead_id", "path"), ("_fields", "query")]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/LeadScoreRead"}
    assert {"400", "401", "404", "429"} <= set(operation["responses"]) and "422" not in operation["responses"]
    assert {"lead_id", "score", "reasons", "computed_at"} <= set(
        document["components"]["schemas"]["LeadScoreRead"]["properties"])


def test_an_actions_tool_has_its_scope(api: Api, probe: Action) -> None:
    from geniziz.mcp.tools import TOOLS

    read_tools = Mcp(api, "read").tools()
    assert read_tools["lead_score"].annotations.read_only_hint is True  # own_tool: a tool of its own
    assert read_tools["lead_score"].description == ACTIONS["lead_score"].summary
    assert set(read_tools["lead_score"].input_schema["properties"]) == {"lead_id", "_fields"}
    # Registered after the MCP package was imported, the probe (no own tool) is reached through its scope's
    # dispatch tool, which appears with it and is not offered below that scope.
    assert "probe_report" not in TOOLS
    tool = TOOLS["run_write_action"]
    assert tool.scope is Scope.WRITE_SAFE and not Scope.READ.allows(tool.scope)
    definition = tool.definition()
    assert definition.input_schema["properties"]["action"]["enum"][-1] == "probe_report"
    assert definition.annotations.read_only_hint is False and definition.annotations.destructive_hint is False
    assert "probe_report" not in TOOLS["run_action"].definition().input_schema["properties"]["action"]["enum"]


def test_a_dispatched_action_runs_with_its_own_input_model(probe: Action) -> None:
    import anyio

    from geniziz.api.errors import APIError
    from geniziz.mcp.tools import TOOLS, RunArgs

    run = TOOLS["run_write_action"].run
    ran = anyio.run(run, None, RunArgs(action="probe_report", args={"lead_id": "lead_x", "period": "2026-01"}))
    assert ran == {"total": 7}
    for args, field in (({"action": "probe_report", "args": {"lead_id": "x"}}, "period"),
                        ({"action": "lead_score", "args": {}}, "action")):
        with pytest.raises(APIError) as refused:
            anyio.run(run, None, RunArgs(**args))
        assert field in refused.value.body()["field-errors"]


def test_a_declared_action_gives_its_route_and_openapi_entry(probe: Action) -> None:
    app = FastAPI()
    for router in action_routers():
        app.include_router(router)
    operation = app.openapi()["paths"]["/report/probe/{lead_id}/"]["post"]
    assert operation["operationId"] == "probe_report" and operation["summary"] == "A probe report"
    assert [(p["name"], p["in"]) for p in operation["parameters"]] == [("lead_id", "path")]
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert list(app.openapi()["components"]["schemas"][body]["properties"]) == ["period"]  # path params are not
    assert "/lead/{lead_id}/score/" in app.openapi()["paths"]


def test_the_declared_rate_group_decides(probe: Action) -> None:
    assert rate_group("POST", "/api/v1/report/probe/lead_x/") == "heavy"
    assert endpoint_group("POST", "/api/v1/report/probe/lead_x/", b"") == "heavy"
    assert rate_group("GET", "/api/v1/report/probe/lead_x/") is None  # another method, another operation
    assert endpoint_group("POST", "/api/v1/report/other/", b"") == "write"  # no more guessing from the path
    assert endpoint_group("GET", "/api/v1/lead/lead_x/score/", b"") == rate_group("GET", "/api/v1/lead/lead_x/score/")
    assert endpoint_group("GET", "/api/v1/lead/", b"query=acme") == "heavy"  # searches stay heavy
    assert endpoint_group("GET", "/api/v1/lead/", b"") == "read"


def test_the_rate_group_index_finds_what_trying_every_action_finds() -> None:
    load_domains()

    def every_action(method: str, path: str) -> str | None:
        return next((a.rate_group for a in ACTIONS.values() if a.serves(method, path)), None)

    paths = [f"/api/v1{a.path}".replace("{", "x_").replace("}", "") for a in ACTIONS.values()]
    paths += ["/api/v1/lead/", "/api/v1/lead/lead_x/", "/api/v1/", "/api/v1", "/other/report/activity/", "/"]
    for method in ("GET", "POST", "PUT", "DELETE"):
        for path in paths:
            assert rate_group(method, path) == every_action(method, path), (method, path)
    assert rate_group("POST", "/api/v1/report/probe/lead_x/") is None  # the index is built, without the probe...
    action = register_action(Action(
        name="probe_late", method="POST", path="/report/probe/{lead_id}/", input=ProbeArgs, output=ProbeOut,
        scope=Scope.WRITE_SAFE, rate_group="heavy", title="A late probe", run=_probe, tag="Report"))
    try:  # ...and a change to the registry rebuilds it
        assert rate_group("POST", "/api/v1/report/probe/lead_x/") == "heavy"
    finally:
        del ACTIONS[action.name]
    assert rate_group("POST", "/api/v1/report/probe/lead_x/") is None


def test_a_bad_declaration_is_refused_at_import() -> None:
    common: dict[str, Any] = {"method": "GET", "input": ProbeArgs, "output": ProbeOut, "scope": Scope.READ,
                              "title": "x", "run": _probe}
    for name, path, group in (("a", "/report/{lead_id}", "read"), ("b", "/report/{nope}/", "read"),
                              ("c", "/report/{lead_id}/", "slow")):
        with pytest.raises(RuntimeError):
            Action(name=name, path=path, rate_group=group, **common)


@pytest.fixture(scope="module")
def limited(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Groups told apart by their limits."""
    srv = start_server(server.database_url, tmp_path_factory.mktemp("groups") / "server.log",
                       GENIZIZ_RATE_LIMIT_READ="900/minute", GENIZIZ_RATE_LIMIT_HEAVY="700/minute")
    yield srv
    stop_server(srv)


def test_the_lead_score_counts_in_its_declared_group(server: Server, limited: Server) -> None:
    owner = new_workspace(server)
    lead = make_lead(owner)
    api = Api(limited.base_url, owner.key)
    response = api.get(f"/lead/{lead['id']}/score/")
    assert response.status_code == 200 and response.headers["ratelimit-limit"] == "900"
    assert api.get("/lead/", params={"query": "x"}).headers["ratelimit-limit"] == "700"
    owner.close()
