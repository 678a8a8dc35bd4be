"""The MCP tools and the scope each needs.

Five generic tools take a resource name and dispatch to that resource's own operations (the code
REST runs), so every business resource is reachable and a new one needs no change here;
``describe_resource`` tells an agent a resource's fields, filters and bodies when it needs them, so
the tool list stays small. The task-specific tools (``actions.py``) register themselves with the
same ``tool`` decorator, and every declared ``Action`` is a tool too (``TOOLS`` reads them live).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from mcp import types
from pydantic import Field

from geniziz.api.action import ACTIONS, Action, Args, FieldsArg, Run, Scope, joined, parse_args
from geniziz.api.context import Ctx
from geniziz.api.errors import field_error
from geniziz.api.resource import REGISTRY, Resource
from geniziz.mcp.catalog import describe_resource, mcp_resource, mcp_resources

__all__ = ["TOOLS", "Args", "FieldsArg", "Tool", "joined", "parse_args", "tool"]


@dataclass(frozen=True)
class Tool:
    name: str
    scope: Scope  # the least scope that lists and calls it
    args: type[Args]
    run: Run
    description: str
    operation: str | None = None  # generic tools: the resource operation they dispatch to

    def definition(self) -> types.Tool:
        """The resource enum follows the registry as it is now (cached while it stays the same)."""
        return _definition(self, tuple(REGISTRY))

    def _build(self) -> types.Tool:
        schema = _compact(self.args.model_json_schema())
        if "resource" in schema["properties"]:  # generic tools and describe_resource
            schema["properties"]["resource"]["enum"] = [r.name for r in mcp_resources(self.operation)]
        return types.Tool(
            name=self.name, description=self.description, input_schema=schema,
            annotations=types.ToolAnnotations(  # destructive_hint only means something for a tool that writes
                read_only_hint=self.scope is Scope.READ, open_world_hint=False,
                destructive_hint=None if self.scope is Scope.READ else self.scope is Scope.WRITE_DESTRUCTIVE),
        )


def _compact(schema: Any) -> Any:
    """Pydantic's schema less what tells an agent nothing: titles, and ``null`` for optional arguments."""
    if isinstance(schema, list):
        return [_compact(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: _compact(value) for key, value in schema.items()
              if key != "title" and not (key == "additionalProperties" and value is True)}
    for name, prop in schema.get("properties", {}).items():
        options = [option for option in prop.get("anyOf", ()) if option != {"type": "null"}]
        if "default" in prop and prop["default"] is None:  # optional: leaving it out is the way to say null
            del prop["default"]
            if len(options) == 1:
                del prop["anyOf"]
                prop.update(options[0])
            elif options:
                prop["anyOf"] = options
    return schema


@lru_cache(maxsize=64)
def _definition(tool: Tool, _registry: tuple[str, ...]) -> types.Tool:
    return tool._build()


@lru_cache(maxsize=256)
def _action_tool(action: Action) -> Tool:
    return Tool(action.name, action.scope, action.input, action.run, action.summary)


class _Tools(Mapping[str, Tool]):
    """The hand-written tools, then one per declared action, read when asked (actions load with the domains)."""

    def __init__(self) -> None:
        self.own: dict[str, Tool] = {}

    def _all(self) -> dict[str, Tool]:
        derived = {name: _action_tool(action) for name, action in ACTIONS.items()}
        if clash := self.own.keys() & derived.keys():
            raise RuntimeError(f"MCP tools declared twice (as a tool and an action): {', '.join(clash)}")
        return self.own | derived

    def __getitem__(self, name: str) -> Tool:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


TOOLS = _Tools()


def tool(name: str, scope: Scope, args: type[Args], description: str,
         operation: str | None = None) -> Callable[[Run], Run]:
    def register(run: Run) -> Run:
        if name in TOOLS.own:
            raise RuntimeError(f"MCP tool {name} registered twice")
        TOOLS.own[name] = Tool(name, scope, args, run, description, operation)
        return run

    return register


# --- generic tools ------------------------------------------------------------------------------------
# Short on purpose: every agent reads the whole list. The details come from describe_resource.
class ResourceArgs(Args):
    resource: str
    parent_id: str | None = Field(None, description="Nested resources only: the parent's ID.")


class DescribeArgs(Args):
    resource: str


class ListArgs(ResourceArgs):
    filters: dict[str, Any] = Field(default_factory=dict, description="See describe_resource.")
    limit: int | None = Field(None, alias="_limit", description="1-200, default 100.")
    skip: int | None = Field(None, alias="_skip", description="Records to skip.")
    fields: FieldsArg = None


class GetArgs(ResourceArgs):
    id: str
    fields: FieldsArg = None


class CreateArgs(ResourceArgs):
    body: dict[str, Any] = Field(description="The record's fields.")
    fields: FieldsArg = None


class UpdateArgs(ResourceArgs):
    id: str
    body: dict[str, Any] = Field(description="Only the fields that change.")
    fields: FieldsArg = None


class DeleteArgs(ResourceArgs):
    id: str


def _resource(args: ResourceArgs, *, needs_parent: bool = False) -> Resource:
    res = mcp_resource(args.resource)
    if res.parent is None and args.parent_id is not None:
        raise field_error("parent_id", f"{res.name} is not nested under another resource; leave parent_id out")
    if res.parent is not None and needs_parent and args.parent_id is None:
        raise field_error("parent_id", f"required: the ID of the {res.parent.name} this {res.name} belongs to")
    return res


@tool("describe_resource", Scope.READ, DescribeArgs, description=(
    "A resource's fields, filters, body fields (* = required) and an example. Call it before filtering or "
    "writing."))
async def describe(ctx: Ctx, args: DescribeArgs) -> dict[str, Any]:
    return describe_resource(mcp_resource(args.resource))


@tool("list_records", Scope.READ, ListArgs, operation="list", description=(
    "List a resource's records, newest first: {data, has_more}. Page with _limit/_skip."))
async def list_records(ctx: Ctx, args: ListArgs) -> dict[str, Any]:
    res = _resource(args)
    paging = {"_limit": args.limit, "_skip": args.skip, "_fields": joined(args.fields)}
    query = res.parse(res.list_query, {**args.filters, **{k: v for k, v in paging.items() if v is not None}})
    return await res.list(ctx, query, args.parent_id)


@tool("get_record", Scope.READ, GetArgs, operation="get", description="Get one record by ID.")
async def get_record(ctx: Ctx, args: GetArgs) -> dict[str, Any]:
    return await _resource(args).get(ctx, args.id, joined(args.fields), args.parent_id)


@tool("create_record", Scope.WRITE_SAFE, CreateArgs, operation="create", description=(
    "Create a record; returns it."))
async def create_record(ctx: Ctx, args: CreateArgs) -> dict[str, Any]:
    res = _resource(args, needs_parent=True)
    return await res.create(ctx, res.parse(res.create_schema, args.body), joined(args.fields), args.parent_id)


@tool("update_record", Scope.WRITE_SAFE, UpdateArgs, operation="update", description=(
    "Change some of a record's fields; returns it."))
async def update_record(ctx: Ctx, args: UpdateArgs) -> dict[str, Any]:
    res = _resource(args)
    return await res.update(ctx, args.id, res.parse(res.update_schema, args.body), joined(args.fields),
                            args.parent_id)


@tool("delete_record", Scope.WRITE_DESTRUCTIVE, DeleteArgs, operation="delete", description=(
    "Delete a record for good (a lead with all it holds). Answers {}."))
async def delete_record(ctx: Ctx, args: DeleteArgs) -> dict[str, Any]:
    return await _resource(args).delete(ctx, args.id, args.parent_id)
