"""The MCP tools and the scope each needs.

Five generic tools take a resource name and dispatch to that resource's own operations (the code
REST runs), so every business resource is reachable and a new one needs no change here. The
task-specific tools (``actions.py``) register themselves with the same ``tool`` decorator.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

from mcp import types
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from geniziz.api.context import Ctx
from geniziz.api.errors import APIError, field_error, validation_field_errors
from geniziz.api.resource import REGISTRY, Resource
from geniziz.mcp.catalog import describe, mcp_resource, mcp_resources
from geniziz.mcp.scopes import Scope


class Args(BaseModel):
    """A tool's arguments. Unknown ones are refused, as unknown body fields are in REST."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# Agents pass either the REST form ("id,name") or a list.
FieldsArg = Annotated[str | list[str] | None, Field(
    alias="_fields", description="Fields to return, comma-separated or a list; all by default.")]


def joined(fields: str | list[str] | None) -> str | None:
    return ",".join(fields) if isinstance(fields, list) else fields


def parse_args(model: type[Args], raw: dict[str, Any]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        fields = validation_field_errors(list(exc.errors()))
        raise APIError(400, "Invalid arguments: " + ", ".join(sorted(fields)), fields) from None


Run = Callable[[Ctx, Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Tool:
    name: str
    scope: Scope  # the least scope that lists and calls it
    args: type[Args]
    run: Run
    description: str
    operation: str | None = None  # generic tools: the resource operation they dispatch to

    def definition(self) -> types.Tool:
        """The resource enum and catalog follow the registry as it is now (cached while it stays the same)."""
        return _definition(self, tuple(REGISTRY))

    def _build(self) -> types.Tool:
        schema = self.args.model_json_schema()
        description = self.description
        if self.operation:
            schema["properties"]["resource"]["enum"] = [r.name for r in mcp_resources(self.operation)]
            description += "\n\nResources:\n" + describe(self.operation)
        return types.Tool(
            name=self.name, description=description, input_schema=schema,
            annotations=types.ToolAnnotations(
                read_only_hint=self.scope is Scope.READ, destructive_hint=self.scope is Scope.WRITE_DESTRUCTIVE,
                open_world_hint=False),
        )


@lru_cache(maxsize=64)
def _definition(tool: Tool, _registry: tuple[str, ...]) -> types.Tool:
    return tool._build()


TOOLS: dict[str, Tool] = {}


def tool(name: str, scope: Scope, args: type[Args], description: str,
         operation: str | None = None) -> Callable[[Run], Run]:
    def register(run: Run) -> Run:
        if name in TOOLS:
            raise RuntimeError(f"MCP tool {name} registered twice")
        TOOLS[name] = Tool(name, scope, args, run, description, operation)
        return run

    return register


# --- generic tools ------------------------------------------------------------------------------------
class ResourceArgs(Args):
    resource: str = Field(description="The resource name, e.g. lead, contact, task, activity/call, status/lead.")
    parent_id: str | None = Field(None, description="Only for a nested resource (e.g. opportunity/line_item): "
                                                    "the ID of its parent record.")


class ListArgs(ResourceArgs):
    filters: dict[str, Any] = Field(default_factory=dict, description="The resource's filters (listed below), "
                                                                      'e.g. {"lead_id": "lead_..."}.')
    limit: int | None = Field(None, alias="_limit", description="Page size, 1-200 (default 100).")
    skip: int | None = Field(None, alias="_skip", description="How many records to skip: the next page starts "
                                                              "at _skip + _limit.")
    fields: FieldsArg = None


class GetArgs(ResourceArgs):
    id: str = Field(description="The record's ID.")
    fields: FieldsArg = None


class CreateArgs(ResourceArgs):
    body: dict[str, Any] = Field(description="The new record's fields (listed below; * marks required ones).")
    fields: FieldsArg = None


class UpdateArgs(ResourceArgs):
    id: str = Field(description="The record's ID.")
    body: dict[str, Any] = Field(description="The fields to change (listed below); the others stay as they are.")
    fields: FieldsArg = None


class DeleteArgs(ResourceArgs):
    id: str = Field(description="The record's ID.")


def _resource(args: ResourceArgs, *, needs_parent: bool = False) -> Resource:
    res = mcp_resource(args.resource)
    if res.parent is None and args.parent_id is not None:
        raise field_error("parent_id", f"{res.name} is not nested under another resource; leave parent_id out")
    if res.parent is not None and needs_parent and args.parent_id is None:
        raise field_error("parent_id", f"required: the ID of the {res.parent.name} this {res.name} belongs to")
    return res


_SAME = " Records, validation and errors are those of the REST API."


@tool("list_records", Scope.READ, ListArgs, operation="list", description=(
    "List records of one resource, newest first unless stated: {\"data\": [...], \"has_more\": bool}. "
    "Page with _limit and _skip while has_more is true." + _SAME))
async def list_records(ctx: Ctx, args: ListArgs) -> dict[str, Any]:
    res = _resource(args)
    paging = {"_limit": args.limit, "_skip": args.skip, "_fields": joined(args.fields)}
    query = res.parse(res.list_query, {**args.filters, **{k: v for k, v in paging.items() if v is not None}})
    return await res.list(ctx, query, args.parent_id)


@tool("get_record", Scope.READ, GetArgs, operation="get", description="Get one record by ID." + _SAME)
async def get_record(ctx: Ctx, args: GetArgs) -> dict[str, Any]:
    return await _resource(args).get(ctx, args.id, joined(args.fields), args.parent_id)


@tool("create_record", Scope.WRITE_SAFE, CreateArgs, operation="create", description=(
    "Create a record and return it." + _SAME))
async def create_record(ctx: Ctx, args: CreateArgs) -> dict[str, Any]:
    res = _resource(args, needs_parent=True)
    return await res.create(ctx, res.parse(res.create_schema, args.body), joined(args.fields), args.parent_id)


@tool("update_record", Scope.WRITE_SAFE, UpdateArgs, operation="update", description=(
    "Change some fields of a record and return it; fields not sent keep their values." + _SAME))
async def update_record(ctx: Ctx, args: UpdateArgs) -> dict[str, Any]:
    res = _resource(args)
    return await res.update(ctx, args.id, res.parse(res.update_schema, args.body), joined(args.fields),
                            args.parent_id)


@tool("delete_record", Scope.WRITE_DESTRUCTIVE, DeleteArgs, operation="delete", description=(
    "Delete a record, irreversibly (some deletions cascade, as noted below). Answers {}." + _SAME))
async def delete_record(ctx: Ctx, args: DeleteArgs) -> dict[str, Any]:
    return await _resource(args).delete(ctx, args.id, args.parent_id)
