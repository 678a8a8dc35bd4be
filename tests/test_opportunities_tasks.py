"""Opportunities (money, statuses, won dates, line items), tasks and statuses/pipelines."""

from __future__ import annotations

import time

from tests.conftest import Api, member_client
from tests.factories import make_contact, make_lead, make_opportunity, make_task


def opportunity_statuses(api: Api) -> dict[str, str]:
    return {s["type"]: s["id"] for s in api.ok("GET", "/status/opportunity/")["data"]}


def test_spec_create_opportunity_example(api: Api) -> None:
    lead = make_lead(api)
    active = opportunity_statuses(api)["active"]
    body = {"lead_id": lead["id"], "status_id": active, "value": 1200000, "value_period": "annual",
            "confidence": 60, "note": "Evaluating the Scale plan for 40 reps."}
    created = api.create("opportunity", **body)
    assert {k: created[k] for k in body} == body
    assert created["value_formatted"] == "$12,000.00" and created["annualized_value"] == 1200000
    assert created["id"].startswith("oppo_") and created["status_type"] == "active"
    assert created["date_won"] is None and created["owner_id"] == api.user_id
    assert api.ok("GET", f"/opportunity/{created['id']}/") == created
    assert api.ok("GET", "/opportunity/")["data"] == [created]


def test_opportunity_money_and_validation(api: Api) -> None:
    lead = make_lead(api)
    monthly = make_opportunity(api, lead_id=lead["id"], value=49_99, value_period="monthly", value_currency="EUR")
    assert monthly["value_formatted"] == "€49.99" and monthly["annualized_value"] == 59_988
    for body, field in [({"value": -1}, "value"), ({"value": 1.5}, "value"), ({"confidence": 101}, "confidence"),
                        ({"value_period": "weekly"}, "value_period"), ({"value_currency": "dollars"}, "value_currency")]:
        api.bad("POST", "/opportunity/", field, json={"lead_id": lead["id"], **body})
    api.bad("POST", "/opportunity/", "lead_id", json={"value": 1})
    api.bad("POST", "/opportunity/", "status_id", json={"lead_id": lead["id"], "status_id": api.ok("GET", "/status/lead/")["data"][0]["id"]})
    other_lead_contact = make_contact(api)
    api.bad("POST", "/opportunity/", "contact_id", json={"lead_id": lead["id"], "contact_id": other_lead_contact["id"]})


def test_won_date_follows_the_status(api: Api) -> None:
    statuses = opportunity_statuses(api)
    opportunity = make_opportunity(api)
    won = api.ok("PUT", f"/opportunity/{opportunity['id']}/", json={"status_id": statuses["won"]})
    assert won["status_type"] == "won" and won["date_won"] is not None
    again = api.ok("PUT", f"/opportunity/{opportunity['id']}/", json={"note": "signed"})
    assert again["date_won"] == won["date_won"]
    lost = api.ok("PUT", f"/opportunity/{opportunity['id']}/", json={"status_id": statuses["lost"]})
    assert lost["date_won"] is None and lost["status_label"] == "Lost"


def test_opportunity_filters(api: Api) -> None:
    statuses = opportunity_statuses(api)
    member = member_client(api)
    lead = make_lead(api)
    a = make_opportunity(api, lead_id=lead["id"])
    b = make_opportunity(api, status_id=statuses["won"], owner_id=member.user_id)
    pipeline = api.create("pipeline", name="Renewals")
    renewal_status = api.create("status/opportunity", label="Up for renewal", pipeline_id=pipeline["id"])
    c = make_opportunity(api, status_id=renewal_status["id"])
    ids = lambda **params: [row["id"] for row in api.ok("GET", "/opportunity/", params=params)["data"]]  # noqa: E731
    assert ids(lead_id=lead["id"]) == [a["id"]]
    assert ids(status_type="won") == [b["id"]]
    assert ids(status_id=statuses["won"]) == [b["id"]]
    assert ids(owner_id=member.user_id) == [b["id"]]
    assert ids(pipeline_id=pipeline["id"]) == [c["id"]]
    assert c["pipeline_id"] == pipeline["id"]
    api.bad("GET", "/opportunity/", "status_type", params={"status_type": "maybe"})


def test_line_items_set_the_value(api: Api) -> None:
    opportunity = make_opportunity(api, value=5)
    base = f"/opportunity/{opportunity['id']}/line_item/"
    seat = api.ok("POST", base, json={"name": "Seat", "quantity": 40, "unit_price": 25_00})
    setup = api.ok("POST", base, json={"name": "Onboarding", "unit_price": 500_00})
    assert seat["total"] == 1000_00 and setup["quantity"] == 1
    assert api.ok("GET", f"/opportunity/{opportunity['id']}/")["value"] == 1500_00
    assert [i["id"] for i in api.ok("GET", base)["data"]] == [seat["id"], setup["id"]]
    api.bad("PUT", f"/opportunity/{opportunity['id']}/", "value", json={"value": 1})
    api.bad("POST", base, "unit_price", json={"name": "Free?"})
    api.bad("POST", base, "quantity", json={"name": "None", "quantity": 0, "unit_price": 1})
    assert api.ok("DELETE", f"{base}{setup['id']}/") == {}
    assert api.ok("GET", f"/opportunity/{opportunity['id']}/")["value"] == 1000_00
    other = make_opportunity(api)
    api.bad("DELETE", f"/opportunity/{other['id']}/line_item/{seat['id']}/", status=404)
    api.bad("GET", "/opportunity/oppo_0000000000000000000000/line_item/", status=404)


