"""Two-workspace isolation, swept over the app's own route table and tool list, so that a route or tool
added later is covered without anyone listing it here.

Workspace A gets one record of every resource (tests/factories.py). Then, as workspace B, every route of
create_app() (derived REST routes, custom routes, Genesy's) is called with A's IDs in its path
parameters and in every ID-looking body field, and every MCP tool from tools/list (write_destructive)
with A's IDs in its ID-looking arguments, for every resource it takes. Nothing of A may come back (an
A ID in a success response is allowed only as the echo in a per-item error), and A's records must be
unchanged afterwards. The per-resource checks below keep the exact statuses (404 like a missing ID,
400 naming a foreign reference).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount

from geniziz.api.resource import REGISTRY
from geniziz.api.rest import rest_path
from geniziz.app import create_app, load_domains
from geniziz.db import looks_like_id
from tests.conftest import Api, Server, new_workspace
from tests.factories import FACTORIES, make_contact, make_lead

load_domains()
RESOURCES = sorted(REGISTRY)

# Routes that take no workspace data, each with the reason; everything else must be swept.
EXCLUDED = {
    r"/openapi\.json$": "the API description",
    r"/docs/?": "interactive documentation",
    r"/redoc/?$": "interactive documentation",
    r"^/mcp/?$": "the MCP endpoint: every tool it serves is swept through tools/list",
}
# ID-looking names whose stem names another resource than the one they are spelled after.
STEMS = {"company": "lead", "owner": "user", "assigned_to": "user", "assignee": "user", "organization": "organization",
         "crm": None, "": None, "ids": None, "thread": "activity/emailthread", "tasks": "task", "contacts": "contact",
         "companies": "lead", "custom_activity_type": "custom_activity_type",
         "link_custom_object_type": "custom_object_type"}
ID_NAME = re.compile(r"^(ids?|.*_ids?|.*Ids?|.*IDs?|assigned_to)$")
UUIDISH = re.compile(r"\b[a-z]{2,8}_[0-9A-Za-z]{22}\b")


# --- workspace A's records ---------------------------------------------------------------------------
class Records:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.by_resource: dict[str, str] = {}  # resource -> one of A's record IDs
        self.parents: dict[str, str | None] = {}
        for name in RESOURCES:
            if name in FACTORIES:  # a missing one fails test_every_resource_has_a_factory
                self.by_resource[name], self.parents[name] = FACTORIES[name](api)
        self.by_resource["organization"] = api.org_id
        self.ids = set(self.by_resource.values()) | {p for p in self.parents.values() if p} | {api.user_id}

    def for_name(self, name: str, fallback: str | None) -> str:
        """A's ID for a parameter or field called ``name`` on a route about ``fallback``."""
        stem = re.sub(r"(_ids?|Ids?|IDs?|CRMIds?|_crm_ids?)$", "", name)
        stem = re.sub(r"(?<!^)([A-Z])", r"_\1", stem).lower()
        resource = STEMS.get(stem, stem)
        if resource not in self.by_resource:
            resource = fallback if fallback in self.by_resource else "lead"
        return self.by_resource[resource]

    def snapshot(self) -> dict[str, Any]:
        out = {}
        for name, record_id in self.by_resource.items():
            resource = REGISTRY.get(name)
            if resource is None or "get" not in resource.operations:
                continue
            parent = self.parents.get(name)
            path = rest_path(resource).replace("{parent_id}", parent or "")
            out[name] = self.api.ok("GET", f"{path}{record_id}/")
        return out


@pytest.fixture(scope="module")
def a_and_b(server: Server) -> Iterator[tuple[Records, Api]]:
    a, b = new_workspace(server, "Sweep A"), new_workspace(server, "Sweep B")
    yield Records(a), b
    a.close()
    b.close()


