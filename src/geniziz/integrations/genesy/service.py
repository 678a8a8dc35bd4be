"""Genesy's tasks and users, translated to and from the task and user resources REST uses, and the
ID and name translation the other Genesy modules share.

Business rules (assignment defaults, the lead of a contact, completion and its event) stay in
TaskService; this module only maps Genesy's names and IDs onto Geniziz's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from geniziz.api.context import Ctx
from geniziz.api.errors import APIError, field_error
from geniziz.api.resource import MAX_LIMIT, REGISTRY, Ref, Resource
from geniziz.identity.refs import MemberRef
from geniziz.contacts.models import Contact
from geniziz.identity.service import user_by_email
from geniziz.integrations.genesy.schemas import TaskIn
from geniziz.leads.models import Lead
from geniziz.tasks.models import TASK_TYPES, Task

# Genesy's name for each task field, so that error messages name what Genesy sent.
TASK_NAMES = {"text": "subject", "due_date": "dueDate", "assigned_to": "ownerId", "contact_id": "contactId",
              "lead_id": "companyId", "is_complete": "completed"}
# Genesy's task type is free text; these spellings mean one of ours, anything else is a to-do.
_TYPE_SYNONYMS = {"todo": "to_do", "to-do": "to_do", "to do": "to_do", "task": "to_do",
                  "phone": "call", "phone_call": "call", "mail": "email", "e-mail": "email"}

_contact_ref, _lead_ref = Ref(Contact, "contact"), Ref(Lead, "lead")


def _tasks() -> Resource:
    # Looked up when called: importing a domain's resources here would register them out of order.
    return REGISTRY["task"]


@contextmanager
def genesy_names(names: dict[str, str], prefix: str = "") -> Iterator[None]:
    """Re-raise the services' field errors under the names Genesy sent (text -> subject, ...)."""
    try:
        yield
    except APIError as exc:
        if not exc.field_errors:
            raise
        # "emails.0.email" -> "email": Genesy sent one value where Geniziz keeps a list.
        fields = {prefix + names.get(name.split(".")[0], name): why for name, why in exc.field_errors.items()}
        raise APIError(exc.status, "Invalid request: " + ", ".join(sorted(fields)), fields) from None


# --- Genesy's IDs -> ours -------------------------------------------------------------------------------
async def resolve_owner(ctx: Ctx, value: str, field: str) -> str:
    """A member's user ID, given their user ID or their email."""
    if await MemberRef().exists(ctx, value):
        return value
    if "@" in value:
        user = await user_by_email(ctx.session, value, create=False)
        if user is not None and await MemberRef().exists(ctx, user.id):
            return user.id
    raise field_error(field, f"No member with ID or email {value} in this workspace")


async def resolve_lead(ctx: Ctx, value: str, field: str) -> str:
    if not await _lead_ref.exists(ctx, value):
        raise field_error(field, f"No lead with ID {value} in this workspace")
    return value


async def contact_or_lead(ctx: Ctx, value: str | None, company_lead: str | None) -> dict[str, Any]:
    """Genesy's contactId, which may name a contact or a lead, as contact_id and lead_id."""
    if not value:
        return {"contact_id": None}
    if await _contact_ref.exists(ctx, value):
        # Without a companyId the service puts the record on the contact's lead; with one, it checks they agree.
        return {"contact_id": value, "lead_id": company_lead}
    if await _lead_ref.exists(ctx, value):
        if company_lead and company_lead != value:
            raise field_error("companyId", "does not match the lead given as contactId")
        return {"contact_id": None, "lead_id": value}
    raise field_error("contactId", f"No contact or lead with ID {value} in this workspace")


# --- tasks ----------------------------------------------------------------------------------------------
def task_type(value: str) -> str:
    key = value.strip().lower()
    return key if key in TASK_TYPES else _TYPE_SYNONYMS.get(key, "to_do")


