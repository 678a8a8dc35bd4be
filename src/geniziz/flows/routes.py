"""The one flow route that is not an action: an export's file, streamed (an action answers one JSON body)."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from geniziz.api.context import Ctx, read_ctx
from geniziz.api.errors import APIError
from geniziz.api.routing import QuickRouter
from geniziz.flows.exports import ExportService
from geniziz.flows.models import DataExportChunk

router = QuickRouter()
MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


@router.get("/export/{export_id}/download/", tags=["Export"], summary="Download an export's file",
            response_class=StreamingResponse, responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}})
async def download(export_id: Annotated[str, Path(description="The export's ID.")], request: Request,
                   ctx: Annotated[Ctx, Depends(read_ctx)]) -> StreamingResponse:
    record = await ExportService().get(ctx, export_id)  # 404 outside the workspace
    if record.status != "succeeded":
        raise APIError(409, f"This export is {record.status}; download it once it has succeeded")
    db, org_id = request.app.state.db, ctx.org_id

    async def chunks() -> AsyncIterator[str]:
        seq = 0
        while True:  # one short read per chunk: the request's own unit of work has ended by now
            async with db.unit(org_id) as session:
                content = await session.scalar(select(DataExportChunk.content).where(
                    DataExportChunk.export_id == export_id, DataExportChunk.seq == seq))
            if content is None:
                return
            yield content
            seq += 1

    name = f"{record.resource}-{record.id}.{record.format}"
    return StreamingResponse(chunks(), media_type=MEDIA[record.format],
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})