def leaks(body: Any, a_ids: set[str]) -> list[str]:
    """A's IDs in a success response, except echoes inside a per-item error ({"crmId": ..., "error": ...})."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "error" in value:
                return
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            found.extend(match for match in UUIDISH.findall(value) if match in a_ids)

    walk(body)
    return found


# --- sample inputs from JSON schemas ---------------------------------------------------------------------
def sample(schema: dict[str, Any], defs: dict[str, Any], records: Records, resource: str | None,
           name: str = "", depth: int = 0) -> Any:
    """A value for ``schema``: A's IDs in every ID-looking field, plausible values in the required rest."""
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return sample(options[0], defs, records, resource, name, depth)
    kind = schema.get("type")
    if ID_NAME.match(name) and depth < 6:
        one = records.for_name(name, resource)
        return [one] if kind == "array" or name.endswith("s") else one
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        required = set(schema.get("required", []))
        return {key: sample(value, defs, records, resource, key, depth + 1)
                for key, value in schema.get("properties", {}).items()
                if key in required or ID_NAME.match(key)} if depth < 6 else {}
    if kind == "array":
        return [sample(schema.get("items", {}), defs, records, resource, name.rstrip("s"), depth + 1)]
    if kind == "integer" or kind == "number":
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return True
    fmt = schema.get("format", "")
    if fmt == "email" or "email" in name.lower():
        return f"sweep-{secrets.token_hex(3)}@example.com"
    if fmt == "date-time" or name.endswith("_at") or name.startswith("date"):
        return "2026-01-15T09:30:00Z"
    if fmt == "date":
        return "2026-01-15"
    if "url" in name.lower() or fmt == "uri":
        return "https://sweep.example"
    if "header" in name.lower():
        return "X-Sweep-Key"
    return "Sweep"


# --- the routes ----------------------------------------------------------------------------------------------
def app_routes() -> list[tuple[str, str, APIRoute | None]]:
    """(method, path, route) for every route of the app, Mounts followed."""
    out: list[tuple[str, str, APIRoute | None]] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for context in iter_route_contexts(routes):  # included routers flattened, with their prefixes
            route, path = context.original_route, prefix + (context.path or "")
            if isinstance(route, Mount):
                sub = list(getattr(route, "routes", None) or [])
                if sub:
                    walk(sub, path)
                else:
                    out.append(("*", path, None))
            else:
                for method in sorted(getattr(route, "methods", None) or {"*"}):
                    if method != "HEAD":
                        out.append((method, path, route if isinstance(route, APIRoute) else None))

    walk(create_app().routes, "")
    return out


def derived_params() -> dict[str, dict[str, str]]:
    """Path template of each derived REST route -> which resource each of its parameters names."""
    out = {}
    for name, resource in REGISTRY.items():
        base = "/api/v1" + rest_path(resource)
        params = {"parent_id": resource.parent.name} if resource.parent else {}
        out[base] = params
        out[base + "{id}/"] = {**params, "id": name}
    return out


def route_resource(path: str) -> str | None:
    """The resource a custom route is about: the literal segment before its first parameter, or its last."""
    segments = [s for s in path.split("/") if s and s not in ("api", "v1", "genesy")]
    literal = [s for s in segments if not s.startswith("{")]
    before = next((segments[i - 1] for i, s in enumerate(segments) if s.startswith("{") and i), None)
    for candidate in (before, literal[-1] if literal else None):
        if candidate:
            resource = STEMS.get(candidate, candidate)
            if resource in REGISTRY or resource == "organization":
                return resource
    return None


def openapi_bodies(b: Api) -> dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]]:
    """(METHOD, path) -> (request body schema, component schemas), from the served OpenAPI documents."""
    out = {}
    for prefix, url in (("/api/v1", "/api/v1/openapi.json"), ("/genesy", "/genesy/openapi.json")):
        response = httpx.get(b.server_url + url, timeout=30)
        if response.status_code != 200:
            continue
        document = response.json()
        defs = document.get("components", {}).get("schemas", {})
        for path, operations in document.get("paths", {}).items():
            full = path if path.startswith(prefix) else prefix + path
            for method, operation in operations.items():
                body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
                if "schema" in body:
                    out[(method.upper(), full)] = (body["schema"], defs)
    return out


def genesy_client(b: Api) -> httpx.Client:
    # The key in the default header and in the one the sweep may set for B: whichever B expects.
    return httpx.Client(base_url=b.server_url, timeout=30, headers={"X-API-Key": b.key, "X-Sweep-Key": b.key})


