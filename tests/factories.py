"""One way to create a record of every resource, for sweeps over the whole API (isolation, fields).

Each factory takes a workspace's client and returns (record_id, parent_id); parent_id is only for
resources nested under another (e.g. line items under an opportunity). Every resource in the
registry must have an entry here: tests/test_isolation.py fails for one that does not.
Domains add theirs in their own section, below the core ones.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from tests.conftest import Api

Factory = Callable[[Api], tuple[str, str | None]]


def make_lead(api: Api, **body: object) -> dict:
    return api.create("lead", **{"name": f"Lead {secrets.token_hex(3)}", **body})


def make_contact(api: Api, **body: object) -> dict:
    lead_id = body.pop("lead_id", None) or make_lead(api)["id"]
    return api.create("contact", lead_id=lead_id, **{"name": "Jane Roe", **body})


def make_opportunity(api: Api, **body: object) -> dict:
    lead_id = body.pop("lead_id", None) or make_lead(api)["id"]
    return api.create("opportunity", lead_id=lead_id, **{"value": 100_00, **body})


def make_task(api: Api, **body: object) -> dict:
    lead_id = body.pop("lead_id", None) or make_lead(api)["id"]
    return api.create("task", lead_id=lead_id, **{"text": "Call back", **body})


def _line_item(api: Api) -> tuple[str, str | None]:
    opportunity = make_opportunity(api)
    item = api.ok("POST", f"/opportunity/{opportunity['id']}/line_item/", json={"name": "Seat", "unit_price": 1000})
    return item["id"], opportunity["id"]


def _membership(api: Api) -> tuple[str, str | None]:
    return api.create("membership", email=f"m-{secrets.token_hex(4)}@example.com")["id"], None


# --- activities --------------------------------------------------------------------------------------
ACTIVITY_DEFAULTS: dict[str, dict[str, object]] = {
    "note": {"note": "Spoke with them"},
    "call": {"duration": 60},
    "email": {"subject": "Hello"},
    "sms": {"text": "Hi there"},
    "meeting": {"title": "Demo", "starts_at": "2026-01-15T09:30:00Z"},
    "channel_message": {"channel": "whatsapp", "text": "Hi"},
}


def make_activity(api: Api, kind: str = "note", **body: object) -> dict:
    """A writable activity of `kind` on `lead_id` (or the contact's lead, or a new lead)."""
    if not body.get("lead_id") and not body.get("contact_id"):
        body["lead_id"] = make_lead(api)["id"]
    return api.ok("POST", f"/activity/{kind}/", json={**ACTIVITY_DEFAULTS.get(kind, {}), **body})


def make_custom_activity_type(api: Api, **body: object) -> dict:
    return api.create("custom_activity_type", **{"name": f"Visit {secrets.token_hex(3)}",
                                                  "fields": [{"name": "rating", "type": "number"}], **body})


def generated(api: Api, kind: str, lead_id: str) -> list[dict]:
    """The generated activities of `kind` on a lead, newest first."""
    return api.ok("GET", f"/activity/{kind}/", params={"lead_id": lead_id})["data"]


def _status_change(api: Api, kind: str) -> tuple[str, str | None]:
    lead = make_lead(api)
    status_id = api.ok("GET", f"/status/{kind}/")["data"][-1]["id"]
    if kind == "lead":
        api.ok("PUT", f"/lead/{lead['id']}/", json={"status_id": status_id})
    else:
        opportunity = make_opportunity(api, lead_id=lead["id"])
        api.ok("PUT", f"/opportunity/{opportunity['id']}/", json={"status_id": status_id})
    return generated(api, f"status_change/{kind}", lead["id"])[0]["id"], None


def _task_completed(api: Api) -> tuple[str, str | None]:
    task = make_task(api)
    api.ok("PUT", f"/task/{task['id']}/", json={"is_complete": True})
    return generated(api, "task_completed", task["lead_id"])[0]["id"], None


def _custom_activity(api: Api) -> tuple[str, str | None]:
    kind = make_custom_activity_type(api)
    return make_activity(api, "custom", custom_activity_type_id=kind["id"], fields={"rating": 5})["id"], None


# --- background jobs -----------------------------------------------------------------------------------
def _job(api: Api) -> tuple[str, str | None]:
    """No API action enqueues a job yet, so the row goes straight into the server's database through the
    worker's own enqueue(), due in a year so that no worker runs it during the sweep."""
    import asyncio
    from datetime import timedelta

    from geniziz.db import Database, utcnow
    from geniziz.worker import enqueue

    async def insert() -> str:
        db = Database(api.database_url)
        try:
            async with db.system_session(write=True) as session:
                return await enqueue(session, "tests.isolation", organization_id=api.org_id,
                                     run_at=utcnow() + timedelta(days=365), owner=("user", api.user_id))
        finally:
            await db.dispose()

    return asyncio.run(insert()), None


FACTORIES: dict[str, Factory] = {
    # --- core
    "lead": lambda api: (make_lead(api)["id"], None),
    "contact": lambda api: (make_contact(api)["id"], None),
    "opportunity": lambda api: (make_opportunity(api)["id"], None),
    "opportunity/line_item": _line_item,
    "task": lambda api: (make_task(api)["id"], None),
    "status/lead": lambda api: (api.create("status/lead", label=f"S {secrets.token_hex(3)}")["id"], None),
    "status/opportunity": lambda api: (api.create("status/opportunity", label="Demo")["id"], None),
    "pipeline": lambda api: (api.create("pipeline", name="Partners")["id"], None),
    "user": lambda api: (api.user_id, None),
    "membership": _membership,
    "api_key": lambda api: (api.create("api_key", name="extra")["id"], None),
    # --- activities (add below)
    "activity": lambda api: (make_activity(api)["id"], None),
    **{f"activity/{kind}": (lambda kind: lambda api: (make_activity(api, kind)["id"], None))(kind)
       for kind in ACTIVITY_DEFAULTS},
    "activity/custom": _custom_activity,
    "activity/emailthread": lambda api: (make_activity(api, "email")["thread_id"], None),
    "activity/created": lambda api: (generated(api, "created", make_lead(api)["id"])[0]["id"], None),
    "activity/status_change/lead": lambda api: _status_change(api, "lead"),
    "activity/status_change/opportunity": lambda api: _status_change(api, "opportunity"),
    "activity/task_completed": _task_completed,
    "custom_activity_type": lambda api: (make_custom_activity_type(api)["id"], None),
    # --- integrations (add below)
    # --- background jobs
    "job": _job,
    # --- messaging
    "connected_account": lambda api: (_smtp().account(api)["id"], None),
    "email_template": lambda api: (api.create("email_template", name="Hello", subject="Hi {{ contact.first_name }}",
                                              body_text="Hello")["id"], None),
    "unsubscribed_email": lambda api: (api.create("unsubscribed_email", email=f"gone{secrets.token_hex(3)}@x.example")
                                       ["id"], None),
    # --- mailing exports
    "mailing_connection": lambda api: (_platforms().connect(api, "mailchimp")["id"], None),
    "mailing_export": lambda api: (_mailing_export(api), None),
}


def _smtp():  # type: ignore[no-untyped-def]
    from tests.smtp_server import shared  # a real SMTP server: accounts are tested when created

    return shared()


# --- custom fields and custom objects ------------------------------------------------------------------
def make_custom_object_type(api: Api, **body: object) -> dict:
    return api.create("custom_object_type", **{"name": f"Thing {secrets.token_hex(3)}", **body})


def make_custom_object(api: Api, **body: object) -> dict:
    kind = body.pop("custom_object_type_id", None) or make_custom_object_type(api)["id"]
    lead = body.pop("lead_id", None) or make_lead(api)["id"]
    return api.create("custom_object", custom_object_type_id=kind, lead_id=lead, name="Instance", **body)


def _custom_object_activity(api: Api) -> tuple[str, str | None]:
    instance = make_custom_object(api)
    return api.ok("GET", f"/activity/custom_object/?lead_id={instance['lead_id']}")["data"][0]["id"], None


FACTORIES.update({
    **{f"custom_field/{kind}": (lambda kind: lambda api: (api.create(
        f"custom_field/{kind}", name=f"F {secrets.token_hex(3)}", type="text")["id"], None))(kind)
       for kind in ("lead", "contact", "opportunity", "activity")},
    "custom_field/custom_object": lambda api: (api.create(
        "custom_field/custom_object", custom_object_type_id=make_custom_object_type(api)["id"],
        name="Plan", type="text")["id"], None),
    "custom_object_type": lambda api: (make_custom_object_type(api)["id"], None),
    "custom_object": lambda api: (make_custom_object(api)["id"], None),
    "activity/custom_object": _custom_object_activity,
})


# --- conversations (messaging)
FACTORIES["conversation"] = lambda api: (api.create("conversation", contact_id=make_contact(api)["id"])["id"], None)

# --- sequences ------------------------------------------------------------------------------------------
def make_sequence(api: Api, **body: object) -> dict:
    """A sequence of one task step an hour after enrolment (no email: no connected account needed)."""
    return api.create("sequence", **{"name": f"Outreach {secrets.token_hex(3)}",
                                     "steps": [{"type": "task", "text": "Research", "delay_seconds": 3600}], **body})


def make_sequence_subscription(api: Api, **body: object) -> dict:
    sequence_id = body.pop("sequence_id", None) or make_sequence(api)["id"]
    contact_id = body.pop("contact_id", None) or make_contact(api)["id"]
    return api.create("sequence_subscription", sequence_id=sequence_id, contact_id=contact_id, **body)


FACTORIES["sequence"] = lambda api: (make_sequence(api)["id"], None)
FACTORIES["sequence_subscription"] = lambda api: (make_sequence_subscription(api)["id"], None)

def _platforms():  # type: ignore[no-untyped-def]
    from tests.mailing_platforms import shared  # local platform doubles: connections are verified when created

    return shared()


def _mailing_export(api: Api) -> str:
    """An export to Klaviyo (the connection factory takes Mailchimp) of an empty audience: done at once, so no
    worker changes it while a test compares snapshots."""
    if not api.ok("GET", "/mailing_connection/", params={"platform": "klaviyo"})["data"]:
        _platforms().connect(api, "klaviyo")
    return api.create("mailing_export", platform="klaviyo", config={"list_id": "XyZ123"},
                      filters={"lead_created_before": "2000-01-01T00:00:00Z"})["id"]

# --- flows (lead merge and move, import and export)
def _lead_merge(api: Api) -> tuple[str, str | None]:
    source, destination = make_lead(api), make_lead(api)
    api.ok("POST", "/lead/merge/", status=200, json={"source": source["id"], "destination": destination["id"]})
    return generated(api, "lead_merge", destination["id"])[0]["id"], None


FACTORIES["activity/lead_merge"] = _lead_merge


def _import(api: Api) -> tuple[str, str | None]:
    """A finished import (on SQLite the server's own worker runs it; on PostgreSQL none does, so it stays
    queued): either way its record no longer changes while a sweep compares snapshots."""
    from tests.conftest import BACKEND, wait_until

    started = api.create("import", content=f"Company\nImported {secrets.token_hex(3)}\n")
    if BACKEND == "sqlite":
        wait_until(lambda: api.ok("GET", f"/import/{started['id']}/")["status"] == "succeeded", what="an import")
    return started["id"], None


FACTORIES["import"] = _import


def _export(api: Api) -> tuple[str, str | None]:
    from tests.conftest import BACKEND, wait_until

    started = api.ok("POST", "/export/", json={"resource": "lead"})
    if BACKEND == "sqlite":
        wait_until(lambda: api.ok("GET", f"/export/{started['id']}/")["status"] == "succeeded", what="an export")
    return started["id"], None


def _bulk_action(api: Api) -> tuple[str, str | None]:
    from tests.conftest import BACKEND, wait_until

    started = api.ok("POST", "/bulk_action/", json={"resource": "task", "action": "update", "ids": [make_task(api)["id"]],
                                                    "changes": {"is_complete": True}})
    if BACKEND == "sqlite":
        wait_until(lambda: api.ok("GET", f"/bulk_action/{started['id']}/")["status"] == "succeeded", what="a bulk action")
    return started["id"], None


FACTORIES["export"] = _export
FACTORIES["bulk_action"] = _bulk_action
