"""The request path of the routes under /api/v1: finding the route (PathTable, QuickRouter) and running it
(DirectRoute).

PathTable: the app router asks only the routers that can match the request's first path segment, and a
request that one of their routes matches fully goes straight to that route.

FastAPI's app router asks each of its ~50 included routers in turn, each through its ``_IncludedRouter``
wrapper (1 µs or so each even when the router declines at once: 25-45 µs of a request). Every router
included under /api/v1 has route paths whose first segment after the prefix is a literal
(``/api/v1/lead/{id}/``: ``lead``), so a request's first segment names the few that can match it, or
match it after the trailing-slash redirect (which keeps the segment). The table runs FastAPI's own
router code on the app router's route list less the routers that cannot match: the same route wins,
with the same 404, 405 and redirects, and the app's route list (OpenAPI, url_for) is untouched.

Then the table goes one step further for a path and method that one of those routes matches fully (nearly
every request): FastAPI finds the route twice (the app router asks each included router, which asks its
routes; then the router that said yes finds it again to handle it) through four layers of handlers (a lead
read costs 3-5% less CPU without them). The table tries the same routes' regexes in the same order itself
and hands the request to the first full match with the scope FastAPI would have given it (``_dispatch``).
Anything else (no full match: a 404, a 405, a redirect; a route of another kind in the way) takes FastAPI's
lookup above.

QuickRouter: an APIRouter that declines at once a path none of its routes can match.

FastAPI finds a request's route by asking every included router in turn, and each router tries every
route's regex, twice (once to match, once to handle): about 3 µs a route, 0.2-0.8 ms of a request's CPU
at the ~250 routes under /api/v1 (measured: /api/v1/status/lead/ took 774 µs to match before, one
router per resource). Each route path starts with a literal part (``/lead/`` of ``/lead/{id}/``) that
any path it matches contains, wherever the router is mounted, so a router whose literal parts are all
absent from the path can say no without trying a regex.

DirectRoute: see its docstring. It leans on FastAPI's own (partly private) functions for reading and
validating request fields, so that every answer stays FastAPI's; tests/test_routing_fast.py compares
both handlers' answers byte for byte over every route, and fails first if a FastAPI upgrade moves them.
"""

from __future__ import annotations

import copy
import email.message
import inspect
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, params
from fastapi._compat import ModelField, field_annotation_is_sequence, get_cached_model_fields
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import (_get_multidict_extras, _get_param_aliases, _get_param_model, _is_json_field,
                                        _validate_value_with_model_field, request_body_to_args, request_params_to_args)
from fastapi.exceptions import RequestValidationError
from fastapi.routing import (_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY, _FASTAPI_INCLUDED_ROUTER_KEY, APIRoute,
                             _apply_router_form_limits, _effective_route_context_var, _EffectiveRouteContext,
                             _get_fastapi_scope, _IncludedRouter, _route_selected)
from pydantic import BaseModel
from pydantic_core import PydanticUndefined as Undefined
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send


class PathTable:
    """Stands in for the app router's ASGI entry (its ``middleware_stack``): a request under ``prefix`` goes
    to a copy of the router that holds only the routes its first path segment can reach."""

    def __init__(self, router: APIRouter, prefix: str) -> None:
        self.router, self.prefix = router, prefix.rstrip("/") + "/"
        self.whole: ASGIApp = router.middleware_stack
        self._built_for = -1
        self._views: dict[str, APIRouter] = {}
        self._other: APIRouter = router
        self._routes: dict[str, list[_Candidate] | None] = {}  # per segment: what _dispatch tries, in order

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = get_route_path(scope)
            if path.startswith(self.prefix):
                self.prepare()
                segment = path[len(self.prefix):].split("/", 1)[0]
                scope.setdefault("router", self.router)  # url_for and the like see the whole app
                view = self._views.get(segment, self._other)
                routes = self._routes.get(segment)
                if routes is None or not await _dispatch(view, routes, path, scope, receive, send):
                    await view.app(scope, receive, send)
                return
        await self.whole(scope, receive, send)

    def prepare(self) -> None:
        """Builds the table when routes were added since (or never built). Start-up calls it: building it
        for a whole app costs ~0.8 s, which the first request would otherwise wait for."""
        if len(self.router.routes) != self._built_for:
            self._build()

    def _build(self) -> None:
        routes = list(self.router.routes)
        segments = [_first_segments(route, self.prefix) for route in routes]
        known = set().union(*(found for found in segments if found is not None))

        def view(segment: str | None) -> APIRouter:
            # A shallow copy: FastAPI's code, settings and default (404) of the same router, fewer routes.
            copied = copy.copy(self.router)
            copied.routes = [route for route, found in zip(routes, segments) if found is None or segment in found]
            return copied

        self._views = {segment: view(segment) for segment in known}
        self._other = view(None)  # a segment no route names: only the routes the table cannot rule out
        self._routes = {segment: _candidates(router, self.prefix, segment) for segment, router in self._views.items()}
        self._built_for = len(routes)


