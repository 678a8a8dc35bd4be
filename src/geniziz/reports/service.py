"""The reports: each one a few SQL aggregations over the caller's workspace (scoped by the session), never
a scan of records in Python. Figures are what the data says; what is not tracked is null or empty."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (ColumnElement, DateTime, Float, and_, case, cast, distinct, exists, func, literal,
                        select, text, true, tuple_)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from geniziz.activities.models import Activity
from geniziz.api.context import Ctx
from geniziz.api.errors import field_error
from geniziz.db import Database, WorkspaceSession, looks_like_id
from geniziz.identity.models import Membership, Organization, User
from geniziz.leads.models import Lead
from geniziz.messaging.models import EmailTemplate
from geniziz.opportunities.models import Opportunity
from geniziz.reports import schemas
from geniziz.reports.models import SUMMARIZED_TYPES, ActivityDay, OpportunityChange
from geniziz.reports.periods import Period, bucket_key, month_of, relative_dates, seconds_between
from geniziz.sequences.report import workflow_performance
from geniziz.statuses.models import Pipeline, Status

MAX_DAYS = 3660


# --- shared ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    """What every report starts from: the period, the users asked for (None: everyone), the SQL dialect."""

    period: Period
    users: list[str] | None
    dialect: str

    def only(self, column: Any) -> ColumnElement[bool]:
        return column.in_(self.users) if self.users is not None else true()

    def out(self) -> dict[str, Any]:
        p = self.period
        return {"date_start": p.first.isoformat(), "date_end": p.last.isoformat(), "time_zone": p.zone}


async def scope_of(ctx: Ctx, args: schemas.ReportArgs) -> Scope:
    await _tune(ctx.session)  # first: it makes the unit a transaction, which must precede its first statement
    zone = await ctx.session.scalar(select(Organization.time_zone).where(Organization.id == ctx.org_id)) or "UTC"
    if args.relative_range is not None:
        if args.date_start is not None or args.date_end is not None:
            raise field_error("relative_range", "give relative_range or date_start and date_end, not both")
        first, last = relative_dates(args.relative_range, datetime.now(ZoneInfo(zone)).date())
    else:
        if args.date_start is None:
            raise field_error("date_start", "required, with date_end (or give relative_range)")
        if args.date_end is None:
            raise field_error("date_end", "required with date_start")
        first, last = args.date_start, args.date_end
        if last < first:
            raise field_error("date_end", "before date_start")
        if (last - first).days > MAX_DAYS:
            raise field_error("date_end", f"at most {MAX_DAYS} days after date_start")
    users = None
    if args.users is not None:
        users = list(dict.fromkeys(args.users))
        shaped = [u for u in users if looks_like_id(u)]  # anything else names no member (a NUL is no text to PostgreSQL)
        known: set[str] = set()
        if shaped:
            known = set(await ctx.session.scalars(select(Membership.user_id).where(Membership.user_id.in_(shaped))))
        if missing := [u for u in users if u not in known]:
            raise field_error("users", f"not members of this workspace: {', '.join(missing)}")
    dialect = ctx.session.bind.dialect.name
    return Scope(Period(zone, first, last), users, dialect)


async def _tune(session: AsyncSession) -> None:
    # Once per session: a report that runs others (sales) tunes the sessions they run on already.
    if session.bind.dialect.name == "postgresql" and not session.info.get(TUNED):
        session.info[TUNED] = True
        await Database.read_transaction(session)  # read units run in autocommit: SET LOCAL needs a transaction
        # this transaction only: a large period's sorts and hashes
        await session.execute(text("SET LOCAL work_mem = '64MB'"))  # stay in memory,
        # and every query is planned for its period: a prepared statement's generic plan guesses a few hundred
        # rows for any range and loops over an index where a day or a year needs a hash (or a partial index).
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def rows_of(statement: Any) -> Callable[[Ctx], Awaitable[list[Any]]]:
    """A part for together(): a query's rows."""
    async def run(ctx: Ctx) -> list[Any]:
        return list((await ctx.session.execute(statement)).all())

    return run


TUNED = "report_tuned"  # session.info: _tune ran on it
SIBLING = "report_sibling"  # session.info: a session together() opened (which runs its own parts in turn)


