"""Actions: operations beyond a resource's CRUD (a score, a render, a merge, a report), each declared once.

An ``Action`` names its method and path, its input and output schemas, the scope it needs and its
rate-limit group. The REST route with its OpenAPI entry (``action_routers``), the MCP tool
(``geniziz.mcp.tools``) and the gateway's rate-limit group (``rate_group``) all follow from it.
``run`` receives a ``Ctx`` and the validated input and never commits: the caller's unit of work
does (REST: ``read_ctx``/``write_ctx`` by scope; MCP: the session ``call_tool`` opens).
"""

# No `from __future__ import annotations`: FastAPI reads the derived handlers' annotations.

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import Annotated, Any, Literal, get_args

from fastapi import Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from starlette.routing import compile_path

from geniziz.api.context import Ctx, read_ctx, write_ctx
from geniziz.api.errors import APIError, validation_field_errors
from geniziz.api.routing import DirectRoute, QuickRouter
from geniziz.api.tabular import CSV, csv_response, wants_csv


class Scope(str, Enum):
    """What a caller may do. Each scope includes the ones before it."""

    READ = "read"  # list, get, search, score
    WRITE_SAFE = "write_safe"  # + create, update, log, complete
    WRITE_DESTRUCTIVE = "write_destructive"  # + delete, merge and other irreversible actions

    @property
    def rank(self) -> int:
        return list(Scope).index(self)

    def allows(self, needed: "Scope") -> bool:
        return self.rank >= needed.rank


RateGroup = Literal["read", "write", "heavy"]


class Args(BaseModel):
    """An action's (or MCP tool's) input. Unknown names are refused, as unknown body fields are in REST."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# Agents pass either the REST form ("id,name") or a list.
FieldsArg = Annotated[str | list[str] | None, Field(
    alias="_fields", description="Fields to return (comma-separated or a list).")]


def joined(fields: str | list[str] | None) -> str | None:
    return ",".join(fields) if isinstance(fields, list) else fields


def parse_args(model: type[BaseModel], raw: dict[str, Any]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        fields = validation_field_errors(list(exc.errors()))
        raise APIError(400, "Invalid arguments: " + ", ".join(sorted(fields)), fields) from None


Run = Callable[[Ctx, Any], Awaitable[dict[str, Any]]]
_BODY_METHODS = ("POST", "PUT", "PATCH")


@dataclass(frozen=True)
class Action:
    name: str  # the MCP tool and the OpenAPI operation_id: "lead_score"
    method: str  # "GET"
    path: str  # under /api/v1, ending with a slash: "/lead/{lead_id}/score/"
    input: type[Args]  # path parameters + query (GET, DELETE) or body (POST, PUT, PATCH) fields
    output: type[BaseModel]
    scope: Scope
    rate_group: RateGroup  # "heavy" for searches, reports and exports
    title: str  # one line: the OpenAPI summary, and the start of the MCP tool's description
    run: Run
    description: str = ""  # the rest of what a caller should know; keep it short, agents read it too
    tag: str | None = None  # the OpenAPI group, e.g. "Lead"
    status_code: int = 200
    # MCP: its own tool (for the few an agent uses all the time), or reached through the one
    # run_action tool of its scope, which keeps tools/list small however many actions there are.
    own_tool: bool = False
    # REST: with ``Accept: text/csv``, answer these rows of the JSON body as CSV (reports, exports).
    csv_rows: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None

    def __post_init__(self) -> None:
        missing = set(self.path_params) - set(self.input.model_fields)
        if self.rate_group not in get_args(RateGroup) or not self.path.endswith("/") or missing:
            raise RuntimeError(f"action {self.name}: bad rate group, path without a trailing slash, "
                               f"or path parameters missing from its input ({', '.join(missing)})")

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)

    @property
    def summary(self) -> str:
        """The MCP tool's description."""
        return f"{self.title}. {self.description}".strip()

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        from geniziz.api.gateway import API_PREFIX  # imported late: the gateway imports this module

        return compile_path(API_PREFIX + self.path)[0]

    def serves(self, method: str, path: str) -> bool:
        return method == self.method and self._pattern.match(path) is not None


