"""The resources MCP can reach, read from the registry at call time, and their description for agents.

Nothing here names a resource: a resource registered later (with ``mcp=True``) shows up in the
generic tools' enums and descriptions without any change to this package.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

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


def describe(operation: str) -> str:
    """One paragraph per resource allowing ``operation``: what it is and the fields that matter here."""
    return "\n".join(_describe_one(r, operation) for r in mcp_resources(operation))


def _describe_one(resource: Resource, operation: str) -> str:
    about = "" if operation == "get" else f". {resource.description}".rstrip(". ")  # get: list_records has it
    lines = [f"- {resource.name} ({resource.title})"
             + (f", nested under {resource.parent.name}: pass parent_id" if resource.parent else "") + about + "."]
    if operation in ("list", "get"):
        lines.append("  fields: " + ", ".join(read_fields(resource.read_schema)))
    if operation == "list" and resource.filter_names:
        lines.append("  filters: " + summarize(resource.filters))
    if operation in _BODY:
        lines.append("  body: " + summarize(getattr(resource, _BODY[operation]), required=operation == "create"))
    return "\n".join(lines)


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
