"""Lead actions beyond plain CRUD: the lead score."""

# No `from __future__ import annotations`: FastAPI reads these handlers' annotations at definition time.

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from geniziz.api.context import Ctx, read_ctx
from geniziz.api.resource import FieldsParam
from geniziz.leads.score import LeadScoreRead, lead_score

router = APIRouter()


@router.get("/lead/{id}/score/", response_model=LeadScoreRead, tags=["Lead"], summary="A lead's score (0-100) "
            "and the reasons behind it", operation_id="get_lead_score",
            description="Status, open opportunities' value and confidence, recency and volume of activity, "
                        "inbound replies and overdue tasks; the formula is in the MCP documentation.")
async def get_lead_score(id: str, params: Annotated[FieldsParam, Query()],
                         ctx: Annotated[Ctx, Depends(read_ctx)]) -> JSONResponse:
    return JSONResponse(await lead_score(ctx, id, params.fields))
