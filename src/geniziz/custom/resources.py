"""Custom fields (one resource per object type), custom object types and their instances, and the
timeline entries instances leave on their lead."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from geniziz.activities import schemas as activity_schemas
from geniziz.activities.resources import READ_ONLY, ActivityResource
from geniziz.activities.service import ActivityService
from geniziz.api.context import Ctx
from geniziz.api.errors import field_error
from geniziz.api.resource import Resource, register
from geniziz.custom import jobs  # noqa: F401 - indexed fields' indexes, built by the worker
from geniziz.custom import moves  # noqa: F401 - custom values re-keyed when a lead moves
from geniziz.custom import schemas as s
from geniziz.custom import service
from geniziz.custom.models import CustomField
from geniziz.custom.records import FILTER_DOC, CustomizedResource, describe_field
from geniziz.custom.values import fields_of

OBJECT_TYPES = {"lead": "leads", "contact": "contacts", "opportunity": "opportunities", "activity": "activities"}

for object_type, plural in OBJECT_TYPES.items():
    register(Resource(
        name=f"custom_field/{object_type}", title=f"Custom field ({object_type})",
        service=service.CustomFieldService(object_type), read_schema=s.CustomFieldRead,
        create_schema=s.CustomFieldCreate, update_schema=s.CustomFieldUpdate,
        description=f"The workspace's own fields on {plural}. A value is written and read on the record as "
                    f"custom.<field ID>. Changing the type converts the stored values (or refuses, saying which "
                    f"do not convert); deleting a field deletes its values."))

register(Resource(
    name="custom_field/custom_object", title="Custom field (custom object)",
    service=service.CustomFieldService("custom_object"), read_schema=s.CustomFieldRead,
    create_schema=s.CustomObjectFieldCreate, update_schema=s.CustomObjectFieldUpdate,
    filters=s.CustomObjectFieldFilters,
    description="Fields of custom object types (each belongs to one type). Values are written and read on the "
                "instances as custom.<field ID>."))

register(Resource(
    name="custom_object_type", title="Custom Object Type", service=service.CustomObjectTypeService(),
    read_schema=s.CustomObjectTypeRead, create_schema=s.CustomObjectTypeCreate,
    update_schema=s.CustomObjectTypeUpdate,
    description="Kinds of records a workspace defines (subscriptions, assets, ...), with their fields. Instances "
                "are /custom_object/ records on leads. A type that has instances is deleted with "
                "DELETE /custom_object_type/{id}/with_instances/."))


@dataclass
class CustomObjectResource(CustomizedResource):
    """Instances: each type has its own fields, so filters on them need the type."""

    async def custom_fields_for_list(self, ctx: Ctx, query: BaseModel) -> list[CustomField]:
        type_id = getattr(query, "custom_object_type_id", None)
        if not type_id:
            raise field_error("custom_object_type_id", "required to filter on custom fields (each type has its own)")
        return await fields_of(ctx, "custom_object", type_id)

    async def describe_custom(self, ctx: Ctx) -> dict[str, Any]:
        fields = await fields_of(ctx, "custom_object")
        types = {t: [describe_field(f) for f in fields if f.custom_object_type_id == t]
                 for t in dict.fromkeys(f.custom_object_type_id for f in fields)}
        return {"custom_fields_by_type": types or "(none defined in this workspace)",
                "custom_filters": FILTER_DOC + " Custom filters need custom_object_type_id."}


register(CustomObjectResource(
    name="custom_object", title="Custom Object", service=service.CustomObjectService(),
    read_schema=s.CustomObjectRead, create_schema=s.CustomObjectCreate, update_schema=s.CustomObjectUpdate,
    filters=s.CustomObjectFilters, object_type="custom_object",
    description="Instances of custom object types, each on a lead (deleted with it); every change is recorded on "
                "the lead's timeline (activity/custom_object)."))

register(ActivityResource(
    name="activity/custom_object", title="Custom object activity", service=ActivityService("custom_object"),
    read_schema=s.CustomObjectActivityRead, filters=activity_schemas.ActivityFilters, operations=READ_ONLY,
    description="A custom object on the lead was created, updated or deleted (generated; read-only)."))
# The unified stream shapes these items with their own schema too.
activity_schemas.READ_SCHEMAS.setdefault("custom_object", s.CustomObjectActivityRead)
