"""The Genesy connection's setting in the main API: which header carries the key (admins only)."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import event

from geniziz.api.context import Ctx, read_ctx, write_ctx
from geniziz.api.routing import QuickRouter
from geniziz.identity.models import Organization
from geniziz.integrations.genesy.schemas import GenesySettingsRead, GenesySettingsUpdate
from geniziz.integrations.genesy.settings import BASE_PATH, header_of, with_header

router = QuickRouter(tags=["Integrations"])
PATH = "/integration/genesy/"


def _shape(request: Request, org: Organization) -> dict:
    return GenesySettingsRead(api_key_header=header_of(org.settings), base_path=BASE_PATH,
                              base_url=str(request.base_url).rstrip("/") + BASE_PATH).model_dump()


@router.get(PATH, response_model=GenesySettingsRead, summary="Genesy custom-CRM connection settings (admins)")
async def get_genesy_settings(request: Request, ctx: Annotated[Ctx, Depends(read_ctx)]) -> JSONResponse:
    ctx.require_admin()
    return JSONResponse(_shape(request, await ctx.session.get(Organization, ctx.org_id)))


@router.put(PATH, response_model=GenesySettingsRead,
            summary="Choose the header Genesy sends the API key in (admins)")
async def update_genesy_settings(request: Request, body: GenesySettingsUpdate,
                                 ctx: Annotated[Ctx, Depends(write_ctx)]) -> JSONResponse:
    ctx.require_admin()
    org = await ctx.session.get(Organization, ctx.org_id, with_for_update=True)
    org.settings = with_header(org.settings, body.api_key_header)
    await ctx.session.flush()
    # Once committed, this process sees the change at once (other processes within the cache's TTL).
    event.listen(ctx.session.sync_session, "after_commit",
                 lambda _session: request.app.state.genesy_headers.forget(ctx.org_id), once=True)
    return JSONResponse(_shape(request, org))
