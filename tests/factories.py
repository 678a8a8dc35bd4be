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
    # --- integrations (add below)
}
