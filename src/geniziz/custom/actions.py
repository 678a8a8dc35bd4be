"""Custom object types: deleting one together with its instances (a plain DELETE refuses while it has any)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from geniziz.api.action import Action, Args, Scope, register_action
from geniziz.api.context import Ctx
from geniziz.api.schemas import ReadModel
from geniziz.custom.service import CustomObjectTypeService


class DeleteTypeArgs(Args):
    custom_object_type_id: str = Field(description="The custom object type's ID.")


class DeletedType(ReadModel):
    deleted_instances: int


async def _delete(ctx: Ctx, args: DeleteTypeArgs) -> dict[str, Any]:
    count = await CustomObjectTypeService().delete_with_instances(ctx, args.custom_object_type_id)
    return {"deleted_instances": count}


register_action(Action(
    name="delete_custom_object_type_with_instances", method="DELETE",
    path="/custom_object_type/{custom_object_type_id}/with_instances/", input=DeleteTypeArgs, output=DeletedType,
    scope=Scope.WRITE_DESTRUCTIVE, rate_group="write", tag="Custom Object Type", run=_delete,
    title="Delete a custom object type and all its instances",
    description="Each instance's deletion is recorded on its lead's timeline.",
))
