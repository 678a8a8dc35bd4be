"""The lead score: 0-100, with the reasons behind it. Served by REST (GET /lead/{id}/score/) and MCP.

``gather`` reads the facts in one service call; ``compute`` is a pure function of them, so the
formula (documented in the README) is tested without a database. The dependency on activities is
kept to the ``Activity`` columns lead_id, type, direction, status and activity_at, and to the list
of types people write (``WRITABLE_TYPES``; generated ones such as status changes do not count).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, case, func, or_, select

from geniziz.activities.models import Activity
from geniziz.activities.schemas import WRITABLE_TYPES
from geniziz.api.context import Ctx
from geniziz.api.resource import parse_fields
from geniziz.api.schemas import ReadModel, Timestamp, format_money
from geniziz.db import utcnow
from geniziz.leads.service import LeadService
from geniziz.opportunities.models import Opportunity
from geniziz.opportunities.schemas import PERIOD_MULTIPLIER
from geniziz.statuses.models import Status
from geniziz.tasks.models import Task

# Status labels, matched as whole words (case-insensitive); a negative one wins over the others.
NEGATIVE_STATUS = ("bad fit", "lost", "disqualified", "unqualified", "not interested", "dead", "churned", "junk",
                   "spam")
CUSTOMER_STATUS = ("customer", "won", "client")
QUALIFIED_STATUS = ("qualified",)
NEGATIVE_CAP = 10
# Emails and SMS in these statuses have not happened yet.
UNSENT = ("draft", "scheduled", "outbox", "sending", "error")
REPLY_TYPES = ("email", "call", "sms", "channel_message")
DEFAULT_CONFIDENCE = 50


@dataclass(frozen=True)
class OpenOpportunity:
    annualized_value: int  # cents
    currency: str
    confidence: int | None


@dataclass(frozen=True)
class ScoreFacts:
    status_label: str
    status_position: int  # 0-based, in the order the workspace's lead statuses were defined
    status_count: int
    open_opportunities: list[OpenOpportunity] = field(default_factory=list)
    last_activity_at: datetime | None = None
    activities_30d: int = 0
    activities_90d: int = 0
    replies_90d: int = 0
    overdue_tasks: int = 0


class Reason(BaseModel):
    factor: str
    points: int
    detail: str


class LeadScoreRead(ReadModel):
    lead_id: str
    score: int
    reasons: list[Reason]
    computed_at: Timestamp


def _has_word(label: str, words: tuple[str, ...]) -> bool:
    return any(re.search(rf"\b{re.escape(word)}\b", label) for word in words)


def compute(facts: ScoreFacts, now: datetime) -> tuple[int, list[Reason]]:
    """The score and its reasons; the reasons' points add up to the score."""
    reasons: list[Reason] = []

    def add(factor: str, points: int, detail: str) -> None:
        reasons.append(Reason(factor=factor, points=points, detail=detail))

    # Status: 0-25.
    label = facts.status_label.lower()
    negative = _has_word(label, NEGATIVE_STATUS)
    if negative:
        add("status", 0, f"Status {facts.status_label!r} rules the lead out")
    elif _has_word(label, CUSTOMER_STATUS):
        add("status", 25, f"Status {facts.status_label!r}: already a customer")
    elif _has_word(label, QUALIFIED_STATUS):
        add("status", 18, f"Status {facts.status_label!r}: qualified")
    else:
        progress = facts.status_position / (facts.status_count - 1) if facts.status_count > 1 else 0
        add("status", 5 + round(10 * progress),
            f"Status {facts.status_label!r}, number {facts.status_position + 1} of {facts.status_count} lead statuses")

    # Open opportunities: expected value 0-20 (log scale), best confidence 0-10.
    opens = facts.open_opportunities
    if opens:
        expected = sum(o.annualized_value * (o.confidence if o.confidence is not None else DEFAULT_CONFIDENCE) / 100
                       for o in opens)
        currencies = {o.currency for o in opens}
        shown = format_money(round(expected), currencies.pop()) if len(currencies) == 1 else f"{expected / 100:,.2f}"
        add("opportunity_value", min(20, round(4 * math.log10(1 + expected / 100))),
            f"{_count(len(opens), 'open opportunity', 'open opportunities')}, expected value {shown} "
            "(annualized value x confidence)")
        best = max(o.confidence if o.confidence is not None else DEFAULT_CONFIDENCE for o in opens)
        add("opportunity_confidence", round(best / 10), f"Best confidence {best}%")
    else:
        add("opportunity_value", 0, "No open opportunity")
        add("opportunity_confidence", 0, "No open opportunity")

    # Recency of the last activity: 0-20.
    if facts.last_activity_at is None:
        add("activity_recency", 0, "No activity yet")
    else:
        days = max(0.0, (now - facts.last_activity_at).total_seconds() / 86400)
        points = 20 if days <= 1 else 15 if days <= 7 else 10 if days <= 30 else 5 if days <= 90 else 0
        add("activity_recency", points, f"Last activity {_ago(days)}")

    # Volume: 2 points per activity in the last 30 days, 1 per two in the 60 before; 0-10.
    older = facts.activities_90d - facts.activities_30d
    add("activity_volume", min(10, 2 * facts.activities_30d + older // 2),
        f"{_count(facts.activities_30d, 'activity', 'activities')} in the last 30 days, "
        f"{facts.activities_90d} in 90 days")

    # Replies: 5 points per inbound email, call, SMS or message in 90 days; 0-15.
    add("replies", min(15, 5 * facts.replies_90d),
        _count(facts.replies_90d, "inbound reply", "inbound replies") + " in the last 90 days")

    # Overdue open tasks: -5 each, down to -15.
    add("overdue_tasks", -min(15, 5 * facts.overdue_tasks),
        _count(facts.overdue_tasks, "overdue open task", "overdue open tasks"))

    total = sum(r.points for r in reasons)
    if negative and total > NEGATIVE_CAP:
        add("status_cap", NEGATIVE_CAP - total,
            f"A lead in status {facts.status_label!r} scores at most {NEGATIVE_CAP}")
    elif total < 0:
        add("floor", -total, "The score is at least 0")
    return sum(r.points for r in reasons), reasons


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _ago(days: float) -> str:
    return "today" if days < 1 else _count(int(days), "day", "days") + " ago"


async def gather(ctx: Ctx, lead_id: str, now: datetime) -> ScoreFacts:
    lead = await LeadService().get(ctx, lead_id)  # 404 outside the caller's workspace
    # No workspace conditions below: the session adds them to every table (geniziz.db).
    statuses = list((await ctx.session.execute(
        select(Status.id, Status.label).where(Status.kind == "lead").order_by(Status.id))).all())
    position = next(i for i, row in enumerate(statuses) if row.id == lead.status_id)

    opportunities = (await ctx.session.execute(
        select(Opportunity.value, Opportunity.value_period, Opportunity.value_currency, Opportunity.confidence)
        .join(Status, Status.id == Opportunity.status_id)
        .where(Opportunity.lead_id == lead_id, or_(Status.type == "active", Status.type.is_(None))))).all()

    day30, day90 = now - timedelta(days=30), now - timedelta(days=90)
    reply = and_(Activity.direction == "inbound", Activity.type.in_(REPLY_TYPES), Activity.activity_at >= day90)
    activity = (await ctx.session.execute(
        select(func.max(Activity.activity_at),
               func.coalesce(func.sum(case((Activity.activity_at >= day30, 1), else_=0)), 0),
               func.coalesce(func.sum(case((Activity.activity_at >= day90, 1), else_=0)), 0),
               func.coalesce(func.sum(case((reply, 1), else_=0)), 0))
        .where(Activity.lead_id == lead_id, Activity.type.in_(WRITABLE_TYPES), Activity.activity_at <= now,
               or_(Activity.status.is_(None), Activity.status.not_in(UNSENT))))).one()

    overdue = await ctx.session.scalar(select(func.count()).select_from(Task).where(
        Task.lead_id == lead_id, Task.is_complete.is_(False), Task.due_date < now))

    return ScoreFacts(
        status_label=statuses[position].label, status_position=position, status_count=len(statuses),
        open_opportunities=[OpenOpportunity(o.value * PERIOD_MULTIPLIER.get(o.value_period, 1), o.value_currency,
                                            o.confidence) for o in opportunities],
        last_activity_at=activity[0], activities_30d=int(activity[1]), activities_90d=int(activity[2]),
        replies_90d=int(activity[3]), overdue_tasks=int(overdue or 0),
    )


async def lead_score(ctx: Ctx, lead_id: str, fields: str | None = None) -> dict[str, Any]:
    """The score of one lead of the caller's workspace, as REST and MCP answer it."""
    selected = parse_fields(fields, LeadScoreRead.model_fields)
    now = utcnow()
    score, reasons = compute(await gather(ctx, lead_id, now), now)
    body = LeadScoreRead(lead_id=lead_id, score=score, reasons=reasons, computed_at=now)
    return body.model_dump(mode="json", include=selected)