async def task_data(ctx: Ctx, body: TaskIn) -> dict[str, Any]:
    """The task resource's input for what Genesy sent (only the fields it sent, for a partial update)."""
    sent = body.model_fields_set
    data: dict[str, Any] = {}
    if "subject" in sent:
        data["text"] = body.subject
    if "description" in sent:
        data["description"] = body.description
    if body.type is not None:
        data["type"] = task_type(body.type)
    if "due_date" in sent:
        data["due_date"] = body.due_date or None
    if "owner_id" in sent:
        data["assigned_to"] = await resolve_owner(ctx, body.owner_id, "ownerId") if body.owner_id else None
    if "completed" in sent:
        data["is_complete"] = body.completed
    if "company_id" in sent:
        data["lead_id"] = await resolve_lead(ctx, body.company_id, "companyId") if body.company_id else None
    if "contact_id" in sent:
        data.update(await contact_or_lead(ctx, body.contact_id, data.get("lead_id")))
    return data


def genesy_task(task: dict[str, Any]) -> dict[str, Any]:
    """A task as the REST API serializes it, in Genesy's shape (timestamps stay ISO 8601 with Z)."""
    return {
        "id": task["id"], "subject": task["text"], "description": task["description"], "type": task["type"],
        "ownerId": task["assigned_to"], "dueDate": task["due_date"], "contactId": task["contact_id"],
        "companyId": task["lead_id"], "completed": task["is_complete"], "completedAt": task["date_completed"],
        "createdAt": task["date_created"], "updatedAt": task["date_updated"],
    }


async def get_task(ctx: Ctx, task_id: str) -> dict[str, Any]:
    try:
        # Our IDs are printable ASCII; anything else cannot name a task (nor be sent to the database).
        if task_id.isascii() and task_id.isprintable():
            return genesy_task(await _tasks().get(ctx, task_id))
    except APIError as exc:
        if exc.status != 404:
            raise
    raise APIError(404, "Task not found", detail=f"No task exists with ID: {task_id}")


async def create_task(ctx: Ctx, body: TaskIn) -> dict[str, Any]:
    tasks = _tasks()
    with genesy_names(TASK_NAMES):
        return genesy_task(await tasks.create(ctx, tasks.parse(tasks.create_schema, await task_data(ctx, body))))


async def update_task(ctx: Ctx, task_id: str, body: TaskIn) -> dict[str, Any]:
    await get_task(ctx, task_id)  # an unknown task is a 404 before anything in the body is checked
    tasks = _tasks()
    with genesy_names(TASK_NAMES):
        data = tasks.parse(tasks.update_schema, await task_data(ctx, body))
        return genesy_task(await tasks.update(ctx, task_id, data))


async def _find_tasks(ctx: Ctx, ids: list[str], *, for_update: bool = False) -> list[Task]:
    """This workspace's tasks among ``ids``, in the order asked, each once; other IDs are left out."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return []
    query = _tasks().service.query(ctx).where(Task.id.in_(ids))
    if for_update:  # in ID order, so that two batches over the same tasks cannot deadlock
        query = query.order_by(Task.id).with_for_update(of=Task)
    found = {task.id: task for task in await ctx.session.scalars(query)}
    return [found[i] for i in ids if i in found]


async def get_tasks(ctx: Ctx, ids: list[str]) -> list[dict[str, Any]]:
    return [genesy_task(_tasks().serialize(task)) for task in await _find_tasks(ctx, ids)]


async def complete_tasks(ctx: Ctx, ids: list[str], completed: bool) -> list[dict[str, Any]]:
    """Set ``completed`` on every known task in one transaction: all of them change, or none."""
    tasks = _tasks()
    updated = [await tasks.service.update(ctx, task.id, {"is_complete": completed})
               for task in await _find_tasks(ctx, ids, for_update=True)]
    return [genesy_task(tasks.serialize(task)) for task in updated]


# --- users ----------------------------------------------------------------------------------------------
async def members(ctx: Ctx) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        users, has_more = await REGISTRY["user"].service.list(ctx, {}, MAX_LIMIT, len(out))
        out += [{"id": u.id, "name": u.name or u.email, "email": u.email} for u in users]
        if not has_more:
            return out
