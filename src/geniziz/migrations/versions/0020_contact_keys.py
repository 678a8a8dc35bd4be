"""contact_key: a B-tree of every contact's normalized emails and phones, kept by database triggers

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-26 19:40:00

The contact `email` / `phone` filters ask whether a whole normalized key is one of the contact's
(`email_keys` LIKE '%|ann@acme.io|%'). The trigram indexes of 0016 answer that by intersecting the lists
of every trigram of the key, and `com`, `+15`, `555` are in nearly every row: 20-25 ms on PostgreSQL and
85-450 ms on SQLite at a million contacts. One row per (kind, key, workspace, contact) in a B-tree answers
the same question in one index descent (geniziz/leads/search.py `keyed`).

The rows are the `|`-separated parts of `contact.email_keys` / `phone_keys` (already lower-cased by the
service), so `value = key` holds exactly when `LIKE '%|key|%'` did (for a key without `|`). Triggers in
the database keep them, so every writer agrees with it: the services, bulk inserts (imports), workspace
moves (UPDATE of organization_id), deletes cascading from a lead. A merge changes contacts' lead_id only,
which the table does not hold.

Hand-written (env.py HAND_WRITTEN_TABLES): no model maps it, so workspace moves and autogenerate leave it
to the triggers. On SQLite a later migration that rebuilds `contact` (batch ALTER) drops the triggers and
must call `create_sqlite_triggers()` again (tests/test_search.py checks they exist).
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# IDs compare like the tables' own (collation "C" on PostgreSQL).
TABLE = ("CREATE TABLE contact_key (kind VARCHAR(8) NOT NULL, value TEXT NOT NULL, "
         "organization_id VARCHAR(32){c} NOT NULL, contact_id VARCHAR(32){c} NOT NULL, "
         "CONSTRAINT pk_contact_key PRIMARY KEY (kind, value, organization_id, contact_id))")
INDEX = "CREATE INDEX ix_contact_key_contact ON contact_key (contact_id)"  # the trigger's deletes
COLUMNS = "(kind, value, organization_id, contact_id)"

# SQLite: triggers allow no WITH (a recursive split), so "|a|b|" becomes the JSON array ["","a","b",""]
# for json_each (backslashes and quotes escaped; emails and E.164 phones hold no control characters, and
# a malformed string yields no keys rather than a failed write).
_SQLITE_JSON = """'["' || replace(replace(replace({col}, '\\', '\\\\'), '"', '\\"'), '|', '","') || '"]'"""


def _sqlite_inserts(row: str, source: str = "") -> list[str]:
    """INSERTs of the keys of `row` (`new` in a trigger, or an alias that `source` names)."""
    statements = []
    for kind in ("email", "phone"):
        array = _SQLITE_JSON.format(col=f"{row}.{kind}_keys")
        statements.append(
            f"INSERT INTO contact_key {COLUMNS} SELECT DISTINCT '{kind}', j.value, {row}.organization_id, {row}.id "
            f"FROM {source}json_each(CASE WHEN json_valid({array}) THEN {array} ELSE '[]' END) AS j "
            f"WHERE j.value <> ''")
    return statements


def create_sqlite_triggers() -> None:
    for name in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS contact_key_{name}")
    inserts = "".join(f"{s}; " for s in _sqlite_inserts("new"))
    op.execute(f"CREATE TRIGGER contact_key_insert AFTER INSERT ON contact BEGIN {inserts}END")
    op.execute("CREATE TRIGGER contact_key_delete AFTER DELETE ON contact BEGIN "
               "DELETE FROM contact_key WHERE contact_id = old.id; END")
    # Only when a key or the workspace changes (a move); most contact updates leave them alone.
    op.execute(f"CREATE TRIGGER contact_key_update AFTER UPDATE OF email_keys, phone_keys, organization_id, id "
               f"ON contact BEGIN DELETE FROM contact_key WHERE contact_id = old.id; {inserts}END")


PG_FUNCTION = """
CREATE OR REPLACE FUNCTION contact_key_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM contact_key WHERE contact_id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO contact_key (kind, value, organization_id, contact_id)
        SELECT DISTINCT k.kind, k.value, NEW.organization_id, NEW.id FROM (
            SELECT 'email' AS kind, unnest(string_to_array(NEW.email_keys, '|')) AS value
            UNION ALL SELECT 'phone', unnest(string_to_array(NEW.phone_keys, '|'))) AS k
        WHERE k.value <> '';
    END IF;
    RETURN NULL;
END $$
"""
PG_BACKFILL = """
INSERT INTO contact_key (kind, value, organization_id, contact_id)
SELECT DISTINCT k.kind, k.value, c.organization_id, c.id FROM contact AS c CROSS JOIN LATERAL (
    SELECT 'email' AS kind, unnest(string_to_array(c.email_keys, '|')) AS value
    UNION ALL SELECT 'phone', unnest(string_to_array(c.phone_keys, '|'))) AS k
WHERE k.value <> ''
"""


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite: WITHOUT ROWID, the rows live in the key's B-tree.
    op.execute(TABLE.format(c="") + " WITHOUT ROWID" if sqlite else TABLE.format(c=' COLLATE "C"'))
    if sqlite:
        for statement in _sqlite_inserts("c", "contact AS c, "):
            op.execute(statement)
        op.execute(INDEX)
        create_sqlite_triggers()
    else:
        op.execute(PG_BACKFILL)
        op.execute(INDEX)
        # Statistics now, not at autovacuum's next pass: without them the planner may guess that a key
        # matches many contacts and walk the workspace newest first instead.
        op.execute("ANALYZE contact_key")
        op.execute(PG_FUNCTION)
        op.execute("CREATE TRIGGER contact_key_sync AFTER INSERT OR DELETE OR UPDATE OF email_keys, phone_keys, "
                   "organization_id, id ON contact FOR EACH ROW EXECUTE FUNCTION contact_key_sync()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS contact_key_{name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS contact_key_sync ON contact")
        op.execute("DROP FUNCTION IF EXISTS contact_key_sync()")
    op.execute("DROP TABLE IF EXISTS contact_key")