# What _dispatch tries for a segment, in FastAPI's order: an included route (its router, its context), or a
# route of the app's own (None, the route), whose match sends the request to FastAPI's lookup.
_Candidate = tuple[_IncludedRouter | None, Any]


def _candidates(view: APIRouter, prefix: str, segment: str) -> list[_Candidate] | None:
    """A view's routes as _dispatch tries them; None when it holds what _dispatch does not handle (a router
    inside an included router, a route other than an APIRoute in one, low-priority routes)."""
    found: list[_Candidate] = []
    for route in view.routes:
        if not isinstance(route, _IncludedRouter):
            if _may_match(route, prefix, segment):
                found.append((None, route))
            continue
        if route.effective_low_priority_routes():
            return None
        for context in route.effective_candidates():
            if not isinstance(context, _EffectiveRouteContext) or not isinstance(context.original_route, APIRoute) \
                    or context.app is None:
                return None
            found.append((route, context))
    return found


def _may_match(route: Any, prefix: str, segment: str) -> bool:
    """Whether a route of the app's own could match a path of ``segment`` under ``prefix``: not if its path is a
    literal one elsewhere (a Route matches exactly its path, a Mount the paths under it)."""
    path = getattr(route, "path", None)
    if not isinstance(path, str) or not path.startswith("/") or "{" in path:
        return True
    if prefix.startswith(path.rstrip("/") + "/"):  # at or above the prefix: a Mount there takes paths under it
        return True
    return path.startswith(prefix) and path[len(prefix):].split("/", 1)[0] == segment


