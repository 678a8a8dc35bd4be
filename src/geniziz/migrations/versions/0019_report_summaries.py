"""reports: the activity metrics' summary per workspace, user and local day, and the opportunity status changes
as columns, both kept by triggers

`activity_day` (geniziz/reports/models.py): per workspace, local day (the workspace's time zone), activity
type (those the metrics read), user, direction and status, the number of activities and their call seconds. On PostgreSQL triggers
keep it in the writing transaction, whichever code writes: inserts, deletes (a deleted lead's activities
too, by cascade), a move to another workspace, and changes of user, time, type, direction, status or a
call's duration; a workspace's change of time zone rebuilds its rows. Triggers rather than event handlers
because activities are also written and removed outside the services (message sending sets status and
time on the ORM row, lead deletes cascade in the database, a lead move updates rows in bulk), and a
summary that misses one of them would be silently wrong.

SQLite: the table exists (the models are the same on both databases) but stays empty: SQLite has no time
zones to find a local day in a trigger, and the reports there read the activities.

`opportunity_change`: each status_change/opportunity activity's opportunity, old and new status and time
as indexed columns (they are in the activity's JSON), for the opportunity funnels and status changes, on
both databases: inserted by a trigger with the activity, rewritten when its time, type, workspace or data
change, deleted with it (foreign key, ON DELETE CASCADE).

On PostgreSQL also two opportunity indexes with the columns the reports read (INCLUDE), so that the cohorts
by creation and the won by date are index-only scans: `ix_opportunity_report_created` and
`ix_opportunity_report_won` (hand-written: migrations/env.py lists them).

The upgrade fills both from the activities already there (one pass each; about 30 s per million activities
on the shared test machine). On PostgreSQL `report_summaries_rebuild(workspace)` recomputes one workspace
(the bench calls it after loading with the triggers off). Caveat on SQLite, as for 0016's search triggers:
a later migration that rebuilds `activity` (batch ALTER) drops the triggers and must recreate them
(`create_sqlite_triggers()` below).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-26 19:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import geniziz.db

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql')

# A call's seconds as the summary counts them (0 for other types, and for a duration that is not a number).
SECONDS = ("CASE WHEN {r}.type = 'call' AND jsonb_typeof({r}.data->'duration') = 'number' "
           "THEN floor(({r}.data->>'duration')::numeric)::bigint ELSE 0 END")
KEY = "organization_id, day, type, user_id, direction, status"
# The activity types the metrics read (geniziz.reports.models.SUMMARIZED_TYPES at the time of this migration):
# system-written ones (created, status changes) stay out, so that writing them touches no summary row.
TYPES = "('call', 'email', 'sms', 'note', 'meeting', 'task_completed')"


def _group(where: str) -> str:
    """The summary rows of the activities matching `where`, in local days of their workspace's zone."""
    return (f"INSERT INTO activity_day ({KEY}, n, duration) "
            "SELECT a.organization_id, timezone(o.time_zone, a.activity_at)::date, a.type, coalesce(a.user_id, ''), "
            f"coalesce(a.direction, ''), coalesce(a.status, ''), count(*), sum({SECONDS.format(r='a')}) "
            f"FROM activity a JOIN organization o ON o.id = a.organization_id WHERE a.type IN {TYPES} {where} "
            "GROUP BY 1, 2, 3, 4, 5, 6")


PG_FUNCTIONS = [
    # One activity in (+1) or out (-1) of its summary row. Out only updates: the row exists (the activity was
    # counted), and during a workspace's deletion an insert would name a workspace being deleted.
    f"""
    CREATE FUNCTION activity_day_add(org varchar, who varchar, at timestamptz, kind varchar, dir varchar,
                                     st varchar, seconds bigint, delta integer) RETURNS void AS $$
    BEGIN
        IF delta > 0 THEN
            INSERT INTO activity_day AS d ({KEY}, n, duration)
            SELECT org, timezone(o.time_zone, at)::date, kind, coalesce(who, ''), coalesce(dir, ''),
                   coalesce(st, ''), 1, seconds
            FROM organization o WHERE o.id = org
            ON CONFLICT ({KEY}) DO UPDATE SET n = d.n + 1, duration = d.duration + excluded.duration;
        ELSE
            UPDATE activity_day d SET n = d.n - 1, duration = d.duration - seconds
            FROM organization o
            WHERE o.id = org AND d.organization_id = org AND d.day = timezone(o.time_zone, at)::date
              AND d.type = kind AND d.user_id = coalesce(who, '') AND d.direction = coalesce(dir, '')
              AND d.status = coalesce(st, '');
        END IF;
    END $$ LANGUAGE plpgsql
    """,
    f"""
    CREATE FUNCTION activity_day_trigger() RETURNS trigger AS $$
    BEGIN
        IF TG_OP <> 'INSERT' AND OLD.type IN {TYPES} THEN
            PERFORM activity_day_add(OLD.organization_id, OLD.user_id, OLD.activity_at, OLD.type, OLD.direction,
                                     OLD.status, {SECONDS.format(r='OLD')}, -1);
        END IF;
        IF TG_OP <> 'DELETE' AND NEW.type IN {TYPES} THEN
            PERFORM activity_day_add(NEW.organization_id, NEW.user_id, NEW.activity_at, NEW.type, NEW.direction,
                                     NEW.status, {SECONDS.format(r='NEW')}, 1);
        END IF;
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    f"""
    CREATE FUNCTION activity_day_rebuild(org varchar) RETURNS void AS $$
    BEGIN
        DELETE FROM activity_day WHERE organization_id = org;
        {_group("AND a.organization_id = org")};
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE FUNCTION activity_day_zone_trigger() RETURNS trigger AS $$
    BEGIN
        PERFORM activity_day_rebuild(NEW.id);
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
]
CHANGE_COLUMNS = "id, organization_id, opportunity_id, old_status_id, new_status_id, at"
CHANGE_TYPE = "'status_change/opportunity'"


