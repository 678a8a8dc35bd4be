"""The lead score: the formula as a pure function, then the facts gathered over REST and MCP alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from geniziz.leads.score import OpenOpportunity, ScoreFacts, compute
from tests.conftest import Api
from tests.factories import make_lead, make_opportunity, make_task
from tests.test_mcp import Mcp

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def score(**facts: object) -> tuple[int, dict[str, int]]:
    base: dict[str, object] = {"status_label": "Potential", "status_position": 0, "status_count": 4}
    total, reasons = compute(ScoreFacts(**(base | facts)), NOW)  # type: ignore[arg-type]
    assert total == sum(r.points for r in reasons) and 0 <= total <= 100
    return total, {r.factor: r.points for r in reasons}


def test_a_new_lead_scores_its_status_only() -> None:
    assert score() == (5, {"status": 5, "opportunity_value": 0, "opportunity_confidence": 0, "activity_recency": 0,
                           "activity_volume": 0, "replies": 0, "overdue_tasks": 0})


def test_every_factor() -> None:
    total, points = score(
        status_label="Qualified", status_position=2,
        open_opportunities=[OpenOpportunity(1_000_000, "USD", 80)],  # $10,000 at 80%: $8,000 expected
        last_activity_at=NOW - timedelta(days=2), activities_30d=3, activities_90d=5, replies_90d=2, overdue_tasks=1)
    assert points == {"status": 18, "opportunity_value": 16, "opportunity_confidence": 8, "activity_recency": 15,
                      "activity_volume": 7, "replies": 10, "overdue_tasks": -5}
    assert total == 69


def test_the_best_lead_scores_100() -> None:
    total, _ = score(status_label="Customer", open_opportunities=[OpenOpportunity(10**9, "USD", 100)],
                     last_activity_at=NOW, activities_30d=5, activities_90d=5, replies_90d=3)
    assert total == 100


@pytest.mark.parametrize(("label", "position", "count", "points"), [
    ("Customer", 3, 4, 25), ("Closed Won", 0, 4, 25), ("Qualified", 0, 4, 18), ("Bad Fit", 1, 4, 0),
    ("Unqualified", 3, 4, 0), ("Potential", 0, 4, 5), ("Demo booked", 2, 5, 10), ("Last stage", 4, 5, 15),
    ("Wonderful", 0, 1, 5),  # words, not substrings: this is not "won"
])
def test_status_points(label: str, position: int, count: int, points: int) -> None:
    assert score(status_label=label, status_position=position, status_count=count)[1]["status"] == points


@pytest.mark.parametrize(("days", "points"), [(0, 20), (1, 20), (1.5, 15), (7, 15), (30, 10), (90, 5), (91, 0)])
def test_recency_points(days: float, points: int) -> None:
    assert score(last_activity_at=NOW - timedelta(days=days))[1]["activity_recency"] == points


def test_opportunities_sum_expected_value_and_take_the_best_confidence() -> None:
    _, points = score(open_opportunities=[OpenOpportunity(100_00, "USD", None), OpenOpportunity(300_00, "USD", 90)])
    # $100 at the default 50% + $300 at 90% = $320: 4 x log10(321) = 10.0
    assert (points["opportunity_value"], points["opportunity_confidence"]) == (10, 9)
    assert score(open_opportunities=[OpenOpportunity(10**12, "EUR", 100)])[1]["opportunity_value"] == 20


def test_volume_replies_and_overdue_tasks_are_bounded() -> None:
    _, points = score(activities_30d=2, activities_90d=7, replies_90d=9, overdue_tasks=7)
    assert (points["activity_volume"], points["replies"], points["overdue_tasks"]) == (6, 15, -15)
    assert score(activities_30d=40, activities_90d=40)[1]["activity_volume"] == 10


def test_a_ruled_out_status_caps_the_score_and_the_floor_is_zero() -> None:
    total, points = score(status_label="Bad Fit", status_position=1, last_activity_at=NOW, replies_90d=3,
                          open_opportunities=[OpenOpportunity(10**8, "USD", 90)])
    assert total == 10 and points["status_cap"] < 0
    total, points = score(overdue_tasks=3)
    assert total == 0 and points["floor"] == 10


# --- gathered from the database, over REST and MCP ------------------------------------------------------
def _ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def test_score_over_rest_and_mcp(api: Api) -> None:
    statuses = api.ok("GET", "/status/lead/")["data"]
    opportunity_statuses = {s["type"]: s["id"] for s in api.ok("GET", "/status/opportunity/")["data"]}
    lead = make_lead(api, status_id=statuses[2]["id"])  # "Qualified"
    fresh = api.ok("GET", f"/lead/{lead['id']}/score/")
    assert fresh["lead_id"] == lead["id"] and fresh["score"] == 18 and fresh["computed_at"].endswith("Z")

    # $500 a month at 50%: $6,000 a year, $3,000 expected -> 14 and 5. Lost ones do not count.
    make_opportunity(api, lead_id=lead["id"], value=500_00, value_period="monthly", confidence=50)
    make_opportunity(api, lead_id=lead["id"], value=10**9, confidence=100, status_id=opportunity_statuses["lost"])
    api.create("activity/note", lead_id=lead["id"], note="Met at the fair")
    api.create("activity/email", lead_id=lead["id"], direction="inbound", subject="Re: pricing",
               activity_at=_ago(10))
    api.create("activity/call", lead_id=lead["id"], direction="inbound", activity_at=_ago(60))
    api.create("activity/email", lead_id=lead["id"], direction="outbound", status="draft", subject="Not sent")
    api.create("activity/note", lead_id=lead["id"], note="Long ago", activity_at=_ago(200))
    make_task(api, lead_id=lead["id"], due_date=_ago(1))  # overdue
    make_task(api, lead_id=lead["id"], due_date=_ago(3), is_complete=True)
    make_task(api, lead_id=lead["id"], due_date=_ago(-3))

    result = api.ok("GET", f"/lead/{lead['id']}/score/")
    assert {r["factor"]: r["points"] for r in result["reasons"]} == {
        "status": 18, "opportunity_value": 14, "opportunity_confidence": 5, "activity_recency": 20,
        "activity_volume": 4, "replies": 10, "overdue_tasks": -5}
    assert result["score"] == 66
    assert "$3,000.00" in next(r["detail"] for r in result["reasons"] if r["factor"] == "opportunity_value")

    over_mcp = Mcp(api, "read").call("lead_score", lead_id=lead["id"])
    assert {k: v for k, v in over_mcp.items() if k != "computed_at"} == \
        {k: v for k, v in result.items() if k != "computed_at"}
    assert api.ok("GET", f"/lead/{lead['id']}/score", params={"_fields": "score"}) == {"score": 66}
    assert Mcp(api, "read").call("lead_score", lead_id=lead["id"], _fields=["lead_id", "score"]) == {
        "lead_id": lead["id"], "score": 66}
    api.bad("GET", f"/lead/{lead['id']}/score/", "_fields", params={"_fields": "nope"})


def test_score_of_a_ruled_out_lead_and_of_unknown_leads(api: Api, other: Api) -> None:
    statuses = api.ok("GET", "/status/lead/")["data"]
    lead = make_lead(api, status_id=statuses[1]["id"])  # "Bad Fit"
    api.create("activity/email", lead_id=lead["id"], direction="inbound", subject="Still interested?")
    result = api.ok("GET", f"/lead/{lead['id']}/score/")
    assert result["score"] == 10 and result["reasons"][-1]["factor"] == "status_cap"
    assert other.bad("GET", f"/lead/{lead['id']}/score/", status=404) == \
        api.bad("GET", f"/lead/lead_{'0' * 22}/score/", status=404)
    assert Mcp(other).fail("lead_score", lead_id=lead["id"])["error"] == "Lead not found"
    api.bad("GET", "/lead/not-an-id/score/", status=404)
