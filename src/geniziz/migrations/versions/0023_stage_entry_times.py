"""reports: each opportunity status change keeps the time of the opportunity's previous change

`opportunity_change.previous_at`: the time of the same opportunity's previous status change (the latest one
before it, ties by ID, as they were written), null for its first. With the opportunity's creation it is
when the opportunity entered the stage the change leaves, so the opportunity funnels' time to advance is a
sum over the cohort's changes instead of a window over them (ordering every cohort's changes per
opportunity at report time was most of the funnels' and the sales report's time).

Kept by triggers on `opportunity_change` on both databases (its rows are only inserted and deleted: 0019's
triggers rewrite a change as a delete and an insert): inserting or deleting a change recomputes its
opportunity's other changes (a handful of rows, by `ix_opportunity_change_org_opportunity`), writing only
those whose value moves. The creation is not stored: the report reads it from the opportunity it joins
anyway, so a backdated opportunity needs no trigger on `opportunity`.

On PostgreSQL also `ix_activity_contact`, a partial index of the contacts alone (outbound calls, sent
emails and SMS: what `leads.contacted.count` counts) with the columns it reads, so that its distinct count
reads a fifth of the entries `ix_activity_report` has for the same period, none of them filtered out
(hand-written: migrations/env.py lists it). The predicate is the one the report's query states
(geniziz.reports.service CONTACT), so that PostgreSQL can prove the index fits it.

`ix_opportunity_change_org_at` gains the column, so that the funnels' changes since the period began stay
an index-only scan. The upgrade fills the column in one pass; on PostgreSQL `report_summaries_rebuild`
(0019) fills it too. Caveat on SQLite: a migration that rebuilds `opportunity_change` (batch ALTER) drops
the triggers and must call `create_sqlite_triggers()` again.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-26 23:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import geniziz.db

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The previous change of the updated row's opportunity (same workspace): the latest before it, ties in ID
# order. (No alias for the updated table: SQLite allows none in a trigger's UPDATE.)
PREVIOUS = ("(SELECT max(p.at) FROM opportunity_change p "
            "WHERE p.organization_id = opportunity_change.organization_id "
            "AND p.opportunity_id = opportunity_change.opportunity_id AND (p.at < opportunity_change.at "
            "OR (p.at = opportunity_change.at AND p.id < opportunity_change.id)))")


def _refresh(org: str, opportunity: str) -> str:
    """Recompute one opportunity's changes, writing only those that move."""
    return (f"UPDATE opportunity_change SET previous_at = {PREVIOUS} WHERE organization_id = {org} "
            f"AND opportunity_id = {opportunity} AND previous_at IS DISTINCT FROM {PREVIOUS}")


PG_FUNCTION = f"""
CREATE FUNCTION opportunity_change_previous_trigger() RETURNS trigger AS $$
BEGIN
    IF current_setting('geniziz.rebuilding_changes', true) = 'on' THEN  -- report_summaries_rebuild fills them after
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        {_refresh("OLD.organization_id", "OLD.opportunity_id")};
    ELSE
        {_refresh("NEW.organization_id", "NEW.opportunity_id")};
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql
"""
PG_TRIGGERS = [
    "CREATE TRIGGER opportunity_change_previous_insert AFTER INSERT ON opportunity_change FOR EACH ROW "
    "WHEN (NEW.opportunity_id IS NOT NULL) EXECUTE FUNCTION opportunity_change_previous_trigger()",
    "CREATE TRIGGER opportunity_change_previous_delete AFTER DELETE ON opportunity_change FOR EACH ROW "
    "WHEN (OLD.opportunity_id IS NOT NULL) EXECUTE FUNCTION opportunity_change_previous_trigger()",
]
# Every change of a workspace at once (the backfill, and the rebuild after a bulk load).
FILL = ("UPDATE opportunity_change AS c SET previous_at = w.previous_at FROM (SELECT id, max(at) OVER ("
        "PARTITION BY organization_id, opportunity_id ORDER BY at, id ROWS BETWEEN UNBOUNDED PRECEDING AND "
        "1 PRECEDING) AS previous_at FROM opportunity_change WHERE opportunity_id IS NOT NULL{where}) AS w "
        "WHERE w.id = c.id AND c.previous_at IS DISTINCT FROM w.previous_at")