def test_task_lifecycle_and_completion(api: Api) -> None:
    contact = make_contact(api)
    task = api.create("task", contact_id=contact["id"], text="Send proposal", type="email",
                      due_date="2026-02-01T09:00:00Z")
    assert task["lead_id"] == contact["lead_id"]  # the contact's lead
    assert task["assigned_to"] == api.user_id and task["is_complete"] is False and task["date_completed"] is None
    done = api.ok("PUT", f"/task/{task['id']}/", json={"is_complete": True})
    assert done["is_complete"] is True and done["date_completed"] is not None
    time.sleep(0.01)
    still = api.ok("PUT", f"/task/{task['id']}/", json={"is_complete": True, "text": "Sent proposal"})
    assert still["date_completed"] == done["date_completed"]
    reopened = api.ok("PUT", f"/task/{task['id']}/", json={"is_complete": False})
    assert reopened["date_completed"] is None
    api.bad("POST", "/task/", "text", json={"lead_id": contact["lead_id"]})
    api.bad("POST", "/task/", "type", json={"text": "x", "type": "fax"})
    api.bad("POST", "/task/", "due_date", json={"text": "x", "due_date": "next tuesday"})
    api.bad("POST", "/task/", "assigned_to", json={"text": "x", "assigned_to": "user_0000000000000000000000"})
    api.bad("POST", "/task/", "contact_id", json={"text": "x", "lead_id": make_lead(api)["id"], "contact_id": contact["id"]})


def test_task_filters(api: Api) -> None:
    member = member_client(api)
    lead = make_lead(api)
    early = make_task(api, lead_id=lead["id"], due_date="2026-01-10T00:00:00Z")
    late = make_task(api, due_date="2026-03-10T00:00:00Z", assigned_to=member.user_id)
    done = make_task(api, is_complete=True)
    ids = lambda **params: [row["id"] for row in api.ok("GET", "/task/", params=params)["data"]]  # noqa: E731
    assert ids(lead_id=lead["id"]) == [early["id"]]
    assert ids(assigned_to=member.user_id) == [late["id"]]
    assert ids(is_complete="true") == [done["id"]]
    assert set(ids(is_complete="false")) == {early["id"], late["id"]}
    assert ids(due_date__gte="2026-02-01T00:00:00Z") == [late["id"]]
    assert ids(due_date__lte="2026-02-01T00:00:00+01:00") == [early["id"]]
    assert done["date_completed"] is not None
    api.bad("GET", "/task/", "is_complete", params={"is_complete": "perhaps"})
    api.bad("GET", "/task/", "due_date__gte", params={"due_date__gte": "soon"})


def test_statuses_and_pipelines(api: Api) -> None:
    defaults = [s["label"] for s in api.ok("GET", "/status/lead/")["data"]]
    assert defaults == ["Potential", "Bad Fit", "Qualified", "Customer"]
    pipelines = api.ok("GET", "/pipeline/")["data"]
    assert [(p["name"], [(s["label"], s["type"]) for s in p["statuses"]]) for p in pipelines] == [
        ("Sales", [("Active", "active"), ("Won", "won"), ("Lost", "lost")])]
    status = api.create("status/lead", label="Nurture")
    assert api.ok("PUT", f"/status/lead/{status['id']}/", json={"label": "Nurturing"})["label"] == "Nurturing"
    lead = make_lead(api, status_id=status["id"])
    body = api.bad("DELETE", f"/status/lead/{status['id']}/")
    assert "used" in body["error"]
    api.ok("DELETE", f"/lead/{lead['id']}/")
    assert api.ok("DELETE", f"/status/lead/{status['id']}/") == {}
    api.bad("POST", "/status/opportunity/", "type", json={"label": "Maybe", "type": "perhaps"})
    api.bad("POST", "/status/opportunity/", "pipeline_id", json={"label": "X", "pipeline_id": "pipe_0000000000000000000000"})
    opportunity = make_opportunity(api)
    api.bad("DELETE", f"/status/opportunity/{opportunity['status_id']}/")
    api.bad("DELETE", f"/pipeline/{opportunity['pipeline_id']}/")
    empty = api.create("pipeline", name="Empty")
    assert api.ok("DELETE", f"/pipeline/{empty['id']}/") == {}
