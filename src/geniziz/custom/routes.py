"""GET /me/openapi.json: the OpenAPI document as the caller's workspace sees it.

The public /openapi.json is one document for every workspace: records show `custom` and the
`custom.*` key pattern. This one is that document with the workspace's own fields added where they
apply: each field as a typed `custom.<field ID>` property (and by name under `custom`) on the read,
create and update schemas of its records, and as typed list parameters (equality, ranges for number,
date and datetime fields, `__is_set`) on their lists; a custom activity type's fields under the custom
activity's `fields`. The global document is built once per process; this copies only what it changes.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select

from geniziz.api.context import Ctx, read_ctx
from geniziz.api.gateway import API_PREFIX
from geniziz.api.resource import REGISTRY
from geniziz.api.routing import QuickRouter
from geniziz.custom.models import CustomField
from geniziz.custom.records import CustomizedResource
from geniziz.custom.values import PREFIX, RANGE_TYPES, RANGES

router = QuickRouter()


def json_schema(field: CustomField) -> dict[str, Any]:
    """A field's value as JSON schema (what a write takes and a read shows)."""
    one: dict[str, Any] = {
        "text": {"type": "string", "maxLength": 20_000}, "url": {"type": "string", "format": "uri"},
        "number": {"type": "number", "minimum": -1e15, "maximum": 1e15}, "boolean": {"type": "boolean"},
        "date": {"type": "string", "format": "date"}, "datetime": {"type": "string", "format": "date-time"},
        "choices": {"type": "string", "enum": list(field.choices or [])},
        "user": {"type": "string", "description": "A user ID (a member of this workspace)"},
        "contact": {"type": "string", "description": "A contact ID of this workspace"},
    }[field.type]
    schema = {"type": "array", "items": one} if field.accepts_multiple else dict(one)
    notes = [f"Custom field {field.name!r} ({field.type}{', several values' if field.accepts_multiple else ''}"
             f"{', required' if field.required else ''}{', indexed' if field.indexed else ''})."]
    if field.description:
        notes.append(field.description)
    schema["description"] = " ".join(notes)
    return schema


def _filters(field: CustomField, scope_note: str) -> list[dict[str, Any]]:
    key = PREFIX + field.id
    value = json_schema(field)
    one = value.get("items", value)
    params = [{"name": key, "in": "query", "required": False, "schema": {k: v for k, v in one.items() if k != "description"},
               "description": f"{field.name!r} equals (a field taking several values: holds) this value.{scope_note}"}]
    if field.type in RANGE_TYPES:
        params += [{"name": f"{key}__{op}", "in": "query", "required": False,
                    "schema": {k: v for k, v in one.items() if k != "description"},
                    "description": f"{field.name!r} {sign} this value.{scope_note}"} for op, sign in RANGES.items()]
    params.append({"name": f"{key}__is_set", "in": "query", "required": False, "schema": {"type": "boolean"},
                   "description": f"{field.name!r} has a value (true) or none (false).{scope_note}"})
    return params


def _schema_names(resource: Any) -> list[str]:
    models: list[type[BaseModel] | None] = [resource.read_schema, resource.create_schema, resource.update_schema,
                                            getattr(resource, "detail_schema", None)]
    return [model.__name__ for model in models if model is not None]


def workspace_openapi(base: dict[str, Any], fields: list[CustomField]) -> dict[str, Any]:
    """The global document with these fields added (``base`` is left untouched)."""
    doc = {**base, "paths": dict(base.get("paths", {})),
           "components": {**base.get("components", {}), "schemas": dict(base.get("components", {}).get("schemas", {}))}}
    schemas, paths = doc["components"]["schemas"], doc["paths"]
    copied: set[str] = set()

    def schema(name: str) -> dict[str, Any] | None:
        if name not in schemas:
            return None
        if name not in copied:
            schemas[name] = copy.deepcopy(schemas[name])
            copied.add(name)
        return schemas[name]

    def operation(path: str) -> dict[str, Any] | None:
        if path not in paths or "get" not in paths[path]:
            return None
        if path not in copied:
            paths[path] = {**paths[path], "get": copy.deepcopy(paths[path]["get"])}
            copied.add(path)
        return paths[path]["get"]

    by_object: dict[str, list[CustomField]] = {}
    for field in fields:
        by_object.setdefault(field.object_type, []).append(field)
    for resource in REGISTRY.values():
        if not isinstance(resource, CustomizedResource):
            continue
        own = by_object.get(resource.object_type, [])
        if not own:
            continue
        note = " Needs custom_object_type_id." if resource.object_type == "custom_object" else ""
        for name in _schema_names(resource):
            target = schema(name)
            if target is None:
                continue
            props = target.setdefault("properties", {})
            by_name = props.get("custom", {}).copy() if "custom" in props else {"type": "object"}
            by_name["properties"] = {**by_name.get("properties", {})}
            for field in own:
                typed = json_schema(field)
                if field.custom_object_type_id:
                    typed["description"] += f" On custom object type {field.custom_object_type_id}."
                props[PREFIX + field.id] = typed
                by_name["properties"][field.name] = typed
            props["custom"] = by_name
        list_op = operation(f"{API_PREFIX}/{resource.name}/")
        if list_op is not None and "list" in resource.operations:
            list_op["parameters"] = [*list_op.get("parameters", []),
                                     *(p for field in own for p in _filters(field, note))]
    _activity_types(schema, by_object.get("custom_activity", []))
    return doc


def _activity_types(schema: Any, fields: list[CustomField]) -> None:
    """A custom activity's `fields`: the workspace's custom activity types' fields, by name."""
    if not fields:
        return
    for name in ("CustomRead", "CustomCreate", "CustomUpdate"):
        target = schema(name)
        if target is None:
            continue
        holder = target.setdefault("properties", {}).setdefault("fields", {"type": "object"})
        props = holder.setdefault("properties", {})
        for field in fields:
            typed = json_schema(field)
            typed["description"] += f" On custom activity type {field.custom_activity_type_id}."
            props.setdefault(field.name, typed)


@router.get("/me/openapi.json", tags=["User"], summary="The OpenAPI document with this workspace's custom fields",
            description="The public /openapi.json with the caller's workspace's custom fields added: typed "
                        "custom.<field ID> properties on records and bodies, and their list filters.")
async def my_openapi(request: Request, ctx: Annotated[Ctx, Depends(read_ctx)]) -> JSONResponse:
    fields = list(await ctx.session.scalars(select(CustomField).order_by(CustomField.id)))
    return JSONResponse(workspace_openapi(request.app.openapi(), fields))
