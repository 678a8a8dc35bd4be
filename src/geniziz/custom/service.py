"""Custom fields, custom object types and custom objects: the rules.

A field's values live on the records (``custom`` columns), so changing a field's type, its choices or
whether it takes several values, and deleting it, go through the records too, in the same transaction:
values that convert are converted (and counted); if any does not, nothing changes and the 400 says
how many and gives examples. Deleting a field removes its values.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, func, select, type_coerce, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from geniziz.activities.models import Activity
from geniziz.activities.service import record_activity
from geniziz.api.context import Ctx
from geniziz.api.errors import APIError, field_error
from geniziz.api.resource import CrudService, Ref
from geniziz.contacts.models import Contact
from geniziz.contacts.service import lead_of_contact
from geniziz.custom.models import CustomField, CustomObject, CustomObjectType
from geniziz.custom.records import CustomValues
from geniziz.custom.jobs import enqueue_index_sync
from geniziz.custom.values import (MULTIPLE_TYPES, PREFIX, RANGE_TYPES, dialect_of, fields_of, is_set, json_path,
                                   scalar)
from geniziz.leads.models import Lead
from geniziz.opportunities.models import Opportunity

# The records each object type's values live on.
RECORDS: dict[str, type[Any]] = {"lead": Lead, "contact": Contact, "opportunity": Opportunity,
                                  "activity": Activity, "custom_object": CustomObject, "custom_activity": Activity}
EXAMPLES = 3
MAX_INDEXED = 5  # indexed fields per workspace and kind of record (see CustomFieldService._index_budget)


# --- custom fields ------------------------------------------------------------------------------------------
class CustomFieldService(CrudService[CustomField]):
    model = CustomField
    prefix = "cf"
    label = "custom field"

    def __init__(self, object_type: str) -> None:
        self.object_type = object_type
        self.refs = {"custom_object_type_id": Ref(CustomObjectType, "custom object type")} \
            if object_type == "custom_object" else {}

    def base_query(self) -> Select:
        return super().base_query().where(CustomField.object_type == self.object_type)

    async def apply(self, ctx: Ctx, obj: CustomField, data: dict[str, Any], *, creating: bool) -> None:
        if creating:
            obj.object_type = self.object_type
            obj.scope = data.get("custom_object_type_id") or data.get("custom_activity_type_id") or self.object_type
            before = None
        else:
            before = {"type": obj.type, "accepts_multiple": obj.accepts_multiple, "choices": list(obj.choices or []),
                      "indexed": obj.indexed}
        if "choices" in data and data["choices"] is not None:
            data["choices"] = list(dict.fromkeys(data["choices"]))
        if data.get("name"):
            data["name_key"] = data["name"].lower()
            await self._unique_name(ctx, obj, data["name_key"])
        for name in ("accepts_multiple", "required", "indexed"):
            if name in data and data[name] is None:
                data[name] = False
        await super().apply(ctx, obj, data, creating=creating)
        if obj.type != "choices" and not data.get("choices"):
            obj.choices = []  # a field that stops being a choice field drops its choices
        if (obj.type == "choices") != bool(obj.choices):
            raise field_error("choices", "required for type choices, and only for it")
        if obj.accepts_multiple and obj.type not in MULTIPLE_TYPES:
            raise field_error("accepts_multiple", "only choices, user and contact fields take several values")
        if obj.indexed and obj.type not in RANGE_TYPES:
            raise field_error("indexed", "only number, date and datetime fields are indexed (for range filters); "
                                         "send indexed: false with a change to another type")
        if obj.indexed and (before is None or not before["indexed"]):
            await self._index_budget(ctx, obj)
        if before is not None:
            await self._convert(ctx, obj, before)
        index_changes = obj.indexed if before is None else (
            (obj.indexed or before["indexed"]) and (obj.indexed, obj.type) != (before["indexed"], before["type"]))
        if index_changes:  # in this transaction: the job runs once the field's change is committed
            await enqueue_index_sync(ctx, obj)

    @staticmethod
    async def _index_budget(ctx: Ctx, obj: CustomField) -> None:
        """Each index is on the table every workspace shares, and every write of it checks each index's
        predicate: a workspace gets a few per kind of record, for the fields lists filter by range."""
        taken = await ctx.session.scalar(select(func.count()).select_from(CustomField).where(
            CustomField.object_type == obj.object_type, CustomField.indexed.is_(True), CustomField.id != obj.id))
        if taken >= MAX_INDEXED:
            raise field_error("indexed", f"at most {MAX_INDEXED} indexed fields per kind of record; "
                                         "unmark one (indexed: false) first")

    async def _unique_name(self, ctx: Ctx, obj: CustomField, name_key: str) -> None:
        scope = obj.scope
        taken = await ctx.session.scalar(select(CustomField.id).where(
            CustomField.scope == scope, CustomField.name_key == name_key, CustomField.id != obj.id).limit(1))
        if taken:
            raise field_error("name", f"already the name of custom field {taken}")

    # The check above answers a repeat; the unique index answers a race, in a savepoint so the loser
    # gets the same 400.
    async def create(self, ctx: Ctx, data: dict[str, Any]) -> CustomField:
        try:
            async with ctx.session.begin_nested():
                return await super().create(ctx, data)
        except IntegrityError:
            raise field_error("name", "already the name of another custom field") from None

    async def update(self, ctx: Ctx, record_id: str, data: dict[str, Any]) -> CustomField:
        try:
            async with ctx.session.begin_nested():
                return await super().update(ctx, record_id, data)
        except IntegrityError:
            raise field_error("name", "already the name of another custom field") from None

    @staticmethod
    def records(field: CustomField, dialect: str) -> Select:
        """The records that hold a value of the field, locked: a conversion must not race their writers."""
        model = RECORDS[field.object_type]
        query = select(model.id, model.custom).where(is_set(dialect, model.custom, field.id))
        if field.custom_object_type_id:
            query = query.where(CustomObject.custom_object_type_id == field.custom_object_type_id)
        if field.custom_activity_type_id:
            query = query.where(Activity.custom_activity_type_id == field.custom_activity_type_id)
        return query.with_for_update().order_by(model.id)

    async def _convert(self, ctx: Ctx, field: CustomField, before: dict[str, Any]) -> None:
        """Values after a change of type, accepts_multiple or choices: converted, or a 400 if any cannot be."""
        same_shape = before["type"] == field.type and before["accepts_multiple"] == field.accepts_multiple
        if same_shape and set(before["choices"]) <= set(field.choices or []):
            return
        model = RECORDS[field.object_type]
        converted, failed = [], []
        for record_id, custom in (await ctx.session.execute(self.records(field, dialect_of(ctx)))).all():
            old = custom[field.id]
            try:
                new = convert(field, before["type"], old)
            except ValueError as exc:
                failed.append(f"{record_id} ({old!r}: {exc})")
                continue
            if new != old:
                converted.append((record_id, {**custom, field.id: new}))
        if failed:
            why = "; ".join(failed[:EXAMPLES]) + (" ..." if len(failed) > EXAMPLES else "")
            raise APIError(400, f"{len(failed)} records hold values this change cannot keep", {
                "type" if not same_shape else "choices": f"{len(failed)} records hold values that do not fit: {why}"})
        for record_id, custom in converted:
            await ctx.session.execute(update(model).where(model.id == record_id).values(custom=custom)
                                      .execution_options(synchronize_session=False))
        if not same_shape:
            field.values_converted = len(converted)  # type: ignore[attr-defined]

    async def before_delete(self, ctx: Ctx, obj: CustomField) -> None:
        """Its values go with it (else a later field could never be told apart from stale ones)."""
        model = RECORDS[obj.object_type]
        dialect = dialect_of(ctx)
        removed = (type_coerce(model.custom, JSONB).op("-")(obj.id) if dialect == "postgresql"
                   else func.json_remove(model.custom, json_path(obj.id)))
        await ctx.session.execute(update(model).where(is_set(dialect, model.custom, obj.id))
                                  .values(custom=removed).execution_options(synchronize_session=False))
        if obj.indexed:
            await enqueue_index_sync(ctx, obj)  # drops its index once the field is gone


def convert(field: CustomField, old_type: str, value: Any) -> Any:
    """A stored value in the field's new shape, or ValueError."""
    items = value if isinstance(value, list) else [value]
    if not field.accepts_multiple and len(items) > 1:
        raise ValueError("holds several values")
    out = [_convert_one(field, old_type, item) for item in items]
    return out if field.accepts_multiple else out[0]


