"""The report actions (the spec's "Report" group): each declared once for REST (JSON, or CSV with
``Accept: text/csv``), OpenAPI and MCP (through run_action), at read scope in the heavy rate group."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from geniziz.api.action import Action, Args, Run, Scope, joined, register_action
from geniziz.api.context import Ctx
from geniziz.api.resource import parse_fields
from geniziz.reports import schemas, service


def report(name: str, path: str, input: type[Args], output: type[BaseModel], run: Run, title: str,
           description: str, rows: Callable[[dict[str, Any]], list[dict[str, Any]]], method: str = "POST") -> None:
    register_action(Action(name=name, method=method, path=path, input=input, output=output, scope=Scope.READ,
                           rate_group="heavy", tag="Report", title=title, description=description, run=run,
                           csv_rows=rows))


async def _metrics(ctx: Ctx, args: schemas.MetricsArgs) -> dict[str, Any]:
    page = service.metric_catalog(args.limit, args.skip)
    wanted = parse_fields(joined(args.fields), schemas.MetricOut.model_fields)
    if wanted is not None:
        page["data"] = [{k: v for k, v in item.items() if k in wanted} for item in page["data"]]
    return page


def _stages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"pipeline_id": p["pipeline_id"], "pipeline_name": p["pipeline_name"], **stage}
            for p in body["pipelines"] for stage in p["stages"]]


def _sales(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"section": section, **row} for section in ("won_by_month", "forecast", "leaderboard")
            for row in body[section]]


PERIOD = " Period: date_start+date_end (local days) or relative_range; users filters by user."

report("report_metrics", "/report/activity/", schemas.MetricsArgs, schemas.MetricList, _metrics, method="GET",
       title="The activity report's metrics catalog", description="{key, name, description} of each metric.",
       rows=lambda body: body["data"])
report("report_activity", "/report/activity/", schemas.ActivityReportArgs, schemas.ActivityReport,
       service.activity_report, title="Activity metrics per day/week/month or per user",
       description="Totals plus one row per period (overview) or per user (comparison)." + PERIOD,
       rows=lambda body: body["rows"])
report("report_funnel", "/report/funnel/", schemas.PipelineArgs, schemas.FunnelReport, service.funnel_report,
       title="Opportunities by status now, and won in the period",
       description="Count, value and weighted value per status." + PERIOD, rows=lambda body: body["statuses"])
report("report_opportunity_funnels", "/report/opportunity_funnels/", schemas.PipelineArgs,
       schemas.OpportunityFunnelsReport, service.opportunity_funnels_report,
       title="Stage funnel per pipeline for opportunities created in the period",
       description="Reached, conversion, lost, value per stage; win rates, time to win, velocity." + PERIOD,
       rows=_stages)
report("report_calls_funnel", "/report/calls_funnel/", schemas.CallsFunnelArgs, schemas.CallsFunnelReport,
       service.calls_funnel_report, title="Calls: dialed, answered, conversations, outcomes",
       description="Per user and in total; connect rate = answered/dialed." + PERIOD,
       rows=lambda body: [*body["users"], body["total"]])
report("report_sales", "/report/sales/", schemas.PipelineArgs, schemas.SalesReport, service.sales_report,
       title="Won revenue by month, stage conversion, forecast and leaderboard",
       description="workflow_performance: per sequence and step." + PERIOD, rows=_sales)


async def _lead_changes(ctx: Ctx, args: schemas.StatusChangeArgs) -> dict[str, Any]:
    return await service.status_change_report(ctx, args, "lead")


async def _opportunity_changes(ctx: Ctx, args: schemas.StatusChangeArgs) -> dict[str, Any]:
    return await service.status_change_report(ctx, args, "opportunity")


for kind, run in (("lead", _lead_changes), ("opportunity", _opportunity_changes)):
    report(f"report_{kind}_status_changes", f"/report/status_change/{kind}/", schemas.StatusChangeArgs,
           schemas.StatusChangeReport, run, title=f"{kind.capitalize()} status changes in a period",
           description="Per status: started with, entered, left, created, gained, lost, ended with; "
                       "and from->to counts." + PERIOD, rows=lambda body: body["statuses"])
report("report_sent_emails", "/report/sent_emails/", schemas.ReportArgs, schemas.SentEmailsReport,
       service.sent_emails_report, title="Sent emails per template: sent, replied",
       description="Opens are not tracked (null)." + PERIOD, rows=lambda body: body["templates"])