def test_every_route_and_tool_as_another_workspace(a_and_b: tuple[Records, Api]) -> None:
    records, b = a_and_b
    before = records.snapshot()
    bodies = openapi_bodies(b)
    derived = derived_params()
    swept, excluded, calls, refused = [], [], 0, 0
    failures: list[str] = []

    with genesy_client(b) as genesy:
        for method, path, route in app_routes():
            reason = next((why for pattern, why in EXCLUDED.items() if re.search(pattern, path)), None)
            if reason:
                excluded.append((method, path, reason))
                continue
            assert route is not None, f"{method} {path} is not an API route: sweep it or exclude it with a reason"
            resource = route_resource(path)
            params = re.findall(r"{(\w+)(?::\w+)?}", path)
            named = derived.get(path, {})
            values = {p: records.by_resource[named[p]] if named.get(p) in records.by_resource
                      else records.for_name(p, resource) for p in params}
            url = re.sub(r"{(\w+)(?::\w+)?}", lambda m: values[m.group(1)], path)
            body = None
            if method in ("POST", "PUT", "PATCH"):
                schema, defs = bodies.get((method, path), ({"type": "object"}, {}))
                body = sample(schema, defs, records, resource)
            client = genesy if path.startswith("/genesy") else b
            target = url if client is genesy else url.removeprefix("/api/v1")
            response = client.request(method, target, json=body)
            calls += 1
            swept.append((method, path))
            assert response.status_code < 500, f"{method} {url} -> {response.status_code}: {response.text}"
            if response.status_code < 300:
                found = leaks(response.json() if response.content else None, records.ids)
                if found:
                    failures.append(f"{method} {url} {json.dumps(body)} -> {response.status_code} shows {found}")
            else:
                refused += 1

    tools, tool_calls = sweep_tools(records, b, failures)
    print(f"\nisolation sweep: {len(swept)} routes swept ({refused} of {calls} calls refused), "
          f"{len(excluded)} excluded, {len(tools)} MCP tools in {tool_calls} calls")
    for method, path, reason in excluded:
        print(f"  excluded {method} {path}: {reason}")
    assert not failures, "\n".join(failures)
    assert records.snapshot() == before, "workspace A's records changed"
    # Nothing may go unswept: a new route is covered, or it is excluded above with its reason.
    assert len(swept) >= len(REGISTRY) and tools and len(excluded) <= 2 * len(EXCLUDED) + 2


def sweep_tools(records: Records, b: Api, failures: list[str]) -> tuple[list[str], int]:
    from tests.test_mcp import Mcp

    mcp = Mcp(b, scope="write_destructive")
    tools = mcp.tools()
    calls = 0
    for name, tool in sorted(tools.items()):
        schema = tool.input_schema if hasattr(tool, "input_schema") else tool.inputSchema
        defs = schema.get("$defs", {})
        properties = schema.get("properties", {})
        enum = (properties.get("resource") or {}).get("enum") or [None]
        for resource in enum:
            arguments = sample({**schema, "$defs": {}}, defs, records, resource) or {}
            if resource is not None:
                arguments["resource"] = resource
                declared = REGISTRY.get(resource)
                for key in ("data", "body", "fields_values"):
                    if key in properties and declared is not None:
                        model = declared.create_schema if "create" in name else declared.update_schema
                        if model is not None:
                            model_schema = model.model_json_schema()
                            arguments[key] = sample(model_schema, model_schema.get("$defs", {}), records, resource)
                if "filters" in properties and declared is not None:
                    filters = declared.filters.model_json_schema()
                    arguments["filters"] = sample({**filters, "required": list(filters.get("properties", {}))},
                                                  filters.get("$defs", {}), records, resource)
                    arguments["filters"] = {k: v for k, v in arguments["filters"].items() if ID_NAME.match(k)}
                if declared is not None and declared.parent and "parent_id" in properties:
                    arguments["parent_id"] = records.parents.get(resource) or records.by_resource[declared.parent.name]
                if "id" in properties:
                    arguments["id"] = records.by_resource.get(resource, arguments.get("id"))
            is_error, body = mcp.raw(name, **arguments)
            calls += 1
            if not is_error:
                if found := leaks(body, records.ids):
                    failures.append(f"tool {name}({json.dumps(arguments)}) shows {found}")
    return sorted(tools), calls


