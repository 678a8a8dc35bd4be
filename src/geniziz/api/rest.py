"""REST routes derived from resource declarations: list, get, create, update (PUT, partial), delete."""

# No `from __future__ import annotations` here: FastAPI reads these handlers' annotations at
# definition time, and they name each resource's own schema classes.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
import orjson
from fastapi.responses import JSONResponse
from pydantic import BaseModel, create_model

from geniziz.api.context import Ctx, read_ctx, write_ctx
from geniziz.api.resource import FieldsParam, Resource
from geniziz.api.routing import DirectRoute, QuickRouter


class FastJSONResponse(JSONResponse):
    """JSONResponse rendered by orjson: a list page is ~140 KB of JSON, which the json module takes a
    tenth of the request to write. Anything orjson refuses (an integer beyond 64 bits) goes the usual way."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return super().render(content)


class Deleted(BaseModel):
    """An empty object: the record is gone."""


async def _parent_id(parent_id: Annotated[str, Path(description="ID of the parent record")]) -> str:
    return parent_id


async def _no_parent() -> None:
    return None


def rest_path(resource: Resource) -> str:
    if resource.parent:
        return f"/{resource.parent.name}/{{parent_id}}/{resource.name.rsplit('/', 1)[-1]}/"
    return f"/{resource.name}/"


def resource_router(res: Resource) -> APIRouter:
    router = QuickRouter(tags=[res.title], route_class=DirectRoute)
    base = rest_path(res)
    one = base + "{id}/"
    parent_dep = _parent_id if res.parent else _no_parent
    Read = res.read_schema
    ListQuery = res.list_query
    title = res.title.lower()
    ListOut = create_model(f"{res.title.replace(' ', '')}List", data=(list[Read], ...), has_more=(bool, ...))
    ops = res.operations

    if "list" in ops:
        @router.get(base, response_model=ListOut, summary=f"List {title} records", description=res.description,
                    operation_id=f"list_{_op_name(res)}")
        async def list_records(query: Annotated[ListQuery, Query()], ctx: Ctx = Depends(read_ctx),
                               parent_id: Any = Depends(parent_dep)) -> JSONResponse:
            return FastJSONResponse(await res.list(ctx, query, parent_id, as_json=True))

    if "get" in ops:
        @router.get(one, response_model=res.detail_schema or Read, summary=f"Get a {title}",
                    operation_id=f"get_{_op_name(res)}")
        async def get_record(id: str, params: Annotated[FieldsParam, Query()], ctx: Ctx = Depends(read_ctx),
                             parent_id: Any = Depends(parent_dep)) -> JSONResponse:
            return FastJSONResponse(await res.get(ctx, id, params.fields, parent_id, as_json=True))

    if "create" in ops and res.create_schema is not None:
        Create = res.create_schema

        @router.post(base, response_model=Read, status_code=201, summary=f"Create a {title}",
                     operation_id=f"create_{_op_name(res)}")
        async def create_record(body: Create, params: Annotated[FieldsParam, Query()],
                                ctx: Ctx = Depends(write_ctx), parent_id: Any = Depends(parent_dep)) -> JSONResponse:
            return FastJSONResponse(await res.create(ctx, body, params.fields, parent_id), status_code=201)

    if "update" in ops and res.update_schema is not None:
        Update = res.update_schema

        @router.put(one, response_model=Read, summary=f"Update a {title} (only the fields sent change)",
                    operation_id=f"update_{_op_name(res)}")
        async def update_record(id: str, body: Update, params: Annotated[FieldsParam, Query()],
                                ctx: Ctx = Depends(write_ctx), parent_id: Any = Depends(parent_dep)) -> JSONResponse:
            return FastJSONResponse(await res.update(ctx, id, body, params.fields, parent_id))

    if "delete" in ops:
        @router.delete(one, response_model=Deleted, summary=f"Delete a {title}", operation_id=f"delete_{_op_name(res)}")
        async def delete_record(id: str, ctx: Ctx = Depends(write_ctx),
                                parent_id: Any = Depends(parent_dep)) -> JSONResponse:
            return FastJSONResponse(await res.delete(ctx, id, parent_id))

    return router


def _op_name(res: Resource) -> str:
    return res.name.replace("/", "_")