def _changes(dialect: str, r: str) -> str:
    """The opportunity_change columns of activity (row) `r`."""
    if dialect == "postgresql":
        ref = "left({r}.data->>'{name}', 32)"
    else:
        ref = "json_extract({r}.data, '$.{name}')"
    refs = ", ".join(ref.format(r=r, name=n) for n in ("opportunity_id", "old_status_id", "new_status_id"))
    return f"{r}.id, {r}.organization_id, {refs}, {r}.activity_at"


PG_FUNCTIONS += [
    f"""
    CREATE FUNCTION opportunity_change_trigger() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            DELETE FROM opportunity_change WHERE id = OLD.id;
        END IF;
        IF NEW.type = {CHANGE_TYPE} THEN
            INSERT INTO opportunity_change ({CHANGE_COLUMNS}) VALUES ({_changes("postgresql", "NEW")});
        END IF;
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    f"""
    CREATE FUNCTION report_summaries_rebuild(org varchar) RETURNS void AS $$
    BEGIN
        PERFORM activity_day_rebuild(org);
        DELETE FROM opportunity_change WHERE organization_id = org;
        INSERT INTO opportunity_change ({CHANGE_COLUMNS}) SELECT {_changes("postgresql", "a")} FROM activity a
        WHERE a.organization_id = org AND a.type = {CHANGE_TYPE};
    END $$ LANGUAGE plpgsql
    """,
]
PG_TRIGGERS = [
    f"CREATE TRIGGER opportunity_change_insert AFTER INSERT ON activity FOR EACH ROW "
    f"WHEN (NEW.type = {CHANGE_TYPE}) EXECUTE FUNCTION opportunity_change_trigger()",
    f"CREATE TRIGGER opportunity_change_update AFTER UPDATE OF organization_id, type, activity_at, data ON activity "
    f"FOR EACH ROW WHEN (OLD.type = {CHANGE_TYPE} OR NEW.type = {CHANGE_TYPE}) "
    "EXECUTE FUNCTION opportunity_change_trigger()",
    f"CREATE TRIGGER activity_day_insert AFTER INSERT ON activity FOR EACH ROW WHEN (NEW.type IN {TYPES}) "
    "EXECUTE FUNCTION activity_day_trigger()",
    f"CREATE TRIGGER activity_day_delete AFTER DELETE ON activity FOR EACH ROW WHEN (OLD.type IN {TYPES}) "
    "EXECUTE FUNCTION activity_day_trigger()",
    # Only updates that move an activity between summary rows (most updates edit text or lead).
    "CREATE TRIGGER activity_day_update AFTER UPDATE OF organization_id, user_id, activity_at, type, direction, "
    f"status, data ON activity FOR EACH ROW WHEN ((OLD.type IN {TYPES} OR NEW.type IN {TYPES}) AND "
    "(OLD.organization_id IS DISTINCT FROM NEW.organization_id "
    "OR OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.activity_at IS DISTINCT FROM NEW.activity_at "
    "OR OLD.type IS DISTINCT FROM NEW.type OR OLD.direction IS DISTINCT FROM NEW.direction "
    "OR OLD.status IS DISTINCT FROM NEW.status OR (OLD.data->'duration') IS DISTINCT FROM (NEW.data->'duration'))) "
    "EXECUTE FUNCTION activity_day_trigger()",
    "CREATE TRIGGER activity_day_zone AFTER UPDATE OF time_zone ON organization FOR EACH ROW "
    "WHEN (OLD.time_zone IS DISTINCT FROM NEW.time_zone) EXECUTE FUNCTION activity_day_zone_trigger()",
]


PG_INDEXES = {
    "ix_opportunity_report_created": "opportunity (organization_id, date_created) "
                                     "INCLUDE (id, owner_id, pipeline_id, status_id, value, confidence, date_won)",
    "ix_opportunity_report_won": "opportunity (organization_id, date_won) INCLUDE (owner_id, pipeline_id, value, "
                                 "value_period)",
}


def create_sqlite_triggers() -> None:
    """SQLite's opportunity_change triggers (idempotent)."""
    op.execute("DROP TRIGGER IF EXISTS opportunity_change_insert")
    op.execute("DROP TRIGGER IF EXISTS opportunity_change_update")
    op.execute(f"CREATE TRIGGER opportunity_change_insert AFTER INSERT ON activity WHEN NEW.type = {CHANGE_TYPE} "
               f"BEGIN INSERT INTO opportunity_change ({CHANGE_COLUMNS}) VALUES ({_changes('sqlite', 'NEW')}); END")
    op.execute("CREATE TRIGGER opportunity_change_update AFTER UPDATE OF organization_id, type, activity_at, data "
               f"ON activity WHEN OLD.type = {CHANGE_TYPE} OR NEW.type = {CHANGE_TYPE} BEGIN "
               "DELETE FROM opportunity_change WHERE id = OLD.id; "
               f"INSERT INTO opportunity_change ({CHANGE_COLUMNS}) SELECT {_changes('sqlite', 'NEW')} "
               f"WHERE NEW.type = {CHANGE_TYPE}; END")


def upgrade() -> None:
    op.create_table(
        'activity_day',
        sa.Column('organization_id', ID, nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('type', sa.String(length=40), nullable=False),
        sa.Column('user_id', ID, nullable=False),
        sa.Column('direction', sa.String(length=20), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.Column('duration', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                                name=op.f('fk_activity_day_organization_id_organization'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('organization_id', 'day', 'type', 'user_id', 'direction', 'status',
                                name=op.f('pk_activity_day')),
    )
    op.create_table(
        'opportunity_change',
        sa.Column('id', ID, nullable=False),
        sa.Column('organization_id', ID, nullable=False),
        sa.Column('opportunity_id', ID, nullable=True),
        sa.Column('old_status_id', ID, nullable=True),
        sa.Column('new_status_id', ID, nullable=True),
        sa.Column('at', geniziz.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['id'], ['activity.id'], name=op.f('fk_opportunity_change_id_activity'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                                name=op.f('fk_opportunity_change_organization_id_organization'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_opportunity_change')),
    )
    dialect = op.get_bind().dialect.name
    # The activities already there (before the indexes: one sorted build each, not row by row).
    op.execute(f"INSERT INTO opportunity_change ({CHANGE_COLUMNS}) SELECT {_changes(dialect, 'a')} FROM activity a "
               f"WHERE a.type = {CHANGE_TYPE}")
    op.create_index('ix_opportunity_change_org_at', 'opportunity_change',
                    ['organization_id', 'at', 'opportunity_id', 'old_status_id', 'new_status_id'])
    op.create_index('ix_opportunity_change_org_opportunity', 'opportunity_change',
                    ['organization_id', 'opportunity_id', 'at'])
    if dialect != "postgresql":
        create_sqlite_triggers()
        return
    for statement in PG_FUNCTIONS + PG_TRIGGERS:
        op.execute(statement)
    op.execute(_group(""))  # the activities already there
    for name, definition in PG_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {definition}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in PG_INDEXES:
            op.execute(f"DROP INDEX {name}")
        op.execute("DROP TRIGGER opportunity_change_update ON activity")
        op.execute("DROP TRIGGER opportunity_change_insert ON activity")
        op.execute("DROP FUNCTION report_summaries_rebuild(varchar)")
        op.execute("DROP FUNCTION opportunity_change_trigger()")
        op.execute("DROP TRIGGER activity_day_zone ON organization")
        op.execute("DROP TRIGGER activity_day_update ON activity")
        op.execute("DROP TRIGGER activity_day_insert ON activity")
        op.execute("DROP TRIGGER activity_day_delete ON activity")
        for function in ("activity_day_zone_trigger()", "activity_day_rebuild(varchar)", "activity_day_trigger()",
                         "activity_day_add(varchar, varchar, timestamptz, varchar, varchar, varchar, bigint, integer)"):
            op.execute(f"DROP FUNCTION {function}")
    else:
        op.execute("DROP TRIGGER IF EXISTS opportunity_change_update")
        op.execute("DROP TRIGGER IF EXISTS opportunity_change_insert")
    op.drop_table('opportunity_change')
    op.drop_table('activity_day')