# --- per resource: exact statuses ------------------------------------------------------------------------------
def test_every_resource_has_a_factory() -> None:
    assert sorted(set(RESOURCES) - set(FACTORIES)) == []


def _path(name: str, parent_id: str | None) -> str:
    return rest_path(REGISTRY[name]).replace("{parent_id}", parent_id or "")


@pytest.mark.parametrize("name", RESOURCES)
def test_foreign_ids_read_as_unknown(name: str, api: Api, other: Api) -> None:
    resource = REGISTRY[name]
    record_id, parent_id = FACTORIES[name](api)
    base = _path(name, parent_id)
    never = record_id.split("_")[0] + "_" + "0" * 22
    for client, target in ((other, record_id), (api, never)):
        if "get" in resource.operations:
            client.bad("GET", f"{base}{target}/", status=404)
        if "update" in resource.operations:
            client.bad("PUT", f"{base}{target}/", status=404, json={})
        if "delete" in resource.operations:
            client.bad("DELETE", f"{base}{target}/", status=404)
    if "list" in resource.operations:
        if resource.parent:
            other.bad("GET", base, status=404)  # the parent itself is unknown there
        else:
            assert record_id not in {row.get("id") for row in other.ok("GET", base, params={"_limit": 200})["data"]}
    if "get" in resource.operations:  # and the owner still sees it, untouched
        assert api.ok("GET", f"{base}{record_id}/")["id"] == record_id


def test_references_to_another_workspace_are_refused(api: Api, other: Api) -> None:
    lead = make_lead(api)
    contact = make_contact(api, lead_id=lead["id"])
    lead_status = api.ok("GET", "/status/lead/")["data"][0]["id"]
    opportunity_status = api.ok("GET", "/status/opportunity/")["data"][0]["id"]
    pipeline = api.ok("GET", "/pipeline/")["data"][0]["id"]
    own_lead = make_lead(other)
    cases = [
        ("/lead/", {"name": "x", "status_id": lead_status}, "status_id"),
        ("/lead/", {"name": "x", "owner_id": api.user_id}, "owner_id"),
        ("/contact/", {"name": "x", "lead_id": lead["id"]}, "lead_id"),
        ("/opportunity/", {"lead_id": lead["id"]}, "lead_id"),
        ("/opportunity/", {"lead_id": own_lead["id"], "status_id": opportunity_status}, "status_id"),
        ("/opportunity/", {"lead_id": own_lead["id"], "contact_id": contact["id"]}, "contact_id"),
        ("/task/", {"text": "x", "lead_id": lead["id"]}, "lead_id"),
        ("/task/", {"text": "x", "contact_id": contact["id"]}, "contact_id"),
        ("/task/", {"text": "x", "assigned_to": api.user_id}, "assigned_to"),
        ("/status/opportunity/", {"label": "x", "pipeline_id": pipeline}, "pipeline_id"),
        ("/api_key/", {"name": "x", "user_id": api.user_id}, "user_id"),
        ("/sequence/", {"name": "x", "goal_status_id": lead_status}, "goal_status_id"),
        ("/sequence/", {"name": "x", "steps": [{"type": "assign_user", "user_id": api.user_id}]}, "steps.0.user_id"),
        ("/sequence_subscription/", {"sequence_id": FACTORIES["sequence"](other)[0], "contact_id": contact["id"]},
         "contact_id"),
        ("/sequence_subscription/", {"sequence_id": FACTORIES["sequence"](api)[0],
                                     "contact_id": make_contact(other, lead_id=own_lead["id"])["id"]}, "sequence_id"),
    ]
    before = {path: other.ok("GET", path)["data"] for path in {c[0] for c in cases}}
    for path, body, field in cases:
        other.bad("POST", path, field, json=body)
    after = {path: other.ok("GET", path)["data"] for path in before}
    assert after == before  # nothing was written
    other.bad("PUT", f"/lead/{own_lead['id']}/", "owner_id", json={"owner_id": api.user_id})
    assert other.ok("GET", "/lead/", params={"status_id": lead_status})["data"] == []
    assert other.ok("GET", "/contact/", params={"lead_id": lead["id"]})["data"] == []