def _convert_one(field: CustomField, old_type: str, value: Any) -> Any:
    if field.type == old_type or (field.type, old_type) in {("text", "url"), ("text", "choices")}:
        return scalar(field, value)
    if field.type in ("user", "contact"):
        raise ValueError(f"cannot become a {field.type}")
    if field.type == "text":
        return scalar(field, ("true" if value else "false") if isinstance(value, bool) else str(value))
    if field.type == "number" and isinstance(value, str):
        try:
            number = float(value.strip().replace(",", ""))
        except ValueError:
            raise ValueError("is not a number") from None
        return scalar(field, int(number) if number.is_integer() else number)
    if field.type == "boolean" and isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
        return value.strip().lower() in ("true", "yes")
    if field.type == "date" and isinstance(value, str) and old_type == "datetime":
        return value[:10]
    return scalar(field, value)


# --- custom object types ---------------------------------------------------------------------------------------
def api_name_of(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "object"
    return (slug if slug[0].isalpha() else f"o_{slug}")[:64]


class CustomObjectTypeService(CrudService[CustomObjectType]):
    model = CustomObjectType
    prefix = "cot"
    label = "custom object type"
    refs = {"link_custom_object_type_id": Ref(CustomObjectType, "custom object type")}

    def load_options(self) -> tuple[Any, ...]:
        return (selectinload(CustomObjectType.fields),)

    async def apply(self, ctx: Ctx, obj: CustomObjectType, data: dict[str, Any], *, creating: bool) -> None:
        if creating:
            data["api_name"] = data.get("api_name") or api_name_of(data["name"])
            data["name_plural"] = data.get("name_plural") or f"{data['name']}s"
        if data.get("api_name"):
            taken = await ctx.session.scalar(select(CustomObjectType.id).where(
                CustomObjectType.api_name == data["api_name"], CustomObjectType.id != obj.id).limit(1))
            if taken:
                raise field_error("api_name", f"already the api_name of custom object type {taken}")
        if data.get("link_custom_object_type_id") and data["link_custom_object_type_id"] == obj.id:
            raise field_error("link_custom_object_type_id", "a type cannot link to itself")
        await super().apply(ctx, obj, data, creating=creating)

    async def create(self, ctx: Ctx, data: dict[str, Any]) -> CustomObjectType:
        try:
            async with ctx.session.begin_nested():
                return await super().create(ctx, data)
        except IntegrityError:
            raise field_error("api_name", "already the api_name of another custom object type") from None

    async def update(self, ctx: Ctx, record_id: str, data: dict[str, Any]) -> CustomObjectType:
        try:
            async with ctx.session.begin_nested():
                return await super().update(ctx, record_id, data)
        except IntegrityError:
            raise field_error("api_name", "already the api_name of another custom object type") from None

    async def before_delete(self, ctx: Ctx, obj: CustomObjectType) -> None:
        count = await ctx.session.scalar(select(func.count()).select_from(CustomObject).where(
            CustomObject.custom_object_type_id == obj.id))
        if count:
            raise APIError(400, f"This custom object type has {count} instances; delete them too with "
                                f"DELETE /custom_object_type/{obj.id}/with_instances/",
                           {"id": f"has {count} instances"})

    async def delete_with_instances(self, ctx: Ctx, type_id: str) -> int:
        """The type and every instance of it (each recorded on its lead's timeline)."""
        await self.get(ctx, type_id, for_update=True)
        instances = CustomObjectService()
        count = 0
        for instance in list(await ctx.session.scalars(select(CustomObject).where(
                CustomObject.custom_object_type_id == type_id).order_by(CustomObject.id).with_for_update())):
            await instances.delete_instance(ctx, instance)
            count += 1
        await self.delete(ctx, type_id)
        return count


# --- custom objects ------------------------------------------------------------------------------------------
class CustomObjectService(CustomValues, CrudService[CustomObject]):
    model = CustomObject
    prefix = "cobj"
    label = "custom object"
    object_type = "custom_object"
    refs = {"custom_object_type_id": Ref(CustomObjectType, "custom object type"), "lead_id": Ref(Lead, "lead"),
            "parent_id": Ref(CustomObject, "custom object")}

    async def custom_fields(self, ctx: Ctx, obj: CustomObject) -> list[CustomField]:
        return await fields_of(ctx, "custom_object", obj.custom_object_type_id)

    async def apply(self, ctx: Ctx, obj: CustomObject, data: dict[str, Any], *, creating: bool) -> None:
        if not creating and data.get("custom_object_type_id", obj.custom_object_type_id) != obj.custom_object_type_id:
            raise field_error("custom_object_type_id", "an instance keeps its type; create a new one instead")
        if creating:
            obj.custom_object_type_id = data["custom_object_type_id"]
        # Share-locked: a concurrent delete of the type (which counts its instances under FOR UPDATE) waits
        # for this write, and one that committed first leaves nothing to find.
        kind = (await ctx.session.scalars(select(CustomObjectType).where(
            CustomObjectType.id == obj.custom_object_type_id).with_for_update(key_share=True))).first()
        if kind is None:
            raise field_error("custom_object_type_id", f"No custom object type with ID {obj.custom_object_type_id} "
                                                       "in this workspace (deleted meanwhile)")
        lead_id = data.get("lead_id", obj.lead_id)
        contact_id = data.get("contact_id", obj.contact_id)
        if "contact_id" in data or "lead_id" in data:
            if contact_id and not kind.link_contact:
                raise field_error("contact_id", f"custom object type {kind.name!r} does not link to contacts")
            lead_id = await lead_of_contact(ctx, contact_id, lead_id)
            if not lead_id:
                raise field_error("lead_id", "required (or a contact_id)")
            data["lead_id"] = lead_id
        parent_id = data.get("parent_id", obj.parent_id)
        if parent_id and ("parent_id" in data or "lead_id" in data):
            parent = await ctx.session.get(CustomObject, parent_id)
            if kind.link_custom_object_type_id is None or parent is None or \
                    parent.custom_object_type_id != kind.link_custom_object_type_id:
                raise field_error("parent_id", "must be an instance of the type's link_custom_object_type_id")
            if parent.lead_id != lead_id:
                raise field_error("parent_id", "is on another lead")
        before = {} if creating else {"name": obj.name, **{PREFIX + k: v for k, v in (obj.custom or {}).items()},
                                      "lead_id": obj.lead_id, "contact_id": obj.contact_id, "parent_id": obj.parent_id}
        await super().apply(ctx, obj, data, creating=creating)
        if not creating:
            after = {"name": obj.name, **{PREFIX + k: v for k, v in (obj.custom or {}).items()},
                     "lead_id": obj.lead_id, "contact_id": obj.contact_id, "parent_id": obj.parent_id}
            changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
            if changed:
                self._record(ctx, obj, "updated", changed)

    async def after_create(self, ctx: Ctx, obj: CustomObject) -> None:
        self._record(ctx, obj, "created")

    async def delete(self, ctx: Ctx, record_id: str) -> None:
        await self.delete_instance(ctx, await self.get(ctx, record_id, for_update=True))

    async def delete_instance(self, ctx: Ctx, obj: CustomObject) -> None:
        self._record(ctx, obj, "deleted")
        await ctx.session.delete(obj)
        await ctx.session.flush()

    @staticmethod
    def _record(ctx: Ctx, obj: CustomObject, action: str, changed: list[str] | None = None) -> None:
        record_activity(ctx, "custom_object", lead_id=obj.lead_id, contact_id=obj.contact_id,
                        custom_object_id=obj.id, custom_object_type_id=obj.custom_object_type_id,
                        custom_object_name=obj.name, action=action, changed=changed or [])
