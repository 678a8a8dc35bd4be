"""Workflow performance (the sales report's section): per sequence and per step, from the recorded events."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import ColumnElement, func, select

from geniziz.api.context import Ctx
from geniziz.sequences.models import Sequence, SequenceEvent, SequenceSubscription

STEP_OUTCOMES = ("sent", "created", "skipped")


async def workflow_performance(ctx: Ctx, within: Any, only: Any) -> list[dict[str, Any]]:
    """``within(column)``: the report's period; ``only(column)``: its users (who enrolled the contact).

    Enrolled, sent, replied, bounced and finished count what happened in the period; active, paused and
    error are the subscriptions in that state now. A reply or bounce counts against the last step run.
    """
    Sub, Event = SequenceSubscription, SequenceEvent
    mine: ColumnElement[bool] = Event.subscription_id.in_(select(Sub.id).where(only(Sub.created_by)))
    enrolled = {sequence_id: n for sequence_id, n in (await ctx.session.execute(
        select(Sub.sequence_id, func.count()).where(within(Sub.date_created), only(Sub.created_by))
        .group_by(Sub.sequence_id))).tuples()}
    now: dict[str, dict[str, int]] = defaultdict(dict)
    for sequence_id, status, n in (await ctx.session.execute(
            select(Sub.sequence_id, Sub.status, func.count()).where(Sub.status != "finished", only(Sub.created_by))
            .group_by(Sub.sequence_id, Sub.status))).tuples():
        now[sequence_id][status] = n
    steps: dict[str, dict[int, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    finished: dict[str, dict[str, int]] = defaultdict(dict)
    for sequence_id, kind, index, outcome, n in (await ctx.session.execute(
            select(Event.sequence_id, Event.kind, Event.step_index, Event.outcome, func.count())
            .where(Event.kind.in_(("step", "finished")), within(Event.date_created), mine)
            .group_by(Event.sequence_id, Event.kind, Event.step_index, Event.outcome))).tuples():
        if kind == "finished":
            finished[sequence_id][outcome] = finished[sequence_id].get(outcome, 0) + n
            if outcome in ("replied", "bounced") and index is not None:
                steps[sequence_id][index][outcome] += n
        elif outcome in STEP_OUTCOMES:
            steps[sequence_id][index][outcome] += n
    rows = []
    for sequence in await ctx.session.scalars(select(Sequence).order_by(Sequence.name, Sequence.id)):
        per_step = steps[sequence.id]
        rows.append({
            "sequence_id": sequence.id, "name": sequence.name, "status": sequence.status,
            "enrolled": enrolled.get(sequence.id, 0),
            **{state: now[sequence.id].get(state, 0) for state in ("active", "paused", "error")},
            "sent": sum(s["sent"] for s in per_step.values()),
            "replied": finished[sequence.id].get("replied", 0), "bounced": finished[sequence.id].get("bounced", 0),
            "finished": finished[sequence.id],
            "steps": [{"step_index": i, "type": step["type"],
                       **{name: per_step[i][name] for name in (*STEP_OUTCOMES, "replied", "bounced")}}
                      for i, step in enumerate(sequence.steps)],
        })
    return rows
