"""Report inputs (validated like any body: unknown fields and bad values are a 400 naming the field) and outputs.

Money is in cents, as everywhere. Ratios are 0-1 floats (null when their denominator is 0), durations seconds.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from geniziz.api.action import Args, FieldsArg
from geniziz.api.schemas import ReadModel
from geniziz.reports.periods import Interval, RelativeRange

UserIds = Annotated[list[Annotated[str, Field(max_length=40)]], Field(max_length=200)]


class ReportArgs(Args):
    date_start: date | None = Field(None, description="First local day (with date_end), e.g. 2026-01-01.")
    date_end: date | None = Field(None, description="Last local day, included.")
    relative_range: RelativeRange | None = Field(None, examples=["last_30_days"], description=(
        "Instead of dates: today, yesterday, this_/last_ week, month, quarter, year, last_7/30/90_days."))
    users: UserIds | None = Field(None, description="Only these users' records (user IDs).")


class MetricsArgs(Args):
    limit: int = Field(100, alias="_limit", ge=1, le=200, description="1-200, default 100.")
    skip: int = Field(0, alias="_skip", ge=0, description="Metrics to skip.")
    fields: FieldsArg = None


class ActivityReportArgs(ReportArgs):
    metrics: Annotated[list[str], Field(max_length=50)] | None = Field(
        None, description="Metric keys (GET /report/activity/); all when left out.")
    type: Literal["overview", "comparison"] = Field(
        "overview", description="overview: one row per day/week/month; comparison: one row per user.")
    interval: Interval = Field("day", description="overview only: day, week or month.")


class PipelineArgs(ReportArgs):
    pipeline_id: str | None = Field(None, description="Only this pipeline.")


class CallsFunnelArgs(ReportArgs):
    conversation_seconds: int = Field(60, ge=0, le=86400, description="A connected call this long is a conversation.")


class StatusChangeArgs(ReportArgs):
    pipeline_id: str | None = Field(None, description="Opportunities: only this pipeline's statuses.")


# --- outputs ---------------------------------------------------------------------------------------------
class PeriodOut(BaseModel):
    date_start: date
    date_end: date
    time_zone: str


class MetricOut(ReadModel):
    key: str
    name: str
    description: str


class MetricList(ReadModel):
    data: list[MetricOut]
    has_more: bool


class ActivityReport(ReadModel):
    period: PeriodOut
    type: str
    interval: str | None
    metrics: list[str]
    totals: dict[str, int]
    rows: list[dict[str, Any]] = Field(description="{date, <metric>: n} per period, or {user_id, user_name, ...}.")


class StatusTotal(ReadModel):
    status_id: str
    status_label: str
    status_type: str | None
    pipeline_id: str | None
    count: int
    value: int
    weighted_value: int


class Totals(ReadModel):
    count: int
    value: int


class FunnelReport(ReadModel):
    period: PeriodOut
    statuses: list[StatusTotal] = Field(description="Opportunities now in each status (snapshot).")
    active: Totals
    won_in_period: Totals
    lost_in_period: Totals


class Stage(ReadModel):
    status_id: str
    status_label: str
    count: int = Field(description="Opportunities now in this stage.")
    reached: int = Field(description="Opportunities that were at this stage or beyond (won included).")
    conversion_to_next: float | None
    lost: int = Field(description="Lost after this was the furthest stage they reached.")
    lost_ratio: float | None
    value: int
    weighted_value: int
    average_seconds_to_advance: float | None = Field(description=(
        "From entering this stage (the previous status change, else creation) to a change that moves the "
        "opportunity further, averaged over those that did; null when none did."))


class PipelineFunnel(ReadModel):
    pipeline_id: str
    pipeline_name: str
    stages: list[Stage]
    won: Totals
    lost: Totals
    win_rate_by_count: float | None
    win_rate_by_value: float | None
    average_seconds_to_win: float | None
    sales_velocity_per_day: float | None = Field(
        description="Open opportunities x win rate x average won value / average days to win, at least 1 "
                    "(cents a day).")


class OpportunityFunnelsReport(ReadModel):
    period: PeriodOut
    pipelines: list[PipelineFunnel] = Field(description="Over the opportunities created in the period.")


class CallRow(ReadModel):
    user_id: str | None
    dialed: int
    answered: int
    connect_rate: float | None
    conversations: int
    inbound: int
    duration: int
    statuses: dict[str, int]
    dispositions: dict[str, int]


class CallsFunnelReport(ReadModel):
    period: PeriodOut
    conversation_seconds: int
    total: CallRow
    users: list[CallRow]


class SalesReport(ReadModel):
    period: PeriodOut
    won_by_month: list[dict[str, Any]]
    stage_conversion: list[PipelineFunnel]
    forecast: list[dict[str, Any]] = Field(description="Open opportunities by expected close month.")
    leaderboard: list[dict[str, Any]]
    workflow_performance: list[dict[str, Any]] = Field(description=(
        "Per sequence (and per step): enrolled, sent, replied, bounced and finished (by reason) in the period; "
        "active, paused and error now."))


class StatusChangeRow(ReadModel):
    status_id: str
    status_label: str
    started_with: int
    entered: int
    left: int
    created: int
    gained: int
    lost: int
    ended_with: int


class StatusChangeReport(ReadModel):
    period: PeriodOut
    statuses: list[StatusChangeRow]
    transitions: list[dict[str, Any]] = Field(description="{from_status_id, to_status_id, count}.")


class TemplateRow(ReadModel):
    template_id: str
    template_name: str | None = Field(description="The email template's name; null for an ID that names none.")
    sent: int
    opened: int | None = Field(description="Null: opens are not tracked.")
    opened_ratio: float | None
    replied: int
    replied_ratio: float | None


class SentEmailsReport(ReadModel):
    period: PeriodOut
    templates: list[TemplateRow]
