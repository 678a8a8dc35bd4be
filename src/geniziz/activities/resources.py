"""The Activity group: the unified stream, one resource per type, email threads and custom types."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pydantic import BaseModel

from geniziz.activities import (
    handlers,  # noqa: F401 - registers the generated activities' handlers
    service,
)
from geniziz.activities import schemas as s
from geniziz.api.resource import Resource, register
from geniziz.api.context import Ctx
from geniziz.custom.models import CustomField
from geniziz.custom.records import _FIELDS, CustomizedResource
from geniziz.custom.values import fields_of

READ_ONLY = frozenset({"list", "get"})


def _names(*schemas: type[BaseModel]) -> frozenset[str]:
    names = set().union(*(schema.model_fields for schema in schemas))
    return frozenset(names - {"type_"} | {"_type"})


def _by_name(fields: set[str] | None) -> set[str] | None:
    return None if fields is None else {"type_" if name == "_type" else name for name in fields}


@dataclass
class ActivityResource(Resource):
    """A resource whose reads carry `_type` (the field `type_`, dumped by its alias).

    ``per_type``: the unified stream shapes each item with its own type's schema.
    """

    per_type: bool = False

    @cached_property
    def field_names(self) -> frozenset[str]:  # type: ignore[override]
        return _names(*s.READ_SCHEMAS.values()) if self.per_type else _names(self.read_schema)

    def schema_fields(self, schema: type[BaseModel]) -> frozenset[str]:
        return _names(schema)

    def selected_fields(self, raw: str | None, schema: type[BaseModel] | None = None) -> set[str] | None:
        return _by_name(super().selected_fields(raw, schema))

    def serialize(self, obj: Any, fields: set[str] | None = None, schema: type[BaseModel] | None = None) -> dict[str, Any]:
        if schema is None:
            schema = s.READ_SCHEMAS.get(obj.type, s.ActivityRead) if self.per_type else self.read_schema
        return schema.model_validate(obj).model_dump(mode="json", include=fields, by_alias=True)


@dataclass
class CustomizedActivityResource(CustomizedResource, ActivityResource):
    """Activities carry custom field values (geniziz.custom): custom.<field ID> keys, filters."""

    def serialize_all(self, objs: list[Any], fields: set[str] | None = None,
                      schema: type[BaseModel] | None = None) -> list[dict[str, Any]]:
        rows = [ActivityResource.serialize(self, obj, self.dumped(fields), schema) for obj in objs]
        return self.show_values(objs, rows, fields)

    def serialize(self, obj: Any, fields: set[str] | None = None,
                  schema: type[BaseModel] | None = None) -> dict[str, Any]:
        return self.serialize_all([obj], fields, schema)[0]

    async def custom_fields_for_list(self, ctx: Ctx, query: BaseModel) -> list[CustomField]:
        # Custom activities of one type also filter on that type's fields: custom.<field ID or name>.
        own = await super().custom_fields_for_list(ctx, query)
        type_id = getattr(query, "custom_activity_type_id", None)
        return [*own, *await service.type_fields(ctx, type_id)] if type_id else own

    async def describe_custom(self, ctx: Ctx) -> dict[str, Any]:
        described = await super().describe_custom(ctx)
        if self.name == "activity/custom":  # what an agent writes in `fields`, per custom activity type
            by_type: dict[str, list[str]] = {}
            for f in await fields_of(ctx, "custom_activity"):
                kind = f.type + (f" [{'|'.join(f.choices)}]" if f.choices else "")
                by_type.setdefault(f.custom_activity_type_id, []).append(
                    f"fields.{f.name}: {kind}{' (required)' if f.required else ''}")
            described["fields_by_custom_activity_type"] = by_type or "(no custom activity types in this workspace)"
        return described

    def shown_kinds(self) -> set[str]:
        return {*super().shown_kinds(), "custom_activity"}

    def show_values(self, objs: list[Any], rows: list[dict[str, Any]], fields: set[str] | None) -> list[dict[str, Any]]:
        """Custom activities show their type's values by field name as `fields` (stored in `custom` by ID)."""
        if fields is None or "fields" in fields:
            by_type: dict[str, list[CustomField]] = {}
            for field in (_FIELDS.get() or {}).get("custom_activity") or ():
                by_type.setdefault(field.custom_activity_type_id, []).append(field)
            for obj, row in zip(objs, rows, strict=True):
                if obj.type == "custom":
                    stored = obj.custom or {}
                    row["fields"] = {f.name: stored[f.id] for f in by_type.get(obj.custom_activity_type_id, ())
                                     if f.id in stored}
        return super().show_values(objs, rows, fields)