async def together(ctx: Ctx, *parts: Callable[[Ctx], Awaitable[Any]]) -> list[Any]:
    """A report's independent parts, their results in order. On PostgreSQL at once, each on a connection of its
    own in the caller's workspace: each statement at READ COMMITTED sees a snapshot of its own anyway, so
    this changes what a report can see no more than running them in turn does; one level only, so a report
    holds at most one connection per part. SQLite, and a part's own parts: one after another."""
    if ctx.session.bind.dialect.name != "postgresql" or ctx.session.info.get(SIBLING) or len(parts) < 2:
        return [await part(ctx) for part in parts]

    async def run(part: Callable[[Ctx], Awaitable[Any]]) -> Any:
        info = {key: value for key, value in ctx.session.info.items() if key != TUNED}  # a new session: tune it too
        async with AsyncSession(ctx.session.bind, sync_session_class=WorkspaceSession,
                                info={**info, SIBLING: True}) as session:
            await _tune(session)
            return await part(replace(ctx, session=session))

    return list(await asyncio.gather(*(run(part) for part in parts)))


def count_if(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def sum_if(condition: Any, value: Any) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def weighted(value_times_confidence: Any) -> int:
    """Sum of value x confidence (percent) -> cents, rounded once at the end."""
    return round(int(value_times_confidence or 0) / 100)


async def members(ctx: Ctx, users: list[str] | None) -> dict[str, str]:
    """user ID -> name, for the workspace's members (or the ones asked for), by name."""
    query = select(Membership.user_id, User.name).join(User, User.id == Membership.user_id)
    if users is not None:
        query = query.where(Membership.user_id.in_(users))
    return dict(sorted((await ctx.session.execute(query)).all(), key=lambda row: (row[1], row[0])))


duration = Activity.data["duration"].as_integer()
disposition = Activity.data["disposition"].as_string()
template = Activity.data["template_id"].as_string()
weighted_value = Opportunity.value * func.coalesce(Opportunity.confidence, 0)


# --- the activity metrics -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    key: str
    name: str
    description: str
    source: str  # which table and which of its timestamps and user columns: SOURCES
    aggregate: Callable[[], Any]
    types: tuple[str, ...] = ()  # activity metrics: the types they read (an indexed condition)
    additive: bool = True  # the period's total is the sum of its rows' (not so for a distinct count)
    summed: Callable[[], Any] | None = None  # the same figure from ActivityDay (PostgreSQL keeps it)

    def source_on(self, dialect: str) -> str:
        return "summary" if self.summed is not None and dialect == "postgresql" else self.source


def _is(type_: str, direction: str | None = None, status: str | None = None, table: Any = Activity) -> Any:
    """An activity kind, on the activities or on their daily summary (same column names)."""
    conditions = [table.type == type_]
    conditions += [table.direction == direction] if direction else []
    conditions += [table.status == status] if status else []
    return and_(*conditions)


def counted(type_: str, direction: str | None = None, status: str | None = None, *,
            seconds: bool = False) -> dict[str, Any]:
    """A metric that counts (or sums the call seconds of) one kind of activity: its aggregate over the
    activities and over ActivityDay, the summary PostgreSQL reads instead."""
    raw, day = _is(type_, direction, status), _is(type_, direction, status, ActivityDay)
    if seconds:
        return {"aggregate": lambda: sum_if(raw, func.coalesce(duration, 0)),
                "summed": lambda: sum_if(day, ActivityDay.duration), "types": (type_,)}
    return {"aggregate": lambda: count_if(raw), "summed": lambda: sum_if(day, ActivityDay.n), "types": (type_,)}


CALL_OUT = _is("call", "outbound")
SENT = (_is("email", "outbound", "sent"), _is("sms", "outbound", "sent"))
# A contact, for leads.contacted.count: on PostgreSQL the predicate of the partial index ix_activity_contact
# (migration 0023), which the planner uses only while this condition implies it.
CONTACT = CALL_OUT | SENT[0] | SENT[1]
annualized = case((Opportunity.value_period == "monthly", Opportunity.value * 12), else_=Opportunity.value)

METRICS = {m.key: m for m in [
    Metric("calls.outbound.count", "Outbound calls", "Calls made.", "activity", **counted("call", "outbound")),
    Metric("calls.outbound.duration.sum", "Outbound call time", "Seconds on outbound calls.", "call_time",
           **counted("call", "outbound", seconds=True)),
    Metric("calls.inbound.count", "Inbound calls", "Calls received.", "activity", **counted("call", "inbound")),
    Metric("emails.sent.count", "Emails sent", "Outbound emails with status sent.", "activity",
           **counted("email", "outbound", "sent")),
    Metric("emails.received.count", "Emails received", "Inbound emails.", "activity",
           **counted("email", "inbound")),
    Metric("notes.count", "Notes", "Notes written.", "activity", **counted("note")),
    Metric("meetings.count", "Meetings", "Meetings logged (by when they were logged as happening).", "activity",
           **counted("meeting")),
    Metric("sms.sent.count", "SMS sent", "Outbound SMS with status sent.", "activity",
           **counted("sms", "outbound", "sent")),
    Metric("leads.contacted.count", "Leads contacted", "Distinct leads with an outbound call, sent email or sent SMS.",
           "contacted", lambda: func.count(distinct(Activity.lead_id)), additive=False),
    Metric("tasks.completed.count", "Tasks completed", "Tasks marked complete (by who completed them).",
           "activity", **counted("task_completed")),
    Metric("leads.created.count", "Leads created", "By who created them.", "lead", lambda: func.count()),
    Metric("opportunities.created.count", "Opportunities created", "By owner.", "opportunity", lambda: func.count()),
    Metric("opportunities.won.count", "Opportunities won", "By owner, on the day they were won.", "won",
           lambda: func.count()),
    Metric("opportunities.won.value.sum", "Won value", "Cents, by owner.", "won",
           lambda: func.coalesce(func.sum(Opportunity.value), 0)),
    Metric("opportunities.won.annualized_value.sum", "Won annualized value",
           "Cents: monthly values x 12, annual and one-time as they are.", "won",
           lambda: func.coalesce(func.sum(annualized), 0)),
]}

assert all(set(m.types) <= SUMMARIZED_TYPES for m in METRICS.values() if m.summed), "activity_day lacks a type"

# source -> (table, when, who)
SOURCES: dict[str, tuple[Any, Any, Any]] = {
    "activity": (Activity, Activity.activity_at, Activity.user_id),
    # Apart: only this one reads the data column, so the others can be answered from an index alone.
    "call_time": (Activity, Activity.activity_at, Activity.user_id),
    # Apart: a distinct count sorts its rows, so it reads only the contacts' rows.
    "contacted": (Activity, Activity.activity_at, Activity.user_id),
    # PostgreSQL: the counts per local day of activity_day (kept by triggers, see reports/models.py).
    "summary": (ActivityDay, ActivityDay.day, ActivityDay.user_id),
    "lead": (Lead, Lead.date_created, Lead.created_by),
    "opportunity": (Opportunity, Opportunity.date_created, Opportunity.owner_id),
    "won": (Opportunity, Opportunity.date_won, Opportunity.owner_id),
}


def metric_catalog(limit: int, skip: int) -> dict[str, Any]:
    items = [{"key": m.key, "name": m.name, "description": m.description} for m in METRICS.values()]
    return {"data": items[skip:skip + limit], "has_more": len(items) > skip + limit}


async def activity_report(ctx: Ctx, args: schemas.ActivityReportArgs) -> dict[str, Any]:
    scope = await scope_of(ctx, args)
    keys = list(dict.fromkeys(args.metrics)) if args.metrics else list(METRICS)
    if unknown := [k for k in keys if k not in METRICS]:
        raise field_error("metrics", f"unknown: {', '.join(unknown)}; see GET /report/activity/")
    overview = args.type == "overview"
    sources = {source: [METRICS[k] for k in keys if METRICS[k].source_on(scope.dialect) == source]
               for source in dict.fromkeys(METRICS[k].source_on(scope.dialect) for k in keys)}
    totals: dict[str, int] = {}
    by_key: dict[Any, dict[str, int]] = defaultdict(dict)
    for per_row, per_period in await together(ctx, *(
            partial(_source, scope=scope, source=source, wanted=wanted, args=args)
            for source, wanted in sources.items())):
        for key, values in per_row.items():  # the sources' metrics are apart: no figure is overwritten
            by_key[key].update(values)
        totals.update(per_period)

    def row(values: dict[str, int]) -> dict[str, int]:
        return {k: values.get(k, 0) for k in keys}

    if overview:
        rows = [{"date": day, **row(by_key.get(day, {}))} for day in scope.period.buckets(args.interval)]
    else:
        names = await members(ctx, scope.users)
        others = sorted((k for k in by_key if k not in names), key=lambda k: (k is None, k or ""))
        rows = [{"user_id": user_id, "user_name": names.get(user_id) if user_id else None,
                 **row(by_key.get(user_id, {}))} for user_id in [*names, *others]]
    return {"period": scope.out(), "type": args.type, "interval": args.interval if overview else None,
            "metrics": keys, "totals": {k: totals[k] for k in keys}, "rows": rows}


Figures = tuple[dict[Any, dict[str, int]], dict[str, int]]  # per row (bucket or user) and over the period


async def _source(ctx: Ctx, *, scope: Scope, source: str, wanted: list[Metric],
                  args: schemas.ActivityReportArgs) -> Figures:
    """The metrics one source answers, per row and in total."""
    overview = args.type == "overview"
    _, when, who = SOURCES[source]
    where = [scope.period.within(when), scope.only(who)]
    if source == "summary":  # local days: the summary's days are already the workspace's
        where = [when.between(scope.period.first, scope.period.last), scope.only(who),
                 ActivityDay.type.in_(sorted({t for m in wanted for t in m.types}))]
    elif source == "activity":  # only the types asked for: the (workspace, type, time) index
        where.append(Activity.type.in_(sorted({t for m in wanted for t in m.types})))
    elif source == "call_time":
        where.append(CALL_OUT)
    elif source == "contacted":
        where += [Activity.type.in_(("call", "email", "sms")), CONTACT]
    summary = source == "summary"
    aggregates = [(m.summed if summary else m.aggregate)().label(f"m{i}")  # type: ignore[misc]
                  for i, m in enumerate(wanted)]
    if not overview:
        group = who
    elif summary:
        group = when if args.interval == "day" else func.date_trunc(args.interval, cast(when, DateTime()))
    else:
        group = scope.period.bucket(when, args.interval, scope.dialect)
    if source == "contacted" and scope.dialect == "postgresql":
        return await _contacted(ctx, wanted, where, group, overview)
    by_key: dict[Any, dict[str, int]] = defaultdict(dict)
    for key, *values in (await ctx.session.execute(
            select(group.label("k"), *aggregates).where(*where).group_by(group))).all():
        key = key or None if summary and not overview else key  # the summary's '' is no user
        by_key[bucket_key(key) if overview else key].update(
            {m.key: int(v or 0) for m, v in zip(wanted, values, strict=True)})
    totals = {m.key: sum(row.get(m.key, 0) for row in by_key.values()) for m in wanted if m.additive}
    if distinct := [m for m in wanted if not m.additive]:  # a lead contacted on two days counts once
        total = (await ctx.session.execute(select(*(m.aggregate() for m in distinct)).where(*where))).one()
        totals.update({m.key: int(v or 0) for m, v in zip(distinct, total, strict=True)})
    return by_key, totals


async def _contacted(ctx: Ctx, wanted: list[Metric], where: list[Any], group: Any, overview: bool) -> Figures:
    """PostgreSQL: distinct leads contacted per row and over the period in one pass over the index (GROUPING
    SETS (row, lead) and (lead), each deduplicated by hashing), rather than two sorts of every contact."""
    (metric,) = wanted
    pairs = (select(group.label("k"), func.grouping(group).label("g"))
             .where(*where, Activity.lead_id.is_not(None))
             .group_by(func.grouping_sets(tuple_(group, Activity.lead_id), tuple_(Activity.lead_id))).subquery())
    by_key: dict[Any, dict[str, int]] = {}
    totals = {metric.key: 0}
    for whole, key, n in (await ctx.session.execute(
            select(pairs.c.g, pairs.c.k, func.count()).group_by(pairs.c.g, pairs.c.k))).all():
        if whole:  # the (lead) set: the period's total
            totals[metric.key] = n
        else:
            by_key[bucket_key(key) if overview else key] = {metric.key: n}
    return by_key, totals


# --- opportunities -----------------------------------------------------------------------------------------
async def opportunity_statuses(ctx: Ctx, pipeline_id: str | None) -> list[Status]:
    query = select(Status).where(Status.kind == "opportunity").order_by(Status.pipeline_id, Status.id)
    if pipeline_id is not None:
        query = query.where(Status.pipeline_id == pipeline_id)
    statuses = list(await ctx.session.scalars(query))
    if pipeline_id is not None and not statuses:
        raise field_error("pipeline_id", f"No pipeline with ID {pipeline_id} in this workspace")
    return statuses


def _pipeline(pipeline_id: str | None) -> Any:
    return Opportunity.pipeline_id == pipeline_id if pipeline_id is not None else true()


async def funnel_report(ctx: Ctx, args: schemas.PipelineArgs) -> dict[str, Any]:
    scope = await scope_of(ctx, args)
    statuses = await opportunity_statuses(ctx, args.pipeline_id)
    where = [scope.only(Opportunity.owner_id), _pipeline(args.pipeline_id)]
    figures = {sid: (n, int(v), w) for sid, n, v, w in (await ctx.session.execute(
        select(Opportunity.status_id, func.count(), func.coalesce(func.sum(Opportunity.value), 0),
               func.coalesce(func.sum(weighted_value), 0)).where(*where).group_by(Opportunity.status_id))).all()}
    rows = []
    for status in statuses:
        n, value, w = figures.get(status.id, (0, 0, 0))
        rows.append({"status_id": status.id, "status_label": status.label, "status_type": status.type or "active",
                     "pipeline_id": status.pipeline_id, "count": n, "value": value, "weighted_value": weighted(w)})
    active = [r for r in rows if r["status_type"] == "active"]
    won_n, won_value = (await ctx.session.execute(
        select(func.count(), func.coalesce(func.sum(Opportunity.value), 0))
        .where(*where, scope.period.within(Opportunity.date_won)))).one()
    return {"period": scope.out(), "statuses": rows,
            "active": {"count": sum(r["count"] for r in active), "value": sum(r["value"] for r in active)},
            "won_in_period": {"count": won_n, "value": int(won_value)}}


async def opportunity_funnels(ctx: Ctx, scope: Scope, pipeline_id: str | None) -> list[dict[str, Any]]:
    """Per pipeline, over the opportunities created in the period: each active stage (in the pipeline's
    order) with how many are there now and how many ever reached it or beyond, from the status changes."""
    statuses = await opportunity_statuses(ctx, pipeline_id)
    cohort = [scope.period.within(Opportunity.date_created), scope.only(Opportunity.owner_id), _pipeline(pipeline_id)]
    # Rank: active stages 0..n-1 in order, won past all of them, lost (and anything else) none.
    stages: dict[str, list[Status]] = defaultdict(list)
    rank: dict[str, int] = {}
    for status in statuses:
        if (status.type or "active") == "active":
            rank[status.id] = len(stages[status.pipeline_id])
            stages[status.pipeline_id].append(status)
    rank |= {s.id: 1_000_000 for s in statuses if s.type == "won"}
    kind = {s.id: s.type or "active" for s in statuses}

    def ranked(column: Any) -> Any:
        return case(rank, value=column, else_=-1) if rank else literal(-1)

    # The furthest rank each opportunity reached: its current status's, and both ends of each of its changes
    # since the period began (the cohort's changes: it was created in the period). An aggregate per
    # opportunity, then per (pipeline, status now, furthest rank) with the status's figures.
    greatest = func.greatest if scope.dialect == "postgresql" else func.max  # SQLite's max(a, b) is scalar
    change = OpportunityChange
    ids = select(Opportunity.id).where(*cohort)
    moved = (select(change.opportunity_id.label("oid"),
                    func.max(greatest(ranked(change.new_status_id), ranked(change.old_status_id))).label("top"))
             .where(change.at >= scope.period.start, change.opportunity_id.in_(ids))
             .group_by(change.opportunity_id).subquery())
    each = (select(Opportunity.pipeline_id.label("pid"), Opportunity.status_id.label("sid"),
                   greatest(ranked(Opportunity.status_id), func.coalesce(moved.c.top, -1)).label("top"),
                   Opportunity.value.label("value"), weighted_value.label("weighted"),
                   seconds_between(Opportunity.date_won, Opportunity.date_created, scope.dialect).label("to_win"))
            .outerjoin(moved, moved.c.oid == Opportunity.id).where(*cohort).subquery())
    reached = (select(each.c.pid, each.c.sid, each.c.top, func.count(), func.coalesce(func.sum(each.c.value), 0),
                      func.coalesce(func.sum(each.c.weighted), 0), func.coalesce(func.sum(each.c.to_win), 0))
               .group_by(each.c.pid, each.c.sid, each.c.top))

    # The time to advance: from entering a stage to the change that moved it further, averaged per stage.
    # It entered the stage at its previous change (kept with each change), else at its creation; only
    # steps since the period began count (a change dated before the creation has no creation before it).
    created = Opportunity.date_created
    entered = case(((created <= change.at) & (change.previous_at.is_(None) | (change.previous_at < created)),
                    created), else_=change.previous_at)
    advanced = (select(change.old_status_id, cast(func.avg(seconds_between(change.at, entered, scope.dialect)), Float))
                .join(Opportunity, Opportunity.id == change.opportunity_id)
                .where(*cohort, change.at >= scope.period.start, entered >= scope.period.start,
                       ranked(change.new_status_id) > ranked(change.old_status_id), ranked(change.old_status_id) >= 0)
                .group_by(change.old_status_id))
    names = select(Pipeline.id, Pipeline.name).where(Pipeline.id.in_(stages))
    reached_rows, advanced_rows, pipeline_rows = await together(ctx, *map(rows_of, (reached, advanced, names)))

    reach: dict[tuple[str, int, str], int] = defaultdict(int)  # (pipeline, furthest rank, kind now) -> how many
    per_status: dict[str, tuple[int, int, int, float]] = {}  # status now -> count, value, weighted, to win
    for pid, sid, top, n, value, w, to_win in reached_rows:
        reach[(pid, top, kind.get(sid, "active"))] += n
        was = per_status.get(sid, (0, 0, 0, 0.0))
        per_status[sid] = (was[0] + n, was[1] + int(value), was[2] + int(w), was[3] + float(to_win))
    advance = {old: float(seconds) for old, seconds in advanced_rows if seconds is not None}  # stage -> seconds
    pipelines = dict(pipeline_rows)
    out = []
    for pid, pipeline_stages in stages.items():
        ours = [s for s in statuses if s.pipeline_id == pid]
        won = [per_status.get(s.id, (0, 0, 0, 0.0)) for s in ours if s.type == "won"]
        lost = [per_status.get(s.id, (0, 0, 0, 0.0)) for s in ours if s.type == "lost"]
        won_n, won_value = sum(r[0] for r in won), sum(r[1] for r in won)
        lost_n, lost_value = sum(r[0] for r in lost), sum(r[1] for r in lost)
        won_seconds = sum(r[3] for r in won)
        reached = [sum(n for (p, top, _), n in reach.items() if p == pid and top >= i)
                   for i in range(len(pipeline_stages) + 1)]
        reached[-1] = won_n  # past the last stage: won
        rows = []
        for i, status in enumerate(pipeline_stages):
            n, value, w, _ = per_status.get(status.id, (0, 0, 0, None))
            lost_here = sum(n for (p, top, k), n in reach.items() if p == pid and top == i and k == "lost")
            rows.append({"status_id": status.id, "status_label": status.label, "count": n, "reached": reached[i],
                         "conversion_to_next": ratio(reached[i + 1], reached[i]), "lost": lost_here,
                         "lost_ratio": ratio(lost_here, reached[i]), "value": value, "weighted_value": weighted(w),
                         "average_seconds_to_advance": round(advance[status.id], 1) if status.id in advance else None})
        win_rate = ratio(won_n, won_n + lost_n)
        average_win = won_seconds / won_n if won_n else None
        open_n = sum(r["count"] for r in rows)
        # A sales cycle shorter than a day counts as one day: velocity is a per-day rate.
        velocity = (open_n * win_rate * (won_value / won_n) / max(average_win / 86400, 1)
                    if win_rate and average_win is not None else None)
        out.append({"pipeline_id": pid, "pipeline_name": pipelines.get(pid, ""), "stages": rows,
                    "won": {"count": won_n, "value": won_value}, "lost": {"count": lost_n, "value": lost_value},
                    "win_rate_by_count": win_rate, "win_rate_by_value": ratio(won_value, won_value + lost_value),
                    "average_seconds_to_win": round(average_win, 1) if average_win is not None else None,
                    "sales_velocity_per_day": round(velocity, 2) if velocity is not None else None})
    return out


async def opportunity_funnels_report(ctx: Ctx, args: schemas.PipelineArgs) -> dict[str, Any]:
    scope = await scope_of(ctx, args)
    return {"period": scope.out(), "pipelines": await opportunity_funnels(ctx, scope, args.pipeline_id)}


# --- calls -----------------------------------------------------------------------------------------------------
async def calls_funnel_report(ctx: Ctx, args: schemas.CallsFunnelArgs) -> dict[str, Any]:
    scope = await scope_of(ctx, args)
    where = [Activity.type == "call", scope.period.within(Activity.activity_at), scope.only(Activity.user_id)]
    answered = CALL_OUT & (Activity.status == "completed")
    seconds = func.coalesce(duration, 0)
    columns = {"dialed": count_if(CALL_OUT), "answered": count_if(answered),
               "conversations": count_if(answered & (seconds >= args.conversation_seconds)),
               "inbound": count_if(Activity.direction == "inbound"), "duration": func.coalesce(func.sum(seconds), 0)}
    users: dict[Any, dict[str, Any]] = {}
    for user_id, *values in (await ctx.session.execute(
            select(Activity.user_id, *columns.values()).where(*where).group_by(Activity.user_id))).all():
        users[user_id] = {"user_id": user_id, **{k: int(v) for k, v in zip(columns, values, strict=True)},
                          "statuses": {}, "dispositions": {}}
    for name, column in (("statuses", Activity.status), ("dispositions", disposition)):
        for user_id, value, n in (await ctx.session.execute(
                select(Activity.user_id, column, func.count()).where(*where)
                .group_by(Activity.user_id, column))).all():
            users[user_id][name][value or "none"] = n
    total: dict[str, Any] = {"user_id": None, **{k: sum(u[k] for u in users.values()) for k in columns},
                             "statuses": defaultdict(int), "dispositions": defaultdict(int)}
    for row in users.values():
        row["connect_rate"] = ratio(row["answered"], row["dialed"])
        for name in ("statuses", "dispositions"):
            for key, n in row[name].items():
                total[name][key] += n
    total["connect_rate"] = ratio(total["answered"], total["dialed"])
    total |= {name: dict(total[name]) for name in ("statuses", "dispositions")}
    names = await members(ctx, scope.users)
    ordered = sorted(users.values(), key=lambda r: (r["user_id"] not in names, names.get(r["user_id"], ""),
                                                    r["user_id"] or ""))
    return {"period": scope.out(), "conversation_seconds": args.conversation_seconds, "total": total,
            "users": ordered}


# --- sales -----------------------------------------------------------------------------------------------------
LEADERBOARD = ["opportunities.won.count", "opportunities.won.value.sum", "opportunities.created.count",
               "calls.outbound.count", "emails.sent.count"]


async def sales_report(ctx: Ctx, args: schemas.PipelineArgs) -> dict[str, Any]:
    scope = await scope_of(ctx, args)
    where = [scope.only(Opportunity.owner_id), _pipeline(args.pipeline_id)]

    async def by_month(ctx: Ctx) -> tuple[dict[str, Any], dict[str, Any]]:  # won, and forecast by close month
        month = scope.period.bucket(Opportunity.date_won, "month", scope.dialect)
        won = {bucket_key(m): (n, int(v)) for m, n, v in (await ctx.session.execute(
            select(month, func.count(), func.coalesce(func.sum(Opportunity.value), 0))
            .where(*where, scope.period.within(Opportunity.date_won)).group_by(month))).all()}
        closes = month_of(Opportunity.expected_close_date, scope.dialect)
        active = select(Status.id).where(Status.kind == "opportunity",
                                         func.coalesce(Status.type, "active") == "active")
        forecast = {bucket_key(m): (n, int(v), w) for m, n, v, w in (await ctx.session.execute(
            select(closes, func.count(), func.coalesce(func.sum(Opportunity.value), 0),
                   func.coalesce(func.sum(weighted_value), 0))
            .where(*where, Opportunity.status_id.in_(active),
                   Opportunity.expected_close_date.between(scope.period.first, scope.period.last))
            .group_by(closes))).all()}
        return won, forecast

    (won, forecast), board, funnels, workflows = await together(
        ctx, by_month,
        partial(activity_report, args=schemas.ActivityReportArgs(
            date_start=scope.period.first, date_end=scope.period.last, users=scope.users, metrics=LEADERBOARD,
            type="comparison")),
        partial(opportunity_funnels, scope=scope, pipeline_id=args.pipeline_id),
        partial(workflow_performance, within=scope.period.within, only=scope.only))
    months = scope.period.buckets("month")
    return {
        "period": scope.out(),
        "won_by_month": [{"month": m, "count": won.get(m, (0, 0))[0], "value": won.get(m, (0, 0))[1]} for m in months],
        "stage_conversion": funnels,
        "forecast": [{"month": m, "count": forecast.get(m, (0, 0, 0))[0], "value": forecast.get(m, (0, 0, 0))[1],
                      "weighted_value": weighted(forecast.get(m, (0, 0, 0))[2])} for m in months],
        "leaderboard": sorted(board["rows"], key=lambda r: (-r["opportunities.won.value.sum"],
                                                           -r["opportunities.won.count"])),
        "workflow_performance": workflows,
    }


# --- status changes ----------------------------------------------------------------------------------------
async def status_change_report(ctx: Ctx, args: schemas.StatusChangeArgs, kind: str) -> dict[str, Any]:
    """Per status: started with, entered, left, created (new records starting in it), gained (created +
    entered), lost (left), ended with; ended_with = started_with + gained - lost. A status at a moment is
    today's status with the changes since undone, so the figures add up by construction of the data,
    not by arithmetic on the report."""
    scope = await scope_of(ctx, args)
    start, end = scope.period.start, scope.period.end
    if kind == "lead":
        if args.pipeline_id is not None:
            raise field_error("pipeline_id", "only for opportunity status changes")
        statuses = list(await ctx.session.scalars(select(Status).where(Status.kind == "lead").order_by(Status.id)))
        model: Any = Lead
        owned = [scope.only(Lead.owner_id)]
        ref, at = Activity.lead_id, Activity.activity_at
        old, new = Activity.data["old_status_id"].as_string(), Activity.data["new_status_id"].as_string()
        changed = [Activity.type == "status_change/lead"]
    else:
        statuses = await opportunity_statuses(ctx, args.pipeline_id)
        model = Opportunity
        owned = [scope.only(Opportunity.owner_id), _pipeline(args.pipeline_id)]
        ref, at = OpportunityChange.opportunity_id, OpportunityChange.at
        old, new = OpportunityChange.old_status_id, OpportunityChange.new_status_id
        changed = []

    # A status at a moment: of the records created before it, today's status with the changes since undone.
    # Both moments from one pass over the records and one over the changes since the period began.
    started: dict[str, int] = defaultdict(int)
    ended: dict[str, int] = defaultdict(int)
    for sid, before_start, before_end in (await ctx.session.execute(
            select(model.status_id, count_if(model.date_created < start), func.count())
            .where(model.date_created < end, *owned).group_by(model.status_id))).all():
        started[sid] += before_start
        ended[sid] += before_end
    entered: dict[str, int] = defaultdict(int)
    left: dict[str, int] = defaultdict(int)
    transitions = []
    for was, became, since_start, since_end, within in (await ctx.session.execute(
            select(old, new, count_if(model.date_created < start),
                   count_if((at >= end) & (model.date_created < end)), count_if(at < end))
            .join(model, model.id == ref).where(*changed, at >= start, *owned).group_by(old, new))).all():
        for counts, n in ((started, since_start), (ended, since_end)):  # undo what happened since
            if n:
                counts[became] -= n
                counts[was] += n
        if within:
            entered[became] += within
            left[was] += within
            transitions.append({"from_status_id": was, "to_status_id": became, "count": within})
    labels = {s.id: s.label for s in statuses}
    seen = [sid for sid in {**started, **ended, **entered, **left} if sid not in labels and sid is not None]
    rows = []
    for sid in [*labels, *seen]:
        created = ended.get(sid, 0) - started.get(sid, 0) - entered.get(sid, 0) + left.get(sid, 0)
        rows.append({"status_id": sid, "status_label": labels.get(sid, "(deleted status)"),
                     "started_with": started.get(sid, 0), "entered": entered.get(sid, 0), "left": left.get(sid, 0),
                     "created": created, "gained": created + entered.get(sid, 0), "lost": left.get(sid, 0),
                     "ended_with": ended.get(sid, 0)})
    transitions.sort(key=lambda t: (-t["count"], t["from_status_id"] or "", t["to_status_id"] or ""))
    return {"period": scope.out(), "statuses": rows, "transitions": transitions}


# --- sent emails -------------------------------------------------------------------------------------------
async def sent_emails_report(ctx: Ctx, args: schemas.ReportArgs) -> dict[str, Any]:
    """Sent emails that name a template, per template. Opens are not tracked (null); a reply is an inbound
    email later in the same thread. A template is named when it is one of the workspace's email templates
    (an ID from elsewhere, e.g. a sequence tool's, is reported as it is, without a name)."""
    scope = await scope_of(ctx, args)
    reply = aliased(Activity)
    replied = exists().where(reply.thread_id == Activity.thread_id, reply.type == "email",
                             reply.direction == "inbound", reply.activity_at > Activity.activity_at)
    rows = (await ctx.session.execute(
        select(template, func.count(), count_if(replied))
        .where(SENT[0], scope.period.within(Activity.activity_at), scope.only(Activity.user_id),
               template.is_not(None))
        .group_by(template).order_by(func.count().desc(), template))).all()
    names = {tid: name for tid, name in await ctx.session.execute(  # (a Result has keys(): no dict(result))
        select(EmailTemplate.id, EmailTemplate.name).where(EmailTemplate.id.in_([tid for tid, _, _ in rows])))}
    return {"period": scope.out(), "templates": [
        {"template_id": tid, "template_name": names.get(tid), "sent": n, "opened": None, "opened_ratio": None,
         "replied": int(r), "replied_ratio": ratio(int(r), n)} for tid, n, r in rows]}
