"""Identity actions beyond plain CRUD: who am I, new API keys, new workspaces."""

from typing import Annotated

from fastapi import Depends, Query
from fastapi.responses import JSONResponse
from sqlalchemy import select

from geniziz.api.context import Ctx, read_ctx, write_ctx
from geniziz.api.errors import not_found
from geniziz.api.resource import FieldsParam, parse_fields
from geniziz.api.routing import QuickRouter
from geniziz.identity import schemas
from geniziz.identity.models import Membership, Organization, User
from geniziz.identity.resources import api_key as api_key_resource
from geniziz.identity.service import ApiKeyService, create_workspace

router = QuickRouter()


@router.get("/me/", response_model=schemas.MeRead, tags=["User"], summary="The caller and their workspaces")
async def me(params: Annotated[FieldsParam, Query()], ctx: Annotated[Ctx, Depends(read_ctx)]) -> JSONResponse:
    user = await ctx.session.get(User, ctx.user_id)
    # The caller's own memberships in every workspace: the one read that spans workspaces on purpose.
    memberships = (await ctx.session.scalars(
        select(Membership).where(Membership.user_id == ctx.user_id).order_by(Membership.id)
        .execution_options(all_workspaces=True))).all()
    body = schemas.MeRead(
        id=user.id, email=user.email, name=user.name, organization_id=ctx.org_id, role=ctx.principal.role,
        date_created=user.date_created,
        memberships=[schemas.MembershipOfMe(organization_id=m.organization_id, organization_name=m.organization.name,
                                            role=m.role) for m in memberships],
    )
    return JSONResponse(body.model_dump(mode="json", include=parse_fields(params.fields, schemas.MeRead.model_fields)))


@router.post("/api_key/", response_model=schemas.ApiKeyCreated, status_code=201, tags=["API key"],
             summary="Create an API key (the secret is shown once)")
async def create_api_key(body: schemas.ApiKeyCreate, ctx: Annotated[Ctx, Depends(write_ctx)]) -> JSONResponse:
    key, secret = await ApiKeyService().issue(ctx, body.name, body.user_id)
    return JSONResponse({**api_key_resource.serialize(key), "key": secret}, status_code=201)


@router.post("/organization/", response_model=schemas.OrganizationCreated, status_code=201, tags=["Organization"],
             summary="Create a workspace; you become its admin and get a key for it")
async def create_organization(body: schemas.OrganizationCreate, ctx: Annotated[Ctx, Depends(write_ctx)]) -> JSONResponse:
    user = await ctx.session.get(User, ctx.user_id)
    org, _, key, secret = await create_workspace(ctx.session, body.name, user.email)
    return JSONResponse({**schemas.OrganizationRead.model_validate(org).model_dump(mode="json"),
                         "api_key": {**api_key_resource.serialize(key), "key": secret}}, status_code=201)


@router.get("/organization/{id}/", response_model=schemas.OrganizationRead, tags=["Organization"],
            summary="Get this key's workspace")
async def get_organization(id: str, params: Annotated[FieldsParam, Query()],
                           ctx: Annotated[Ctx, Depends(read_ctx)]) -> JSONResponse:
    org = await _this_organization(ctx, id)
    return JSONResponse(_shape(org, params.fields))


@router.put("/organization/{id}/", response_model=schemas.OrganizationRead, tags=["Organization"],
            summary="Rename this key's workspace or set its time zone (admins)")
async def update_organization(id: str, body: schemas.OrganizationUpdate, params: Annotated[FieldsParam, Query()],
                              ctx: Annotated[Ctx, Depends(write_ctx)]) -> JSONResponse:
    org = await _this_organization(ctx, id)
    ctx.require_admin()
    for name, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(org, name, value)
    await ctx.session.flush()
    return JSONResponse(_shape(org, params.fields))


async def _this_organization(ctx: Ctx, organization_id: str) -> Organization:
    # A key acts in one workspace; any other ID reads as unknown.
    org = await ctx.session.get(Organization, organization_id) if organization_id == ctx.org_id else None
    if org is None:
        raise not_found("Organization")
    return org


def _shape(org: Organization, fields: str | None) -> dict:
    data = schemas.OrganizationRead.model_validate(org).model_dump(mode="json")
    wanted = parse_fields(fields, data)
    return data if wanted is None else {k: v for k, v in data.items() if k in wanted}