ACTIONS: dict[str, Action] = {}


def register_action(action: Action) -> Action:
    if action.name in ACTIONS:
        raise RuntimeError(f"action {action.name} registered twice")
    ACTIONS[action.name] = action
    return action


def rate_group(method: str, path: str) -> str | None:
    """The declared rate-limit group of the action serving ``method path`` (the gateway's normalized path).
    Every request asks, so only the actions of its method and first path segment are tried (trying every
    action's pattern cost 8-13 µs a request)."""
    index, prefix = _indexed()
    first = path[len(prefix):].split("/", 1)[0] if path.startswith(prefix) else None
    candidates = index.get((method, first)) or index.get((method, None), ())
    return next((a.rate_group for a in candidates if a.serves(method, path)), None)


_index: tuple[tuple[Action, ...], dict[tuple[str, str | None], list[Action]], str] = ((), {}, "")


def _indexed() -> tuple[dict[tuple[str, str | None], list[Action]], str]:
    """Actions by (method, literal first segment), each list with the actions whose first segment is a
    parameter, in registration order; those alone under (method, None). Rebuilt when the registry changed
    (tests register and remove actions). And the API's prefix with its slash."""
    global _index
    actions = tuple(ACTIONS.values())
    if actions != _index[0] or not _index[2]:
        from geniziz.api.gateway import API_PREFIX  # imported late: the gateway imports this module

        def first_segment(action: Action) -> str | None:
            first = action.path.strip("/").split("/", 1)[0]
            return None if "{" in first else first

        keys = {(action.method, first_segment(action)) for action in actions}
        _index = actions, {(method, first): [a for a in actions if a.method == method and first_segment(a) in (first, None)]
                           for method, first in keys}, API_PREFIX + "/"
    return _index[1], _index[2]


# --- REST --------------------------------------------------------------------------------------------
def action_routers() -> list[QuickRouter]:
    """One route per registered action, with its OpenAPI entry, grouped by first path segment, in order:
    included one by one in the app, each is in the path table's entry for its segment only (api/routing.py)."""
    groups: dict[str, QuickRouter] = {}
    for action in ACTIONS.values():
        groups.setdefault(action.path.strip("/").split("/")[0], QuickRouter(route_class=DirectRoute)).add_api_route(
            action.path, _handler(action), methods=[action.method], response_model=action.output,
            status_code=action.status_code, summary=action.title, description=action.description,
            operation_id=action.name, tags=[action.tag] if action.tag else None,
            responses={action.status_code: {"content": {CSV: {}}}} if action.csv_rows else None)
    return list(groups.values())


def _handler(action: Action) -> Callable[..., Awaitable[JSONResponse]]:
    """A handler whose signature tells FastAPI where each input comes from: path, then query or body."""
    path_params = action.path_params
    params = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[
        action.input.model_fields[name].annotation, Path(description=action.input.model_fields[name].description)])
        for name in path_params]
    rest = {name: (info.annotation, info) for name, info in action.input.model_fields.items()
            if name not in path_params}
    if rest:
        where = "Body" if action.method in _BODY_METHODS else "Query"
        model = create_model(f"{_camel(action.name)}{where}", __base__=Args, **rest)  # type: ignore[call-overload]
        source = Body() if where == "Body" else Query()
        params.append(inspect.Parameter("payload", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[model, source]))
    ctx_dep = read_ctx if action.scope is Scope.READ else write_ctx
    params.append(inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[Ctx, Depends(ctx_dep)]))
    params.append(inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request))

    async def handler(ctx: Ctx, request: Request, payload: BaseModel | None = None, **path: Any) -> Response:
        given = payload.model_dump(by_alias=True, exclude_unset=True) if payload is not None else {}
        args = parse_args(action.input, {**given, **path})
        body = await action.run(ctx, args)
        if action.csv_rows is not None and wants_csv(request):
            return csv_response(action.csv_rows(body))
        return JSONResponse(body, status_code=action.status_code)

    handler.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    handler.__name__ = action.name
    return handler


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))
