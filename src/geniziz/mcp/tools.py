"""The MCP tools and the scope each needs.

Five generic tools take a resource name (listed once, in describe_resource's enum) and dispatch to that
resource's own operations (the code REST runs), so every business resource is reachable and a new one
needs no change here;
``describe_resource`` tells an agent a resource's (or an action's) fields, filters and bodies when it
needs them, so the tool list stays small. The task-specific tools (``actions.py``) register
themselves with the same ``tool`` decorator. A declared ``Action`` with ``own_tool`` is a tool of its
own; every other one is reached through the one dispatch tool of its scope (``run_action``,
``run_write_action``, ``run_destructive_action``), whose enum names exactly that scope's actions (the
only place an action is named: describe_resource takes the name without listing it again), so the list
grows by a name per action, not a tool. ``TOOLS`` reads the actions live.
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
from geniziz.mcp.catalog import RUNNER, describe_action, describe_resource, dispatched, mcp_resource, mcp_resources

__all__ = ["TOOLS", "Args", "FieldsArg", "Tool", "joined", "parse_args", "tool"]


@dataclass(frozen=True)
class Tool:
    name: str
    scope: Scope  # the least scope that lists and calls it
    args: type[Args]
    run: Run
    description: str

    def definition(self) -> types.Tool:
        """The enums follow the registry and the actions as they are now (cached while they stay the same)."""
        return _definition(self, tuple(REGISTRY), tuple(ACTIONS))

    def _build(self) -> types.Tool:
        schema = _compact(self.args.model_json_schema())
        properties = schema["properties"]
        if self.name == "describe_resource":  # the one list of resources; each generic tool checks its own on call
            properties["resource"]["enum"] = [r.name for r in mcp_resources()]
        if "action" in properties:  # a dispatch tool: exactly the actions of its scope, the one list of them
            properties["action"]["enum"] = [a.name for a in dispatched(self.scope)]
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
def _definition(tool: Tool, _registry: tuple[str, ...], _actions: tuple[str, ...]) -> types.Tool:
    return tool._build()


@lru_cache(maxsize=256)
def _action_tool(action: Action) -> Tool:
    return Tool(action.name, action.scope, action.input, action.run, action.summary)


class _Tools(Mapping[str, Tool]):
    """The hand-written tools, the own-tool actions, then each scope's dispatch tool while that scope has
    actions, read when asked (actions load with the domains)."""

    def __init__(self) -> None:
        self.own: dict[str, Tool] = {}

    def _all(self) -> dict[str, Tool]:
        derived = {name: _action_tool(action) for name, action in ACTIONS.items() if action.own_tool}
        if clash := self.own.keys() & derived.keys():
            raise RuntimeError(f"MCP tools declared twice (as a tool and an action): {', '.join(clash)}")
        return self.own | derived | {t.name: t for t in DISPATCH if dispatched(t.scope)}

    def __getitem__(self, name: str) -> Tool:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


TOOLS = _Tools()


def tool(name: str, scope: Scope, args: type[Args], description: str) -> Callable[[Run], Run]:
    def register(run: Run) -> Run:
        if name in TOOLS.own:
            raise RuntimeError(f"MCP tool {name} registered twice")
        TOOLS.own[name] = Tool(name, scope, args, run, description)
        return run

    return register


# --- generic tools ------------------------------------------------------------------------------------
# Short on purpose: every agent reads the whole list. The details come from describe_resource.
class ResourceArgs(Args):
    # No enum here: the names are listed once, in describe_resource, so the list costs its length once.
    resource: str = Field(description="A resource name from describe_resource.")
    parent_id: str | None = Field(None, description="Nested resources only: the parent's ID.")


class DescribeArgs(Args):
    # The enum lists resources; an action's name (from a run_* tool's enum) is taken too, so that each
    # name costs the list once.
    resource: str = Field(description="A resource, or an action named by a run_*action tool.")


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
    res = mcp_resource(args.resource)  # an operation it lacks answers "does not support" when called
    if res.parent is None and args.parent_id is not None:
        raise field_error("parent_id", f"{res.name} is not nested under another resource; leave parent_id out")
    if res.parent is not None and needs_parent and args.parent_id is None:
        raise field_error("parent_id", f"required: the ID of the {res.parent.name} this {res.name} belongs to")
    return res


@tool("describe_resource", Scope.READ, DescribeArgs, description=(
    "A resource's fields, filters, body fields (* = required) and an example, or an action's args. Call it "
    "before filtering, writing or running an action."))
async def describe(ctx: Ctx, args: DescribeArgs) -> dict[str, Any]:
    action = ACTIONS.get(args.resource)
    if action is not None and not action.own_tool:
        return describe_action(action)
    resource = mcp_resource(args.resource)
    about = describe_resource(resource)
    if hasattr(resource, "describe_custom"):  # this workspace's own fields (geniziz.custom)
        about |= await resource.describe_custom(ctx)
    return about


@tool("list_records", Scope.READ, ListArgs, description=(
    "List a resource's records, newest first: {data, has_more}. Page with _limit/_skip."))
async def list_records(ctx: Ctx, args: ListArgs) -> dict[str, Any]:
    res = _resource(args)
    paging = {"_limit": args.limit, "_skip": args.skip, "_fields": joined(args.fields)}
    query = res.parse(res.list_query, {**args.filters, **{k: v for k, v in paging.items() if v is not None}})
    return await res.list(ctx, query, args.parent_id)


@tool("get_record", Scope.READ, GetArgs, description="Get one record by ID.")
async def get_record(ctx: Ctx, args: GetArgs) -> dict[str, Any]:
    return await _resource(args).get(ctx, args.id, joined(args.fields), args.parent_id)


@tool("create_record", Scope.WRITE_SAFE, CreateArgs, description=(
    "Create a record; returns it."))
async def create_record(ctx: Ctx, args: CreateArgs) -> dict[str, Any]:
    res = _resource(args, needs_parent=True)
    return await res.create(ctx, res.parse(res.create_schema, args.body), joined(args.fields), args.parent_id)


@tool("update_record", Scope.WRITE_SAFE, UpdateArgs, description=(
    "Change some of a record's fields; returns it."))
async def update_record(ctx: Ctx, args: UpdateArgs) -> dict[str, Any]:
    res = _resource(args)
    return await res.update(ctx, args.id, res.parse(res.update_schema, args.body), joined(args.fields),
                            args.parent_id)


@tool("delete_record", Scope.WRITE_DESTRUCTIVE, DeleteArgs, description=(
    "Delete a record for good (a lead with all it holds). Answers {}."))
async def delete_record(ctx: Ctx, args: DeleteArgs) -> dict[str, Any]:
    return await _resource(args).delete(ctx, args.id, args.parent_id)


# --- actions without a tool of their own: one dispatch tool per scope -----------------------------------
class RunArgs(Args):
    action: str
    args: dict[str, Any] = Field(default_factory=dict)  # the tool's description says where to learn them


def _dispatcher(scope: Scope) -> Run:
    async def run(ctx: Ctx, args: RunArgs) -> dict[str, Any]:
        action = ACTIONS.get(args.action)
        if action is None or action.own_tool or action.scope is not scope:
            raise field_error("action", "one of: " + ", ".join(a.name for a in dispatched(scope)))
        # The action's own input model, then its own run: what REST and an own tool do.
        return await action.run(ctx, parse_args(action.input, args.args))

    return run


_WHAT = {Scope.READ: "a read action (reports and more)", Scope.WRITE_SAFE: "a write action",
         Scope.WRITE_DESTRUCTIVE: "an action that cannot be undone"}
DISPATCH = tuple(Tool(RUNNER[scope], scope, RunArgs, _dispatcher(scope),
                      f"Run {_WHAT[scope]}; describe_resource tells its args.") for scope in Scope)
