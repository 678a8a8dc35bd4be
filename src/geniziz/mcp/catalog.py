"""The resources MCP can reach, read from the registry at call time, and their description for agents.

Nothing here names a resource or an action: a resource registered later (with ``mcp=True``) shows up
in the generic tools' enums and in describe_resource, an action in its scope's dispatch tool and in
describe_resource, without any change to this package.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from geniziz.api.action import ACTIONS, Action, Scope
from geniziz.api.errors import APIError
from geniziz.api.resource import REGISTRY, Resource

# The schema each operation's body is checked against; list/get/delete take no body.
_BODY = {"create": "create_schema", "update": "update_schema"}


def mcp_resources(operation: str | None = None) -> list[Resource]:
    """Business resources (never identity/admin ones), optionally only those allowing ``operation``."""
    return [r for r in REGISTRY.values() if r.mcp and (operation is None or _supports(r, operation))]


def _supports(resource: Resource, operation: str) -> bool:
    if operation not in resource.operations:
        return False
    return operation not in _BODY or getattr(resource, _BODY[operation]) is not None


def mcp_resource(name: str) -> Resource:
    resource = REGISTRY.get(name)
    if resource is None or not resource.mcp:  # identity resources read as unknown: they are not ours to offer
        known = ", ".join(r.name for r in mcp_resources())
        raise APIError(400, f"Unknown resource {name!r}", {"resource": f"one of: {known}"})
    return resource


# The tool that runs the actions of each scope that have no tool of their own.
RUNNER = {Scope.READ: "run_action", Scope.WRITE_SAFE: "run_write_action",
          Scope.WRITE_DESTRUCTIVE: "run_destructive_action"}


def dispatched(scope: Scope | None = None) -> list[Action]:
    """Actions reached through a dispatch tool (all of them, or exactly those of ``scope``)."""
    return [a for a in ACTIONS.values() if not a.own_tool and (scope is None or a.scope is scope)]


def describe_action(action: Action) -> dict[str, Any]:
    """An action's args (* = required), what it returns, and a call to adapt."""
    schema = action.input.model_json_schema(by_alias=True)
    properties, required = schema.get("properties", {}), set(schema.get("required", ()))
    args = {name: prop["examples"][0] if prop.get("examples") else _sample(name, prop, schema.get("$defs", {}))
            for name, prop in properties.items() if name in required or prop.get("examples")}
    tool = RUNNER[action.scope]
    return {"action": action.name, "title": action.title, "description": action.description,
            "scope": action.scope.value, "rest": f"{action.method} /api/v1{action.path}",
            "args": summarize(action.input), "returns": read_fields(action.output),
            "example": {"tool": tool, "arguments": {"action": action.name, "args": args}}}


def describe_resource(resource: Resource) -> dict[str, Any]:
    """What an agent needs before filtering or writing: fields, filters, bodies (* = required), an example."""
    about: dict[str, Any] = {"resource": resource.name, "title": resource.title,
                             "description": resource.description, "operations": sorted(resource.operations)}
    if resource.parent:
        about["parent"] = f"pass parent_id: the ID of its {resource.parent.name}"
    about["fields"] = read_fields(resource.read_schema)
    if "list" in resource.operations:
        about["filters"] = summarize(resource.filters) if resource.filter_names else "(none)"
    for operation, attribute in _BODY.items():
        if _supports(resource, operation):
            about[f"{operation}_body"] = summarize(getattr(resource, attribute), required=operation == "create")
    about["example"] = example(resource)
    return about


def example(resource: Resource) -> dict[str, Any]:
    """A call an agent can adapt: create with the required fields (and the lead it belongs to), else a list."""
    where = {"resource": resource.name} | ({"parent_id": f"{resource.parent.name} ID"} if resource.parent else {})
    if _supports(resource, "create"):
        schema = resource.create_schema.model_json_schema()  # type: ignore[union-attr]
        properties = schema["properties"]
        wanted = [name for name in properties if name in schema.get("required", ()) or name == "lead_id"]
        body = {name: _sample(name, properties[name], schema.get("$defs", {})) for name in wanted}
        return {"tool": "create_record", "arguments": where | {"body": body}}
    return {"tool": "list_records", "arguments": where | {"_limit": 10}}


def _sample(name: str, prop: dict[str, Any], defs: dict[str, Any]) -> Any:
    kind = _type(prop, defs).split("|")[0]
    samples: dict[str, Any] = {"integer": 1, "number": 1, "boolean": True, "date-time": "2026-01-15T09:30:00Z",
                               "date": "2026-01-15", "email": "jane@example.com", "uri": "https://example.com"}
    if kind in samples:
        return samples[kind]
    if kind.startswith("[") or kind.startswith("{"):
        return [] if kind.startswith("[") else {}
    if kind == "string":
        return f"{name.removesuffix('_id')} ID" if name.endswith("_id") else name.replace("_", " ").capitalize()
    return kind  # an enum's first value or a constant


def read_fields(schema: type[BaseModel]) -> list[str]:
    """The keys a record shows (serialization aliases such as ``_type`` included)."""
    return ([info.serialization_alias or name for name, info in schema.model_fields.items()]
            + list(schema.model_computed_fields))


def summarize(model: type[BaseModel], required: bool = True) -> str:
    """``name*: string, emails: [{email*, type}] (why)``: field names, compact types, required marks."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    must = set(schema.get("required", ())) if required else set()
    parts = []
    for name, prop in schema.get("properties", {}).items():
        text = f"{name}{'*' if name in must else ''}: {_type(prop, defs)}"
        if prop.get("description"):
            text += f" ({prop['description'].rstrip('.')})"
        parts.append(text)
    return ", ".join(parts) or "(none)"


def _type(prop: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> str:
    if "$ref" in prop:
        prop = defs.get(prop["$ref"].rsplit("/", 1)[-1], {})
    for key in ("anyOf", "oneOf"):
        if key in prop:
            names = [_type(p, defs, depth) for p in prop[key] if p.get("type") != "null"]
            return "|".join(dict.fromkeys(names)) or "null"
    if "enum" in prop:
        return "|".join(str(v) for v in prop["enum"])
    if "const" in prop:
        return str(prop["const"])
    kind = prop.get("type")
    if kind == "array":
        return f"[{_type(prop.get('items', {}), defs, depth)}]"
    if kind == "object" and prop.get("properties") and depth < 1:
        must = set(prop.get("required", ()))
        return "{" + ", ".join(f"{n}{'*' if n in must else ''}" for n in prop["properties"]) + "}"
    if kind == "string" and prop.get("format") in ("date-time", "date", "email", "uri"):
        return prop["format"]
    return kind or "any"