def _typed(name: str, title: str, svc: service.ActivityService, read: type[s.ActivityRead],
           create: type[s.WriteModel] | None = None, update: type[BaseModel] | None = None,
           filters: type[BaseModel] = s.ActivityFilters, description: str = "") -> ActivityResource:
    return register(CustomizedActivityResource(
        object_type="activity", name=f"activity/{name}", title=title, service=svc, read_schema=read,
        create_schema=create, update_schema=update, filters=filters,
        operations=READ_ONLY if create is None else Resource.operations,
        description=description or f"{title} records, newest first (by activity_at)."))


stream = register(CustomizedActivityResource(
    object_type="activity", name="activity", title="Activity", service=service.ActivityService(),
    read_schema=s.ActivityRead, filters=s.StreamFilters, operations=frozenset({"list"}), per_type=True,
    description="The unified timeline: every type of activity, newest first (by activity_at). Each item carries "
                "`_type` and its type's fields. Deleting a lead deletes its activities."))

note = _typed("note", "Note activity", service.NoteService(), s.NoteRead, s.NoteCreate, s.NoteUpdate,
              description="Notes. note_html is sanitized; note (plain text) is derived from it when only it is sent.")
call = _typed("call", "Call activity", service.ActivityService("call"), s.CallRead, s.CallCreate, s.CallUpdate,
              s.CallFilters)
email = _typed("email", "Email activity", service.EmailService(), s.EmailRead, s.EmailCreate, s.EmailUpdate,
               s.EmailFilters, description="Emails, newest first. Each belongs to an email thread. The status "
                                           "a client sets is stored; changes must follow the delivery life cycle.")
sms = _typed("sms", "SMS activity", service.SmsService(), s.SmsRead, s.SmsCreate, s.SmsUpdate, s.SmsFilters)
meeting = _typed("meeting", "Meeting activity", service.MeetingService(), s.MeetingRead, s.MeetingCreate,
                 s.MeetingUpdate, description="Meetings, newest first. activity_at follows starts_at; attendees "
                                              "are matched to contacts by email.")
channel_message = _typed("channel_message", "Channel message activity", service.ActivityService("channel_message"),
                         s.ChannelMessageRead, s.ChannelMessageCreate, s.ChannelMessageUpdate, s.MessageFilters)
custom = _typed("custom", "Custom activity", service.CustomService(), s.CustomRead, s.CustomCreate, s.CustomUpdate,
                s.CustomFilters, description="Activities of a custom activity type; `fields` (values by field name) are checked "
                            "against the type's fields, which are custom fields.")

emailthread = register(ActivityResource(
    name="activity/emailthread", title="Emailthread activity", service=service.EmailThreadService(),
    read_schema=s.EmailThreadRead, detail_schema=s.EmailThreadDetail, filters=s.EmailThreadFilters,
    operations=READ_ONLY,
    description="Emails grouped by thread, latest conversation first. Getting one thread also returns its "
                "`emails`, oldest first."))

# Written by the system when something happens; clients read them (POST, PUT, DELETE answer 405).
created = _typed("created", "Created activity", service.ActivityService("created"), s.CreatedRead,
                 description="A lead or contact was created: by whom and through what (api, mcp, genesy, ...).")
lead_status_change = _typed("status_change/lead", "Lead status change activity",
                            service.ActivityService("status_change/lead"), s.LeadStatusChangeRead)
opportunity_status_change = _typed("status_change/opportunity", "Opportunity status change activity",
                                   service.ActivityService("status_change/opportunity"),
                                   s.OpportunityStatusChangeRead)
task_completed = _typed("task_completed", "Task completed activity", service.ActivityService("task_completed"),
                        s.TaskCompletedRead, description="One per completion of a task. A task without a lead "
                                                         "gives an activity without one.")
lead_merge = _typed("lead_merge", "Lead merge activity", service.ActivityService("lead_merge"), s.LeadMergeRead,
                    description="On the lead another was merged into (POST /lead/merge/): what moved.")

custom_activity_type = register(Resource(
    name="custom_activity_type", title="Custom activity type", service=service.CustomActivityTypeService(),
    read_schema=s.CustomActivityTypeRead, create_schema=s.CustomActivityTypeCreate,
    update_schema=s.CustomActivityTypeUpdate,
    description="Types of custom activities and their fields (custom fields, each with its cf_ ID). Sending "
                "`fields` again keeps the fields of the names sent (a type change converts their values or is "
                "refused), deletes the others with their values and adds the new ones. A type that has "
                "activities cannot be deleted."))
