"""Bulk actions: set fields (a status, an owner...) on, or delete, many leads, contacts, opportunities or
tasks at once, or enrol many contacts (or the contacts of many leads) in a sequence, chosen by the list's
filters or by IDs.

``POST /bulk_action/`` checks the request (filters as the list checks them, changes as PUT checks them, an
enrolment's sequence, account and assignee as POST /sequence_subscription/ checks them), counts the records
it covers (those matching now: up to the newest ID, so records created meanwhile are left alone) and
enqueues the ``bulk.run`` job in the same transaction. The job goes through them in ID order, ``BATCH`` at a
time, each through the resource's own update, delete or enrolment (so each is recorded as a single edit
would be: status-change activities, events, search text, a subscription's ``enrolled`` history), each in a
savepoint (a record that fails is listed with why; the others go on), and commits each batch with its
progress (``cursor``), so a crashed job resumes after the last batch committed and never applies a change
twice.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select, update

from geniziz.api.context import Ctx
from geniziz.api.errors import APIError, field_error, validation_field_errors
from geniziz.api.resource import REGISTRY, CrudService
from geniziz.contacts.models import Contact
from geniziz.db import utcnow
from geniziz.flows.exports import check_filters
from geniziz.flows.models import BulkAction
from geniziz.sequences.service import SubscriptionService
from geniziz.worker.registry import enqueue

BULK_JOB = "bulk.run"
BATCH = 100
RESOURCES = ("lead", "contact", "opportunity", "task")
MAX_FAILURES = 1000
ENROL_FIELDS = ("sequence_id", "sender_account_id", "calls_assigned_to", "start_date")


def _matching(ctx: Ctx, record: BulkAction) -> Any:
    resource = REGISTRY[record.resource]
    model = resource.service.model
    query = select(model.id)
    if record.ids is not None:
        query = query.where(model.id.in_(record.ids))
    else:
        query = resource.service.filter(ctx, query, check_filters(record.resource, record.filters))
    if record.action == "enrol" and record.resource == "lead":  # each contact of the leads chosen
        query, model = select(Contact.id).where(Contact.lead_id.in_(query)), Contact
    return query, model


def _changes(resource: str, changes: dict[str, Any]) -> Any:
    schema = REGISTRY[resource].update_schema
    try:
        body = schema.model_validate(changes)  # type: ignore[union-attr]
    except ValidationError as exc:
        fields = {f"changes.{name}": why for name, why in validation_field_errors(list(exc.errors())).items()}
        raise APIError(400, "Invalid changes: " + ", ".join(sorted(fields)), fields) from None
    nulls = {f"changes.{name}": "may not be null" for name in getattr(body, "not_nullable", ())
             if name in changes and changes[name] is None}
    if nulls:
        raise APIError(400, "Invalid changes: " + ", ".join(sorted(nulls)), nulls)
    return body


async def _check_enrolment(ctx: Ctx, data: dict[str, Any]) -> None:
    """What every enrolment would refuse whatever the contact, refused once up front (a 400, not a failure
    per contact); the job's enrolments still go through the whole single-enrolment check."""
    if data["resource"] not in ("contact", "lead"):
        raise field_error("resource", "enrol takes contacts, or leads (each of their contacts)")
    if not data.get("sequence_id"):
        raise field_error("sequence_id", "required: the sequence to enrol in")
    # The account the single enrolment would pick, checked with the caller's rights (the job acts as an
    # admin) and kept, so every enrolment of the action sends through the same one.
    _sequence, account, _ = await SubscriptionService().check_enrolment(
        ctx, {name: data.get(name) for name in ENROL_FIELDS[:3]})
    data["sender_account_id"] = account.id if account else None


class BulkActionService(CrudService[BulkAction]):
    model = BulkAction
    prefix = "bulk"
    label = "bulk action"

    async def create(self, ctx: Ctx, data: dict[str, Any]) -> BulkAction:
        if data["action"] == "delete":
            ctx.require_destructive("A bulk delete")
        if data["action"] == "update":
            if not data["changes"]:
                raise field_error("changes", "required: the fields to set")
            _changes(data["resource"], data["changes"])
        elif data["changes"]:
            raise field_error("changes", "only for action update")
        if data["action"] == "enrol":
            await _check_enrolment(ctx, data)
        else:
            for name in ENROL_FIELDS:
                if data.get(name) is not None:
                    raise field_error(name, "only for action enrol")
        if data.get("ids") is None and not data["filters"] and not data.get("all"):
            raise field_error("filters", "give filters, ids, or all: true for every record")
        record = self.new(ctx)
        for name in ("resource", "action", "filters", "ids", "changes", *ENROL_FIELDS):
            setattr(record, name, data.get(name))
        query, model = _matching(ctx, record)
        record.last_id = await ctx.session.scalar(select(func.max(model.id)).select_from(query.subquery()))
        record.total = await ctx.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        record.status, record.cursor, record.processed, record.succeeded, record.failed = "queued", "", 0, 0, 0
        record.failures = []
        ctx.session.add(record)
        await ctx.session.flush()
        record.job_id = await enqueue(ctx, BULK_JOB, {"bulk_action_id": record.id}, owner=record,
                                      idempotency_key=f"bulk:{record.id}")
        await ctx.session.flush()
        return record


async def run_bulk(ctx: Ctx, bulk_id: str) -> dict[str, Any]:
    record = await ctx.session.get(BulkAction, bulk_id)
    if record is None or record.status in ("succeeded", "failed"):
        return {"bulk_action_id": bulk_id, "status": record.status if record else "gone"}
    record.status = "running"
    await ctx.session.commit()
    resource = REGISTRY[record.resource]
    while record.last_id is not None:
        query, model = _matching(ctx, record)
        ids = list(await ctx.session.scalars(query.where(model.id > record.cursor, model.id <= record.last_id)
                                             .order_by(model.id).limit(BATCH)))
        if not ids:
            break
        done, failures = 0, []
        for record_id in ids:
            try:
                async with ctx.session.begin_nested():
                    if record.action == "delete":
                        await resource.delete(ctx, record_id)
                    elif record.action == "enrol":  # what POST /sequence_subscription/ runs
                        await SubscriptionService().create(ctx, {"contact_id": record_id, **{
                            name: getattr(record, name) for name in ENROL_FIELDS}})
                    else:
                        await resource.update(ctx, record_id, _changes(record.resource, record.changes))
                done += 1
            except APIError as exc:
                failures.append({"id": record_id, "error": exc.message, "field-errors": exc.field_errors})
        cursor = record.cursor
        claimed = await ctx.session.execute(update(BulkAction).where(  # a stalled twin finds its batch done
            BulkAction.id == bulk_id, BulkAction.cursor == cursor).values(cursor=ids[-1])
            .execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            await ctx.session.rollback()
            return {"bulk_action_id": bulk_id, "status": "taken over"}
        record.cursor = ids[-1]
        record.processed += len(ids)
        record.succeeded += done
        record.failed += len(failures)
        record.failures = [*record.failures, *failures][:MAX_FAILURES]
        record.date_updated = utcnow()
        await ctx.session.commit()
        ctx.session.expunge_all()
        record = await ctx.session.get(BulkAction, bulk_id)
        assert record is not None
    record.status, record.date_finished = "succeeded", utcnow()
    return {"bulk_action_id": bulk_id, "processed": record.processed, "succeeded": record.succeeded,
            "failed": record.failed}
