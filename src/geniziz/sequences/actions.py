"""A subscription's history: the steps it ran (with what they made) and its changes of status."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from geniziz.api.action import Action, Args, Scope, register_action
from geniziz.api.context import Ctx
from geniziz.sequences import resources
from geniziz.sequences.schemas import EventRead, History


class HistoryArgs(Args):
    subscription_id: str = Field(description="The sequence subscription's ID.")


async def _history(ctx: Ctx, args: HistoryArgs) -> dict[str, Any]:
    sub, events = await resources.sequence_subscription.service.history(ctx, args.subscription_id)
    return History(subscription_id=sub.id, status=sub.status,
                   data=[EventRead.model_validate(e) for e in events]).model_dump(mode="json")


register_action(Action(
    name="sequence_subscription_history", method="GET", path="/sequence_subscription/{subscription_id}/history/",
    input=HistoryArgs, output=History, scope=Scope.READ, rate_group="read", tag="Sequence subscription",
    run=_history, title="A sequence subscription's history",
    description="Oldest first: enrolled, each step run (sent/created/done/skipped, with its activity or task), "
                "pauses, resumes, errors and how it finished.",
))
