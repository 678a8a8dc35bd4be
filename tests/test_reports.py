"""Reports over a small workspace built by hand, whose every figure is known: the activity metrics per day
(a call at 23:30 in the workspace's zone belongs to that day), the calls funnel, sent emails per template,
the funnel and opportunity funnels, status changes (with records backdated in the database so that the
period boundaries cut through their history), validation, CSV and workspace isolation."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import BACKEND, Api, Server, member_client
from tests.factories import make_lead, make_opportunity

WEEK = {"date_start": "2026-01-05", "date_end": "2026-01-11"}  # Monday to Sunday
TODAY = {"relative_range": "today"}


def call(api: Api, lead_id: str, at: str, direction: str = "outbound", status: str = "completed",
         duration: int = 0, disposition: str | None = None) -> dict:
    body = {"lead_id": lead_id, "activity_at": at, "direction": direction, "status": status, "duration": duration}
    return api.create("activity/call", **body, **({"disposition": disposition} if disposition else {}))


def email(api: Api, lead_id: str, at: str, **body: Any) -> dict:
    return api.create("activity/email", lead_id=lead_id, activity_at=at, subject="Hi", **body)


def set_zone(api: Api, zone: str) -> None:
    assert api.ok("PUT", f"/organization/{api.org_id}/", json={"time_zone": zone})["time_zone"] == zone


def report(api: Api, name: str, **body: Any) -> dict:
    return api.ok("POST", f"/report/{name}/", status=200, json=body)


@pytest.fixture
def calls(api: Api) -> dict[str, Any]:
    """Madrid (UTC+1 in January). Admin: five outbound calls in the week (one at 00:30 local on Monday, one at
    23:30 local on Monday, one at 00:30 local on Tuesday) and one the Sunday before; a member: one inbound,
    one outbound. Emails: two sent with template tmpl_a (one replied in its thread), one with tmpl_b, a draft."""
    set_zone(api, "Europe/Madrid")
    member = member_client(api)
    one, two = make_lead(api)["id"], make_lead(api)["id"]
    call(api, one, "2026-01-05T10:00:00Z", duration=120, disposition="answered")
    call(api, one, "2026-01-05T11:00:00Z", status="no-answer", disposition="no-answer")
    call(api, one, "2026-01-05T22:30:00Z", duration=30)  # 23:30 Monday in Madrid
    call(api, one, "2026-01-05T23:30:00Z", duration=10)  # 00:30 Tuesday in Madrid
    call(api, one, "2026-01-04T23:30:00Z", status="no-answer")  # 00:30 Monday in Madrid: in the week
    call(api, one, "2026-01-04T22:30:00Z", duration=300)  # 23:30 Sunday in Madrid: not in the week
    call(member, one, "2026-01-06T09:00:00Z", direction="inbound", duration=45)
    call(member, one, "2026-01-07T09:00:00Z", duration=90, disposition="answered")
    first = email(api, two, "2026-01-06T10:00:00Z", status="sent", template_id="tmpl_a")
    email(api, two, "2026-01-06T12:00:00Z", direction="inbound", thread_id=first["thread_id"])
    email(api, two, "2026-01-07T10:00:00Z", status="sent", template_id="tmpl_a")
    email(member, one, "2026-01-08T10:00:00Z", status="sent", template_id="tmpl_b")
    email(api, one, "2026-01-08T11:00:00Z", template_id="tmpl_a")  # a draft: not sent
    api.create("activity/note", lead_id=one, note="x", activity_at="2026-01-06T08:00:00Z")
    return {"member": member, "leads": (one, two)}


def test_activity_overview_per_local_day(api: Api, calls: dict[str, Any]) -> None:
    body = report(api, "activity", **WEEK, metrics=["calls.outbound.count", "calls.outbound.duration.sum",
                                                    "emails.sent.count", "emails.received.count", "notes.count",
                                                    "leads.contacted.count"])
    assert body["period"] == {"date_start": "2026-01-05", "date_end": "2026-01-11", "time_zone": "Europe/Madrid"}
    days = {row["date"]: row for row in body["rows"]}
    assert list(days) == [f"2026-01-{d:02d}" for d in range(5, 12)]  # every day, empty ones too
    assert [days[d]["calls.outbound.count"] for d in days] == [4, 1, 1, 0, 0, 0, 0]
    assert [days[d]["calls.outbound.duration.sum"] for d in days] == [150, 10, 90, 0, 0, 0, 0]
    assert [days[d]["emails.sent.count"] for d in days] == [0, 1, 1, 1, 0, 0, 0]
    assert days["2026-01-06"]["emails.received.count"] == 1 and days["2026-01-06"]["notes.count"] == 1
    assert body["totals"] == {"calls.outbound.count": 6, "calls.outbound.duration.sum": 250, "emails.sent.count": 3,
                              "emails.received.count": 1, "notes.count": 1, "leads.contacted.count": 2}
    # Per day a lead counts once on each day it was contacted; over the week, once.
    assert [days[d]["leads.contacted.count"] for d in days] == [1, 2, 2, 1, 0, 0, 0]

    week = report(api, "activity", **WEEK, metrics=["calls.outbound.count"], interval="week")
    assert week["rows"] == [{"date": "2026-01-05", "calls.outbound.count": 6}]
    set_zone(api, "UTC")  # the same calls in UTC days: 23:30Z belongs to Monday, 00:30 local Monday does not
    utc = report(api, "activity", **WEEK, metrics=["calls.outbound.count"])
    assert [row["calls.outbound.count"] for row in utc["rows"]] == [4, 0, 1, 0, 0, 0, 0]


def test_activity_comparison_per_user_and_the_users_filter(api: Api, calls: dict[str, Any]) -> None:
    member = calls["member"]
    metrics = ["calls.outbound.count", "calls.inbound.count", "emails.sent.count"]
    body = report(api, "activity", **WEEK, metrics=metrics, type="comparison")
    rows = {row["user_id"]: row for row in body["rows"]}
    assert set(rows) == {api.user_id, member.user_id} and body["interval"] is None
    assert {k: rows[api.user_id][k] for k in metrics} == {"calls.outbound.count": 5, "calls.inbound.count": 0,
                                                          "emails.sent.count": 2}
    assert {k: rows[member.user_id][k] for k in metrics} == {"calls.outbound.count": 1, "calls.inbound.count": 1,
                                                             "emails.sent.count": 1}
    only = report(api, "activity", **WEEK, metrics=metrics, type="comparison", users=[member.user_id])
    assert [row["user_id"] for row in only["rows"]] == [member.user_id]
    assert only["totals"] == {"calls.outbound.count": 1, "calls.inbound.count": 1, "emails.sent.count": 1}


def test_local_days_across_transitions_at_midnight(api: Api) -> None:
    """Santiago: on 5 April 2026 midnight comes twice (clocks go back at 00:00 to 23:00), on 6 September
    not at all (00:00 jumps to 01:00). Each call falls on its local day, in the summary and in the buckets of
    the distinct contacted leads alike."""
    set_zone(api, "America/Santiago")
    lead = make_lead(api)["id"]
    for at in ("2026-04-05T03:30:00Z", "2026-04-05T04:30:00Z",  # 23:30 on the 4th (the second time), 00:30
               "2026-09-06T03:30:00Z", "2026-09-06T04:30:00Z"):  # 23:30 on the 5th, 01:30 on the 6th
        call(api, lead, at)
    metrics = ["calls.outbound.count", "leads.contacted.count"]
    for period, expected in ((("2026-04-03", "2026-04-06"), [(0, 0), (1, 1), (1, 1), (0, 0)]),
                             (("2026-09-05", "2026-09-06"), [(1, 1), (1, 1)])):
        body = report(api, "activity", date_start=period[0], date_end=period[1], metrics=metrics)
        assert [tuple(r[m] for m in metrics) for r in body["rows"]] == expected, period


def test_calls_funnel(api: Api, calls: dict[str, Any]) -> None:
    member = calls["member"]
    body = report(api, "calls_funnel", **WEEK)
    users = {row["user_id"]: row for row in body["users"]}
    assert users[api.user_id] | {"connect_rate": None} == {
        "user_id": api.user_id, "dialed": 5, "answered": 3, "conversations": 1, "inbound": 0, "duration": 160,
        "connect_rate": None, "statuses": {"completed": 3, "no-answer": 2},
        "dispositions": {"answered": 1, "no-answer": 1, "none": 3}}
    assert users[api.user_id]["connect_rate"] == 0.6
    assert users[member.user_id]["dialed"] == 1 and users[member.user_id]["inbound"] == 1
    assert users[member.user_id]["conversations"] == 1 and users[member.user_id]["duration"] == 135
    total = body["total"]
    assert (total["dialed"], total["answered"], total["conversations"], total["inbound"], total["duration"]) == \
        (6, 4, 2, 1, 295)
    assert total["connect_rate"] == round(4 / 6, 4) and total["statuses"] == {"completed": 5, "no-answer": 2}  # the inbound call too
    assert report(api, "calls_funnel", **WEEK, conversation_seconds=100)["total"]["conversations"] == 1


def test_sent_emails_per_template(api: Api, calls: dict[str, Any]) -> None:
    intro = api.create("email_template", name="Intro", subject="Hello")
    email(api, calls["leads"][0], "2026-01-09T10:00:00Z", status="sent", template_id=intro["id"])
    body = report(api, "sent_emails", **WEEK)
    assert {row["template_id"]: row for row in body["templates"]} == {
        "tmpl_a": {"template_id": "tmpl_a", "template_name": None, "sent": 2, "opened": None, "opened_ratio": None,
                   "replied": 1, "replied_ratio": 0.5},
        "tmpl_b": {"template_id": "tmpl_b", "template_name": None, "sent": 1, "opened": None, "opened_ratio": None,
                   "replied": 0, "replied_ratio": 0.0},
        intro["id"]: {"template_id": intro["id"], "template_name": "Intro", "sent": 1, "opened": None,
                      "opened_ratio": None, "replied": 0, "replied_ratio": 0.0}}
    assert body["templates"][0]["template_id"] == "tmpl_a"  # most sent first
    assert report(api, "sent_emails", date_start="2026-01-10", date_end="2026-01-10")["templates"] == []


@pytest.fixture
def pipeline(api: Api) -> dict[str, Any]:
    """The default pipeline (Active, Won, Lost) plus a Demo stage after Active, and five opportunities:
    O1 stays Active, O2 goes to Demo, O3 Demo then Won, O4 Lost, O5 (the member's) straight to Won."""
    member = member_client(api)
    statuses = {s["label"]: s for s in api.ok("GET", "/status/opportunity/")["data"]}
    pipeline_id = statuses["Active"]["pipeline_id"]
    demo = api.create("status/opportunity", label="Demo", type="active", pipeline_id=pipeline_id)
    ids = {name: s["id"] for name, s in statuses.items()} | {"Demo": demo["id"]}
    lead = make_lead(api)["id"]

    def opportunity(value: int, confidence: int | None, *moves: str, owner: str | None = None) -> str:
        body = {"value": value, "status_id": ids["Active"]} | ({"confidence": confidence} if confidence else {})
        opp = make_opportunity(api, lead_id=lead, owner_id=owner or api.user_id, **body)
        for move in moves:
            api.ok("PUT", f"/opportunity/{opp['id']}/", json={"status_id": ids[move]})
        return opp["id"]

    opportunity(100_000, 50)
    opportunity(200_000, 20, "Demo")
    opportunity(50_000, None, "Demo", "Won")
    opportunity(30_000, None, "Lost")
    opportunity(70_000, None, "Won", owner=member.user_id)
    return {"ids": ids, "pipeline_id": pipeline_id, "member": member}


def test_funnel(api: Api, pipeline: dict[str, Any]) -> None:
    ids = pipeline["ids"]
    body = report(api, "funnel", **TODAY)
    rows = {row["status_label"]: row for row in body["statuses"]}
    assert [row["status_id"] for row in body["statuses"]] == [ids[n] for n in ("Active", "Won", "Lost", "Demo")]
    assert {n: (r["count"], r["value"], r["weighted_value"]) for n, r in rows.items()} == {
        "Active": (1, 100_000, 50_000), "Demo": (1, 200_000, 40_000), "Won": (2, 120_000, 0), "Lost": (1, 30_000, 0)}
    assert body["active"] == {"count": 2, "value": 300_000}
    assert body["won_in_period"] == {"count": 2, "value": 120_000}
    mine = report(api, "funnel", **TODAY, users=[pipeline["member"].user_id])
    assert mine["won_in_period"] == {"count": 1, "value": 70_000} and mine["active"] == {"count": 0, "value": 0}
    assert report(api, "funnel", relative_range="yesterday")["won_in_period"] == {"count": 0, "value": 0}


def test_opportunity_funnels_and_sales(api: Api, pipeline: dict[str, Any]) -> None:
    body = report(api, "opportunity_funnels", **TODAY)
    (funnel,) = body["pipelines"]
    assert funnel["pipeline_id"] == pipeline["pipeline_id"] and funnel["pipeline_name"] == "Sales"
    active, demo = funnel["stages"]
    assert (active["status_label"], active["count"], active["reached"], active["conversion_to_next"],
            active["lost"], active["lost_ratio"], active["value"], active["weighted_value"]) == \
        ("Active", 1, 5, 0.6, 1, 0.2, 100_000, 50_000)
    assert (demo["status_label"], demo["count"], demo["reached"], demo["conversion_to_next"], demo["lost"]) == \
        ("Demo", 1, 3, round(2 / 3, 4), 0)
    assert funnel["won"] == {"count": 2, "value": 120_000} and funnel["lost"] == {"count": 1, "value": 30_000}
    assert funnel["win_rate_by_count"] == round(2 / 3, 4) and funnel["win_rate_by_value"] == 0.8
    assert funnel["average_seconds_to_win"] is not None and funnel["average_seconds_to_win"] >= 0
    # Created yesterday: none.
    assert report(api, "opportunity_funnels", relative_range="yesterday")["pipelines"][0]["stages"][0]["reached"] == 0

    sales = report(api, "sales", **TODAY)
    (month,) = sales["won_by_month"]
    assert month["count"] == 2 and month["value"] == 120_000
    assert sales["stage_conversion"] == body["pipelines"]
    assert sales["workflow_performance"] == []  # no sequences in this workspace
    leader, second = sales["leaderboard"]  # by won value
    assert (leader["user_id"], leader["opportunities.won.value.sum"], leader["opportunities.created.count"]) == \
        (pipeline["member"].user_id, 70_000, 1)
    assert (second["user_id"], second["opportunities.won.value.sum"], second["opportunities.created.count"]) == \
        (api.user_id, 50_000, 4)


def test_average_time_to_advance_per_stage(api: Api, pipeline: dict[str, Any]) -> None:
    """O2 (Active -> Demo) and O3 (Active -> Demo -> Won) with their changes moved to known times: Active is
    left after 1 h (O2) and 5 h (O3): 3 h on average; Demo after 2 h (O3 only)."""
    ids = pipeline["ids"]
    changes = {}
    for change in api.ok("GET", "/activity/status_change/opportunity/", params={"_limit": 200})["data"]:
        changes.setdefault(change["opportunity_id"], []).append(change)
    moved_twice = next(c for c in changes.values() if len(c) == 2)  # O3
    o3 = moved_twice[0]["opportunity_id"]
    o2 = next(oid for oid, c in changes.items() if len(c) == 1 and c[0]["new_status_id"] == ids["Demo"])
    t0 = datetime(2026, 1, 10, 9, tzinfo=UTC)
    for oid in (o2, o3):
        _sql(api, "UPDATE opportunity SET date_created = :at WHERE id = :id", at=t0, id=oid)
    (to_demo,) = changes[o2]
    _sql(api, "UPDATE activity SET activity_at = :at WHERE id = :id", at=t0 + timedelta(hours=1), id=to_demo["id"])
    for change, hours in zip(sorted(moved_twice, key=lambda c: c["id"]), (5, 7)):
        _sql(api, "UPDATE activity SET activity_at = :at WHERE id = :id", at=t0 + timedelta(hours=hours),
             id=change["id"])
    (funnel,) = report(api, "opportunity_funnels", date_start="2026-01-01", date_end="2026-01-31")["pipelines"]
    active, demo = funnel["stages"]
    assert (active["average_seconds_to_advance"], demo["average_seconds_to_advance"]) == (3 * 3600.0, 2 * 3600.0)
    assert (active["reached"], demo["reached"]) == (2, 2)


def test_sales_forecast_by_expected_close_month(api: Api) -> None:
    lead = make_lead(api)["id"]
    make_opportunity(api, lead_id=lead, value=10_000, confidence=50, expected_close_date="2026-02-10")
    make_opportunity(api, lead_id=lead, value=30_000, confidence=10, expected_close_date="2026-02-20")
    make_opportunity(api, lead_id=lead, value=99_000, expected_close_date="2026-05-01")  # outside
    body = report(api, "sales", date_start="2026-01-01", date_end="2026-03-31")
    assert body["forecast"] == [
        {"month": "2026-01-01", "count": 0, "value": 0, "weighted_value": 0},
        {"month": "2026-02-01", "count": 2, "value": 40_000, "weighted_value": 8_000},
        {"month": "2026-03-01", "count": 0, "value": 0, "weighted_value": 0}]


def _sql(api: Api, statement: str, **params: Any) -> None:
    async def run() -> None:
        engine = create_async_engine(api.database_url)
        async with engine.begin() as conn:
            await conn.execute(text(statement), params)
        await engine.dispose()

    asyncio.run(run())


def test_lead_status_changes_across_the_period_boundaries(api: Api) -> None:
    """Two leads created on 1 January in Potential; one moved to Qualified on 3 January and to Customer today."""
    statuses = {s["label"]: s["id"] for s in api.ok("GET", "/status/lead/")["data"]}
    moved, stayed = make_lead(api), make_lead(api)
    api.ok("PUT", f"/lead/{moved['id']}/", json={"status_id": statuses["Qualified"]})
    api.ok("PUT", f"/lead/{moved['id']}/", json={"status_id": statuses["Customer"]})
    first = min(a["id"] for a in api.ok("GET", "/activity/status_change/lead/")["data"])
    jan1, jan3 = datetime(2026, 1, 1, 12, tzinfo=UTC), datetime(2026, 1, 3, 12, tzinfo=UTC)
    for lead in (moved, stayed):
        _sql(api, "UPDATE lead SET date_created = :at WHERE id = :id", at=jan1, id=lead["id"])
    _sql(api, "UPDATE activity SET activity_at = :at WHERE id = :id", at=jan3, id=first)

    def figures(**period: Any) -> dict[str, tuple[int, ...]]:
        body = report(api, "status_change/lead", **period)
        return {r["status_label"]: (r["started_with"], r["entered"], r["left"], r["created"], r["ended_with"])
                for r in body["statuses"] if any((r["started_with"], r["entered"], r["left"], r["ended_with"]))}

    assert figures(date_start="2026-01-02", date_end="2026-01-04") == {
        "Potential": (2, 0, 1, 0, 1), "Qualified": (0, 1, 0, 0, 1)}
    assert figures(date_start="2025-12-01", date_end="2026-01-04") == {
        "Potential": (0, 0, 1, 2, 1), "Qualified": (0, 1, 0, 0, 1)}  # created in the period
    assert figures(**TODAY) == {"Potential": (1, 0, 0, 0, 1), "Qualified": (1, 0, 1, 0, 0),
                                "Customer": (0, 1, 0, 0, 1)}
    body = report(api, "status_change/lead", **TODAY)
    assert body["transitions"] == [
        {"from_status_id": statuses["Qualified"], "to_status_id": statuses["Customer"], "count": 1}]
    for row in body["statuses"]:
        assert row["ended_with"] == row["started_with"] + row["gained"] - row["lost"]


def test_opportunity_status_changes(api: Api, pipeline: dict[str, Any]) -> None:
    body = report(api, "status_change/opportunity", **TODAY, pipeline_id=pipeline["pipeline_id"])
    rows = {r["status_label"]: (r["started_with"], r["entered"], r["left"], r["created"], r["ended_with"])
            for r in body["statuses"]}
    assert rows == {"Active": (0, 0, 4, 5, 1), "Won": (0, 2, 0, 0, 2), "Lost": (0, 1, 0, 0, 1),
                    "Demo": (0, 2, 1, 0, 1)}
    ids = pipeline["ids"]
    assert {(t["from_status_id"], t["to_status_id"]): t["count"] for t in body["transitions"]} == {
        (ids["Active"], ids["Demo"]): 2, (ids["Active"], ids["Won"]): 1, (ids["Active"], ids["Lost"]): 1,
        (ids["Demo"], ids["Won"]): 1}
    tomorrow = (date.today() + timedelta(days=1)).isoformat()  # everything before: started = ended = now
    later = report(api, "status_change/opportunity", date_start=tomorrow, date_end=tomorrow)
    assert {r["status_label"]: (r["started_with"], r["ended_with"]) for r in later["statuses"]} == {
        "Active": (1, 1), "Won": (2, 2), "Lost": (1, 1), "Demo": (1, 1)}


def test_the_metric_catalog_is_a_list(api: Api) -> None:
    body = api.ok("GET", "/report/activity/")
    keys = [m["key"] for m in body["data"]]
    assert {"calls.outbound.count", "emails.sent.count", "opportunities.won.value.sum",
            "tasks.completed.count"} <= set(keys) and body["has_more"] is False
    page = api.ok("GET", "/report/activity/", params={"_limit": 2, "_skip": 1, "_fields": "key"})
    assert page == {"data": [{"key": keys[1]}, {"key": keys[2]}], "has_more": True}
    api.bad("GET", "/report/activity/", "_limit", params={"_limit": 0})
    api.bad("GET", "/report/activity/", "_fields", params={"_fields": "nope"})


def test_csv_when_asked(api: Api, calls: dict[str, Any]) -> None:
    response = api.post("/report/activity/", json={**WEEK, "metrics": ["calls.outbound.count"]},
                        headers={"Accept": "text/csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows[0] == {"date": "2026-01-05", "calls.outbound.count": "4"} and len(rows) == 7
    funnel = api.post("/report/calls_funnel/", json=WEEK, headers={"Accept": "text/csv"})
    lines = list(csv.DictReader(io.StringIO(funnel.text)))
    assert [line["dialed"] for line in lines] == ["5", "1", "6"]  # each user, then the total
    for name in ("funnel", "opportunity_funnels", "sales", "status_change/lead", "status_change/opportunity",
                 "sent_emails"):
        answer = api.post(f"/report/{name}/", json=WEEK, headers={"Accept": "text/csv"})
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv"), name
    assert api.get("/report/activity/", headers={"Accept": "text/csv"}).text.startswith("key,name,description")
    assert api.post("/report/funnel/", json=WEEK).headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(("body", "field"), [
    ({}, "date_start"),
    ({"date_start": "2026-01-05"}, "date_end"),
    ({"date_start": "2026-01-05", "date_end": "2026-01-04"}, "date_end"),
    ({"date_start": "2000-01-01", "date_end": "2026-01-04"}, "date_end"),
    ({"date_start": "2026-13-01", "date_end": "2026-01-04"}, "date_start"),
    ({**TODAY, "date_start": "2026-01-05"}, "relative_range"),
    ({"relative_range": "next_century"}, "relative_range"),
    ({**TODAY, "metrics": ["calls.nope"]}, "metrics"),
    ({**TODAY, "type": "pie"}, "type"),
    ({**TODAY, "interval": "hour"}, "interval"),
    ({**TODAY, "users": ["user_" + "0" * 22]}, "users"),
    ({**TODAY, "users": "me"}, "users"),
    ({**TODAY, "users": ["a\u0000"]}, "users"),  # was a 500 on PostgreSQL (a NUL in a query parameter)
    ({**TODAY, "colour": "red"}, "colour"),
])
def test_bad_bodies_name_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    api.bad("POST", "/report/activity/", field, json=body)


def test_other_reports_validate_too(api: Api) -> None:
    api.bad("POST", "/report/funnel/", "pipeline_id", json={**TODAY, "pipeline_id": "pipe_" + "0" * 22})
    api.bad("POST", "/report/status_change/lead/", "pipeline_id", json={**TODAY, "pipeline_id": "x"})
    api.bad("POST", "/report/calls_funnel/", "conversation_seconds", json={**TODAY, "conversation_seconds": -1})
    api.bad("POST", "/report/opportunity_funnels/", "users", json={**TODAY, "users": ["a\u0000"]})
    api.bad("POST", "/report/sales/", "date_start", json={})
    api.bad("PUT", f"/organization/{api.org_id}/", "time_zone", json={"time_zone": "Mars/Olympus"})
    assert api.ok("GET", f"/organization/{api.org_id}/")["time_zone"] == "UTC"


def test_another_workspace_sees_nothing(api: Api, other: Api, calls: dict[str, Any]) -> None:
    body = report(other, "activity", **WEEK, type="comparison")
    assert all(value == 0 for value in body["totals"].values())
    assert [row["user_id"] for row in body["rows"]] == [other.user_id]
    assert report(other, "sent_emails", **WEEK)["templates"] == []
    assert report(other, "calls_funnel", **WEEK)["users"] == []
    other.bad("POST", "/report/activity/", "users", json={**WEEK, "users": [api.user_id]})


# --- the summaries follow every change (on PostgreSQL the activity metrics read activity_day) ---------------
CALLS = ["calls.outbound.count", "calls.outbound.duration.sum", "calls.inbound.count"]


def per_day(api: Api, **period: Any) -> list[tuple[int, int, int]]:
    body = report(api, "activity", **(period or WEEK), metrics=CALLS)
    return [tuple(row[m] for m in CALLS) for row in body["rows"]]  # type: ignore[misc]


def test_activity_metrics_follow_updates_and_deletes(api: Api) -> None:
    set_zone(api, "Europe/Madrid")
    lead, gone = make_lead(api)["id"], make_lead(api)["id"]
    first = call(api, lead, "2026-01-05T10:00:00Z", duration=120)
    second = call(api, lead, "2026-01-05T22:30:00Z", duration=30)  # 23:30 Monday in Madrid
    call(api, gone, "2026-01-06T10:00:00Z", duration=60)
    empty = [(0, 0, 0)] * 5
    assert per_day(api) == [(2, 150, 0), (1, 60, 0), *empty]

    api.ok("PUT", f"/activity/call/{first['id']}/", json={"duration": 200})  # a call's duration changed
    assert per_day(api) == [(2, 230, 0), (1, 60, 0), *empty]
    api.ok("PUT", f"/activity/call/{second['id']}/", json={"activity_at": "2026-01-07T20:00:00Z"})  # Wednesday
    assert per_day(api) == [(1, 200, 0), (1, 60, 0), (1, 30, 0), *empty[:4]]
    api.ok("PUT", f"/activity/call/{second['id']}/", json={"direction": "inbound"})
    assert per_day(api) == [(1, 200, 0), (1, 60, 0), (0, 0, 1), *empty[:4]]
    api.ok("DELETE", f"/activity/call/{first['id']}/")  # a deleted call leaves the metrics
    assert per_day(api) == [(0, 0, 0), (1, 60, 0), (0, 0, 1), *empty[:4]]
    api.ok("DELETE", f"/lead/{gone}/")  # and so do a deleted lead's calls
    assert per_day(api) == [(0, 0, 0), (0, 0, 0), (0, 0, 1), *empty[:4]]

    member = member_client(api)  # another author: the comparison moves the call to them
    api.ok("PUT", f"/activity/call/{second['id']}/", json={"user_id": member.user_id, "direction": "outbound"})
    rows = {r["user_id"]: r["calls.outbound.count"] for r in
            report(api, "activity", **WEEK, metrics=CALLS, type="comparison")["rows"]}
    assert rows == {api.user_id: 0, member.user_id: 1}
    set_zone(api, "Asia/Tokyo")  # 21:00 Wednesday in Madrid is 05:00 Thursday in Tokyo: the days follow the zone
    assert per_day(api) == [(0, 0, 0)] * 3 + [(1, 30, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0)]


def test_summaries_never_mix_workspaces(api: Api, other: Api) -> None:
    """Two workspaces with calls on the same day by their own users: each sees its own, in its own zone."""
    set_zone(api, "Europe/Madrid")
    call(api, make_lead(api)["id"], "2026-01-05T22:30:00Z", duration=30)  # Monday in Madrid
    call(other, make_lead(other)["id"], "2026-01-05T22:30:00Z", duration=50)  # Monday in UTC
    call(other, make_lead(other)["id"], "2026-01-05T23:30:00Z", duration=70)  # Tuesday in Madrid, Monday in UTC
    assert per_day(api)[:2] == [(1, 30, 0), (0, 0, 0)]
    assert per_day(other)[:2] == [(2, 120, 0), (0, 0, 0)]
    body = report(other, "activity", **WEEK, metrics=CALLS, type="comparison")
    assert [(r["user_id"], r["calls.outbound.count"]) for r in body["rows"]] == [(other.user_id, 2)]


def test_an_opportunity_moved_back_counts_where_it_went(api: Api, pipeline: dict[str, Any]) -> None:
    """O2 (Demo) goes back to Active: it still reached Demo; the status changes show both moves."""
    ids = pipeline["ids"]
    demo = [o for o in api.ok("GET", "/opportunity/", params={"_limit": 200})["data"]
            if o["status_id"] == ids["Demo"]]
    (o2,) = demo
    api.ok("PUT", f"/opportunity/{o2['id']}/", json={"status_id": ids["Active"]})
    (funnel,) = report(api, "opportunity_funnels", **TODAY)["pipelines"]
    active, demo_stage = funnel["stages"]
    assert (active["count"], active["reached"], demo_stage["count"], demo_stage["reached"]) == (2, 5, 0, 3)
    body = report(api, "status_change/opportunity", **TODAY)
    rows = {r["status_label"]: (r["started_with"], r["entered"], r["left"], r["created"], r["ended_with"])
            for r in body["statuses"]}
    assert rows == {"Active": (0, 1, 4, 5, 2), "Won": (0, 2, 0, 0, 2), "Lost": (0, 1, 0, 0, 1),
                    "Demo": (0, 2, 2, 0, 0)}
    assert {(t["from_status_id"], t["to_status_id"]): t["count"] for t in body["transitions"]}[
        (ids["Demo"], ids["Active"])] == 1


def test_a_moved_lead_takes_its_metrics_and_status_changes_along(api: Api, other: Api) -> None:
    """A lead moved to another workspace: its call and its opportunity's status change count there, not here."""
    email = api.ok("GET", f"/user/{api.user_id}/")["email"]
    other.ok("POST", "/membership/", json={"email": email, "role": "admin"})  # may move leads into it
    lead = make_lead(api)["id"]
    call(api, lead, "2026-01-05T10:00:00Z", duration=40)
    opportunity = make_opportunity(api, lead_id=lead)
    won = next(s for s in api.ok("GET", "/status/opportunity/")["data"] if s["type"] == "won")
    api.ok("PUT", f"/opportunity/{opportunity['id']}/", json={"status_id": won["id"]})
    moves = report(api, "status_change/opportunity", **TODAY)["transitions"]
    assert [t["count"] for t in moves] == [1]

    api.ok("POST", f"/lead/{lead}/move/", status=200, json={"target_organization_id": other.org_id})
    assert per_day(api)[0] == (0, 0, 0) and per_day(other)[0] == (1, 40, 0)
    assert report(api, "status_change/opportunity", **TODAY)["transitions"] == []
    assert [t["count"] for t in report(other, "status_change/opportunity", **TODAY)["transitions"]] == [1]


# --- each status change keeps its opportunity's previous change (0023): the funnels' time to advance --------
def _rows(api: Api, statement: str) -> list[tuple[Any, ...]]:
    async def run() -> list[tuple[Any, ...]]:
        engine = create_async_engine(api.database_url)
        async with engine.connect() as conn:
            rows = [tuple(r) for r in await conn.execute(text(statement))]
        await engine.dispose()
        return rows

    return asyncio.run(run())


def stored_previous_changes_agree(api: Api, other: Api) -> int:
    """Every change's previous_at is what a window over its opportunity's changes gives now (in both
    workspaces: a lead move rewrites them in the other); how many changes they have."""
    rows = _rows(api, "SELECT c.id, c.previous_at, w.live FROM opportunity_change c JOIN (SELECT id, max(at) OVER ("
                      "PARTITION BY organization_id, opportunity_id ORDER BY at, id ROWS BETWEEN UNBOUNDED PRECEDING "
                      f"AND 1 PRECEDING) AS live FROM opportunity_change) w ON w.id = c.id "
                      f"WHERE c.organization_id IN ('{api.org_id}', '{other.org_id}')")
    assert [(i, stored) for i, stored, live in rows if stored != live] == []
    return len(rows)


def test_stage_entry_times_follow_every_change(api: Api, other: Api, pipeline: dict[str, Any]) -> None:
    """O2 (Active -> Demo) and O3 (Active -> Demo -> Won) at known times, then their changes moved, deleted,
    added, and a lead moved away: the stored times stay what a window over the changes says, and the time to
    advance follows (from the previous change, else the creation)."""
    ids = pipeline["ids"]
    changes: dict[str, list[dict]] = {}
    for change in api.ok("GET", "/activity/status_change/opportunity/", params={"_limit": 200})["data"]:
        changes.setdefault(change["opportunity_id"], []).append(change)
    o3, (to_demo_3, to_won_3) = next((o, sorted(c, key=lambda c: c["id"])) for o, c in changes.items() if len(c) == 2)
    o2 = next(o for o, c in changes.items() if len(c) == 1 and c[0]["new_status_id"] == ids["Demo"])
    assert stored_previous_changes_agree(api, other) == 5
    t0 = datetime(2026, 1, 10, 9, tzinfo=UTC)

    def at(activity_id: str, hours: float) -> None:
        _sql(api, "UPDATE activity SET activity_at = :at WHERE id = :id", at=t0 + timedelta(hours=hours),
             id=activity_id)

    def advance() -> tuple[float | None, float | None]:
        (funnel,) = report(api, "opportunity_funnels", date_start="2026-01-01", date_end="2026-01-31")["pipelines"]
        return tuple(stage["average_seconds_to_advance"] for stage in funnel["stages"])  # type: ignore[return-value]

    for oid in (o2, o3):
        _sql(api, "UPDATE opportunity SET date_created = :at WHERE id = :id", at=t0, id=oid)
    at(changes[o2][0]["id"], 1)
    at(to_demo_3["id"], 5)
    at(to_won_3["id"], 7)
    assert advance() == (3 * 3600.0, 2 * 3600.0)  # Active: 1 h and 5 h; Demo: 2 h
    at(to_won_3["id"], 3)  # O3 won before its demo: Demo -> Won after 3 h from creation, Active -> Demo 2 h later
    assert stored_previous_changes_agree(api, other) == 5
    assert advance() == (1.5 * 3600.0, 3 * 3600.0)
    at(to_won_3["id"], 5)  # a tie with Active -> Demo: ordered as written, Demo -> Won after 0 s in Demo
    assert stored_previous_changes_agree(api, other) == 5
    assert advance() == (3 * 3600.0, 0.0)
    for table in ("opportunity_change", "activity"):  # (this engine's SQLite connection does not cascade)
        _sql(api, f"DELETE FROM {table} WHERE id = :id", id=to_demo_3["id"])  # Won from creation: 5 h in Demo
    assert stored_previous_changes_agree(api, other) == 4
    assert advance() == (3600.0, 5 * 3600.0)

    api.ok("PUT", f"/opportunity/{o2}/", json={"status_id": ids["Active"]})  # moved back, then on again
    api.ok("PUT", f"/opportunity/{o2}/", json={"status_id": ids["Demo"]})
    assert stored_previous_changes_agree(api, other) == 6
    api.ok("DELETE", f"/opportunity/{o3}/")  # its changes stay (activities), out of every cohort
    assert stored_previous_changes_agree(api, other) == 6
    assert advance() == (1800.0, None)  # O2 left Active after 1 h, then again at once (the move back)
    if BACKEND == "postgresql":  # the rebuild after a bulk load computes them again, and leaves the triggers on
        _sql(api, "UPDATE opportunity_change SET previous_at = NULL WHERE organization_id = :org", org=api.org_id)
        _sql(api, "SELECT report_summaries_rebuild(:org)", org=api.org_id)
        assert stored_previous_changes_agree(api, other) == 6 and advance() == (1800.0, None)

    email = api.ok("GET", f"/user/{api.user_id}/")["email"]
    other.ok("POST", "/membership/", json={"email": email, "role": "admin"})
    lead = api.ok("GET", f"/opportunity/{o2}/")["lead_id"]
    api.ok("POST", f"/lead/{lead}/move/", status=200, json={"target_organization_id": other.org_id})
    assert stored_previous_changes_agree(api, other) == 6  # in the other workspace now, still in order
    api.ok("DELETE", f"/lead/{lead}/", status=404)
    other.ok("DELETE", f"/lead/{lead}/")  # its activities go, and their changes
    assert stored_previous_changes_agree(api, other) == 0


def test_report_statements_run_tuned_in_a_transaction(server: Server, api: Api) -> None:
    """On PostgreSQL read units run in autocommit: a report makes its unit, and each session together() opens,
    a transaction first, so that its SET LOCAL tuning (planning per period, memory for sorts) applies."""
    if BACKEND != "postgresql":
        pytest.skip("the tuning is PostgreSQL's")
    from geniziz.api.auth import Principal
    from geniziz.api.context import unit_of_work
    from geniziz.app import load_domains
    from geniziz.db import Database
    from geniziz.reports import schemas
    from geniziz.reports.service import rows_of, scope_of, together

    load_domains()
    tuned = text("SELECT current_setting('plan_cache_mode'), current_setting('work_mem')")
    principal = Principal(api.org_id, "user_x", "admin", "key_x")

    async def main() -> list[Any]:
        db = Database(server.database_url, pool_size=4)
        try:
            async with unit_of_work(db, principal, via="api", write=False) as ctx:
                await scope_of(ctx, schemas.ReportArgs(relative_range="today"))
                own = list((await ctx.session.execute(tuned)).all())
                return [own, *await together(ctx, rows_of(tuned), rows_of(tuned))]
        finally:
            await db.dispose()

    for rows in asyncio.run(main()):
        assert rows == [("force_custom_plan", "64MB")]
