"""Sequences and their subscriptions (the history action is in actions.py)."""

from geniziz.api.resource import Resource, register
from geniziz.sequences import (
    engine,  # noqa: F401 - the periodic runners that run due steps
    handlers,  # noqa: F401 - the stop rules
)
from geniziz.sequences import schemas as s
from geniziz.sequences.service import SequenceService, SubscriptionService

sequence = register(Resource(
    name="sequence", title="Sequence", service=SequenceService(), read_schema=s.SequenceRead,
    create_schema=s.SequenceCreate, update_schema=s.SequenceUpdate, filters=s.SequenceFilters,
    description="Automated outreach: ordered steps (email, sms, call, task, update_lead_status, assign_user), "
                "each after a delay, run inside the sending windows of its time zone.",
))

sequence_subscription = register(Resource(
    name="sequence_subscription", title="Sequence subscription", service=SubscriptionService(),
    read_schema=s.SubscriptionRead, create_schema=s.SubscriptionCreate, update_schema=s.SubscriptionUpdate,
    filters=s.SubscriptionFilters,
    description="A contact enrolled in a sequence. PUT {status: paused|active} pauses (optionally until "
                "paused_until) and resumes; DELETE stops it (finished, reason manual). Replies, bounces, "
                "unsubscribes, meetings and the goal status finish it.",
))