async def _dispatch(view: APIRouter, routes: list[_Candidate], path: str, scope: Scope, receive: Receive,
                    send: Send) -> bool:
    """Hands the request to the first route that matches its path and method, as FastAPI's lookup would (the
    scope it leaves included: the route, endpoint and path parameters, the included router and route
    context FastAPI's handlers read); False when none does before something only FastAPI's lookup decides."""
    method = scope["method"]
    for included, route in routes:
        if included is None:
            if route.matches(scope)[0] is not Match.NONE:
                return False
            continue
        found = route.path_regex.match(path)
        if found is None or (route.methods and method not in route.methods):
            continue  # a path match with another method (405) only counts if nothing matches fully
        path_params = dict(scope.get("path_params", {}))
        path_params.update({key: route.param_convertors[key].convert(value)
                            for key, value in found.groupdict().items()})
        _apply_router_form_limits(scope, view.form_limits)  # as the view's APIRouter.app, then the inclusion
        _apply_router_form_limits(scope, included.include_context.form_limits)
        fastapi_scope = _get_fastapi_scope(scope)
        fastapi_scope[_FASTAPI_INCLUDED_ROUTER_KEY] = included
        scope.update(endpoint=route.endpoint, path_params=path_params, route=route.original_route)
        _route_selected(scope=scope, path=route.path_format)
        fastapi_scope[_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = route
        await route.original_route.handle(scope, receive, send)
        return True
    return False


def _first_segments(route: Any, prefix: str) -> frozenset[str] | None:
    """The first path segments after ``prefix`` of an included router's routes, or None when the table
    cannot rule the route out for any path (not an included router, a route outside the prefix, a
    parameter in the first segment, a fallback route of FastAPI's)."""
    if not isinstance(route, _IncludedRouter) or route.effective_low_priority_routes():
        return None
    found = set()
    for context in route.effective_route_contexts():
        path = getattr(context, "path", None)
        if not isinstance(path, str) or not path.startswith(prefix):
            return None
        segment = path[len(prefix):].split("/", 1)[0]
        if "{" in segment:
            return None
        found.add(segment)
    return frozenset(found) or None


class QuickRouter(APIRouter):
    _heads: tuple[str, ...] | None = None
    _heads_for = -1

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if len(self.routes) != self._heads_for:  # routes added since: read them again
            self._heads = _literal_heads(self.routes)
            self._heads_for = len(self.routes)
        path = scope["path"]
        if self._heads is not None and not any(head in path for head in self._heads):
            return Match.NONE, {}
        return super().matches(scope)


def _literal_heads(routes: list[Any]) -> tuple[str, ...] | None:
    """Each route's path up to its first parameter, without the trailing slash (a path without its slash
    must still reach the route, for the redirect), and an included QuickRouter's own heads; None when a
    route has no literal part to test."""
    heads: set[str] = set()
    for route in routes:
        included = getattr(route, "original_router", None)
        if isinstance(included, QuickRouter):
            found = _literal_heads(included.routes)
            if found is None:
                return None
            heads.update(found)
        else:
            heads.add(str(getattr(route, "path", "")).split("{", 1)[0].rstrip("/"))
    return None if "" in heads else tuple(sorted(heads, key=len))


class DirectRoute(APIRoute):
    """An APIRoute whose request handler is built once from its declaration instead of solving FastAPI's
    dependency graph on every request (a fifth of a lead read's CPU went there).

    FastAPI still declares the route: the same path, parameters, body and OpenAPI entry. The handler
    reads the body as FastAPI does, validates path, query and body fields with FastAPI's own functions
    (the same errors, in the same order, hence the same 400s), calls plain parameter dependencies
    (``_parent_id``), and opens the unit of work of ``read_ctx``/``write_ctx`` itself, ending it (the
    commit) before the response is sent. A declaration with anything else (headers, cookies, a
    ``Response`` parameter, other dependencies) keeps FastAPI's handler.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        # Included routes are built per inclusion, with the including router's additions (see APIRoute).
        included = _effective_route_context_var.get()
        route: Any = included if included is not None and included.original_route is self else self
        handler = _direct_handler(route.dependant, route.body_field is not None, route._embed_body_fields)
        return handler or super().get_route_handler()


_NOT_SUPPORTED = ("header_params", "cookie_params", "websocket_param_name", "http_connection_param_name",
                  "response_param_name", "background_tasks_param_name", "security_scopes_param_name")


def _plain(dependant: Dependant) -> bool:
    """Path, query and JSON body fields (and a Request) only, answered by a coroutine function."""
    return (inspect.iscoroutinefunction(dependant.call) and not any(getattr(dependant, name) for name in _NOT_SUPPORTED)
            and not any(isinstance(field.field_info, params.Form) for field in dependant.body_params))


def _direct_handler(endpoint: Dependant, has_body: bool, embed_body_fields: bool
                    ) -> Callable[[Request], Coroutine[Any, Any, Response]] | None:
    from geniziz.api.context import UNIT_DEPENDENCIES, request_unit  # imported late: context imports the app's models

    unit: tuple[str, bool] | None = None  # (parameter name, writes)
    helpers: list[tuple[Dependant, _Fields]] = []
    for sub in endpoint.dependencies:
        if sub.call in UNIT_DEPENDENCIES and unit is None:
            unit = (str(sub.name), UNIT_DEPENDENCIES[sub.call])
        elif _plain(sub) and not (sub.dependencies or sub.request_param_name or sub.body_params):
            helpers.append((sub, _Fields(sub, embed_body_fields)))
        else:
            return None
    if not _plain(endpoint):
        return None
    own_fields = _Fields(endpoint, embed_body_fields)

    async def handler(request: Request) -> Response:
        body = await _read_body(request) if has_body else Undefined
        # Errors in FastAPI's order: each dependency's fields, then the endpoint's path, query, body.
        values, errors = {}, []
        for sub, fields in helpers:
            sub_values, sub_errors = await fields.validate(request, body)
            if sub_errors:
                errors.extend(sub_errors)
            else:
                values[sub.name] = await sub.call(**sub_values)
        own_values, own_errors = await own_fields.validate(request, body)
        errors.extend(own_errors)
        if errors:
            raise RequestValidationError(errors, body=None if body is Undefined else body)
        values.update(own_values)
        if endpoint.request_param_name:
            values[endpoint.request_param_name] = request
        if unit is None:
            return await endpoint.call(**values)
        name, write = unit
        async with request_unit(request.scope, write=write) as values[name]:
            return await endpoint.call(**values)

    return handler


class _Fields:
    """A dependant's path, query and body fields, validated as solve_dependencies validates them."""

    def __init__(self, dependant: Dependant, embed_body_fields: bool) -> None:
        self.dependant, self.embed_body_fields = dependant, embed_body_fields
        query = dependant.query_params
        model = _get_param_model(query[0]) if len(query) == 1 else None
        self.query_model = _QueryModel(query[0], model) if model is not None else None

    async def validate(self, request: Request, body: Any) -> tuple[dict[str, Any], list[Any]]:
        dependant = self.dependant
        values, errors = request_params_to_args(dependant.path_params, request.path_params)
        if self.query_model is not None:
            value, query_errors = self.query_model.read(request.query_params)
            if query_errors:
                errors += query_errors
            else:
                values[self.query_model.field.name] = value
        elif dependant.query_params:
            query_values, query_errors = request_params_to_args(dependant.query_params, request.query_params)
            values.update(query_values)
            errors += query_errors
        if dependant.body_params:
            body_values, body_errors = await request_body_to_args(dependant.body_params, body, self.embed_body_fields)
            values.update(body_values)
            errors.extend(body_errors)
        return values, errors


class _QueryModel:
    """FastAPI's reading of a query parameter model (``Annotated[Model, Query()]``, as
    _request_param_model_to_args does it for query strings), with what it works out from the model's
    fields on every request (aliases, which fields are lists: a tenth of a request's CPU) worked out once."""

    def __init__(self, field: ModelField, model: type[BaseModel]) -> None:
        self.field, self.model = field, model
        self.fields = []  # (aliases, read as a list, an empty value counts as absent)
        for item in get_cached_model_fields(model):
            sequence = field_annotation_is_sequence(item.field_info.annotation)
            self.fields.append((_get_param_aliases(item), sequence and not _is_json_field(item), sequence))
        self.own_names = {name for aliases, _, _ in self.fields for _, name in aliases}
        self.extras_count = model.model_config.get("extra") in ("allow", "forbid")
        self.loc = (field.field_info.in_.value,)

    def read(self, received: QueryParams) -> tuple[Any, list[Any]]:
        values: dict[str, Any] = {}
        processed = set()
        for aliases, as_list, sequence in self.fields:
            alias, request_alias = next((pair for pair in aliases if pair[1] in received), aliases[0])
            value = received.getlist(request_alias) if as_list else received.get(request_alias)
            if value is not None and not (sequence and len(value) == 0):
                values[alias] = value
            processed.add(request_alias)
        values.update(_get_multidict_extras(received, processed))
        value: Any = values
        if self.field.field_info.annotation is not self.model and not (
                self.own_names.intersection(received) or (self.extras_count and values)):
            value = Undefined
        return _validate_value_with_model_field(field=self.field, value=value, values={}, loc=self.loc)


async def _read_body(request: Request) -> Any:
    """The body as FastAPI's handler reads it: JSON when the content type says so, else the raw bytes,
    Undefined when empty; malformed JSON is a validation error at ("body", position)."""
    try:
        body_bytes = await request.body()
        if not body_bytes:
            return Undefined
        content_type = request.headers.get("content-type")
        if content_type:
            message = email.message.Message()
            message["content-type"] = content_type
            if message.get_content_maintype() == "application":
                subtype = message.get_content_subtype()
                if subtype == "json" or subtype.endswith("+json"):
                    return await request.json()
        return body_bytes
    except json.JSONDecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                       "input": {}, "ctx": {"error": exc.msg}}], body=exc.doc) from exc
    except HTTPException:
        raise
    except Exception as exc:
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from exc