CHANGE_COLUMNS = "id, organization_id, opportunity_id, old_status_id, new_status_id, at"
CHANGE_TYPE = "'status_change/opportunity'"
OLD_REBUILD_CHANGES = ("INSERT INTO opportunity_change ({c}) SELECT a.id, a.organization_id, "
                       "left(a.data->>'opportunity_id', 32), left(a.data->>'old_status_id', 32), "
                       "left(a.data->>'new_status_id', 32), a.activity_at FROM activity a "
                       "WHERE a.organization_id = org AND a.type = {t}").format(c=CHANGE_COLUMNS, t=CHANGE_TYPE)


def _rebuild(fill: bool) -> str:
    """0019's report_summaries_rebuild; with this migration, the previous changes' times in one pass after
    it rather than by the row triggers (half the rebuild's time at a million activities)."""
    quiet, loud = (("PERFORM set_config('geniziz.rebuilding_changes', 'on', true);",
                    "PERFORM set_config('geniziz.rebuilding_changes', 'off', true);") if fill else ("", ""))
    return f"""
    CREATE OR REPLACE FUNCTION report_summaries_rebuild(org varchar) RETURNS void AS $$
    BEGIN
        PERFORM activity_day_rebuild(org);
        {quiet}
        DELETE FROM opportunity_change WHERE organization_id = org;
        {OLD_REBUILD_CHANGES};
        {FILL.format(where=" AND organization_id = org") + ";" if fill else ""}
        {loud}
    END $$ LANGUAGE plpgsql
    """


def create_sqlite_triggers() -> None:
    """SQLite's triggers (idempotent)."""
    for name in ("insert", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS opportunity_change_previous_{name}")
    op.execute("CREATE TRIGGER opportunity_change_previous_insert AFTER INSERT ON opportunity_change "
               f"WHEN NEW.opportunity_id IS NOT NULL BEGIN {_refresh('NEW.organization_id', 'NEW.opportunity_id')}"
               "; END")
    op.execute("CREATE TRIGGER opportunity_change_previous_delete AFTER DELETE ON opportunity_change "
               f"WHEN OLD.opportunity_id IS NOT NULL BEGIN {_refresh('OLD.organization_id', 'OLD.opportunity_id')}"
               "; END")


CONTACT_INDEX = ("CREATE INDEX ix_activity_contact ON activity (organization_id, activity_at) "
                 "INCLUDE (user_id, lead_id) "
                 "WHERE (type = 'call' AND direction = 'outbound') "
                 "OR (type = 'email' AND direction = 'outbound' AND status = 'sent') "
                 "OR (type = 'sms' AND direction = 'outbound' AND status = 'sent')")


def _index(columns: list[str]) -> None:
    op.drop_index('ix_opportunity_change_org_at', table_name='opportunity_change')
    op.create_index('ix_opportunity_change_org_at', 'opportunity_change', columns)


INDEX_COLUMNS = ['organization_id', 'at', 'opportunity_id', 'old_status_id', 'new_status_id']


def upgrade() -> None:
    op.add_column('opportunity_change', sa.Column('previous_at', geniziz.db.UTCDateTime(timezone=True),
                                                  nullable=True))
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(FILL.format(where=""))
        op.execute(PG_FUNCTION)
        for statement in PG_TRIGGERS:
            op.execute(statement)
        op.execute(_rebuild(fill=True))
        op.execute(CONTACT_INDEX)
    else:
        op.execute(f"UPDATE opportunity_change SET previous_at = {PREVIOUS}")
        create_sqlite_triggers()
    _index([*INDEX_COLUMNS, 'previous_at'])


def downgrade() -> None:
    _index(INDEX_COLUMNS)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_activity_contact")
        op.execute(_rebuild(fill=False))
        for name in ("insert", "delete"):
            op.execute(f"DROP TRIGGER opportunity_change_previous_{name} ON opportunity_change")
        op.execute("DROP FUNCTION opportunity_change_previous_trigger()")
    else:
        for name in ("insert", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS opportunity_change_previous_{name}")
    op.drop_column('opportunity_change', 'previous_at')
