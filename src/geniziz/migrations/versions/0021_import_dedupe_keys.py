"""import deduplication looked up in the database: contact emails, lead sites and lead names by index

Revision ID: 0021
Revises: 0017
Create Date: 2026-11-26 19:45:00

An import finds existing records by contact email and by lead domain, a chunk of rows at a time, so
that its memory does not grow with the workspace or the file (flows/imports.py). Neither had an
exact-match index: a contact's emails are a list (`email_keys` is "|a@x|b@y|"; its trigram index takes
seconds per thousand addresses), and a lead's domain is inside its URL. So:

- `contact_email_key` (contact_id, organization_id, email): one row per address of a contact, written by
  triggers on `contact` (insert; update of email_keys or organization_id) from `email_keys`, deleted with
  the contact (ON DELETE CASCADE). Indexed by (organization_id, email).
- `ix_lead_site`: lead URLs without scheme and `www.`, lower-cased (SITE below), so the leads of a
  domain are one index range (`site >= 'acme.example' AND site < 'acme.example' || U+10FFFF`, then the
  exact domain is checked in Python). On SQLite after organization_id (its queries name the index); on
  PostgreSQL alone, in the "C" collation (where such a range is bytewise), and the query filters the
  workspace after the probe: given both conditions, a planner without statistics yet on a table being
  filled by an import picked a workspace index and read the whole workspace once per key.
- `ix_lead_lower_name`: lower(name) (after organization_id on SQLite, alone on PostgreSQL, as above),
  for the import's own leads named alike on rows of different chunks.

All hand-written (env.py: HAND_WRITTEN_TABLES, HAND_WRITTEN_INDEXES). Caveat, as for 0016: on SQLite a
later migration that rebuilds `contact` (batch ALTER) drops these triggers and must recreate them
(`create_triggers()` below is idempotent).
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0021'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same text as flows/imports.py's SITE_SQL: SQLite uses an expression index only for the same expression.
SITE = ("CASE WHEN lower(url) LIKE 'https://www.%' THEN substr(lower(url), 13) "
        "WHEN lower(url) LIKE 'http://www.%' THEN substr(lower(url), 12) "
        "WHEN lower(url) LIKE 'https://%' THEN substr(lower(url), 9) "
        "WHEN lower(url) LIKE 'http://%' THEN substr(lower(url), 8) "
        "WHEN lower(url) LIKE 'www.%' THEN substr(lower(url), 5) ELSE lower(url) END")

# SQLite: email_keys "|a|b|" as a JSON array, to split it without a recursive CTE (not allowed in triggers).
_SQLITE_KEYS = ("""json_each('["' || replace(replace(replace(trim({row}.email_keys, '|'), '\\', '\\\\'), """
                """'"', '\\"'), '|', '","') || '"]')""")


def create_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        insert = ("INSERT OR IGNORE INTO contact_email_key (contact_id, organization_id, email) "
                  f"SELECT new.id, new.organization_id, value FROM {_SQLITE_KEYS.format(row='new')} WHERE value <> '';")
        op.execute("DROP TRIGGER IF EXISTS contact_email_key_insert")
        op.execute("DROP TRIGGER IF EXISTS contact_email_key_update")
        op.execute(f"CREATE TRIGGER contact_email_key_insert AFTER INSERT ON contact BEGIN {insert} END")
        op.execute("CREATE TRIGGER contact_email_key_update AFTER UPDATE OF email_keys, organization_id ON contact "
                   f"BEGIN DELETE FROM contact_email_key WHERE contact_id = old.id; {insert} END")
        return
    op.execute("""
        CREATE OR REPLACE FUNCTION contact_email_key_sync() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                DELETE FROM contact_email_key WHERE contact_id = OLD.id;
            END IF;
            INSERT INTO contact_email_key (contact_id, organization_id, email)
                SELECT NEW.id, NEW.organization_id, e FROM unnest(string_to_array(NEW.email_keys, '|')) AS e
                WHERE e <> '' ON CONFLICT DO NOTHING;
            RETURN NULL;
        END $$""")
    op.execute("DROP TRIGGER IF EXISTS contact_email_key_insert ON contact")
    op.execute("DROP TRIGGER IF EXISTS contact_email_key_update ON contact")
    op.execute("CREATE TRIGGER contact_email_key_insert AFTER INSERT ON contact FOR EACH ROW "
               "EXECUTE FUNCTION contact_email_key_sync()")
    op.execute("CREATE TRIGGER contact_email_key_update AFTER UPDATE OF email_keys, organization_id ON contact "
               "FOR EACH ROW WHEN (OLD.email_keys IS DISTINCT FROM NEW.email_keys "
               "OR OLD.organization_id IS DISTINCT FROM NEW.organization_id) EXECUTE FUNCTION contact_email_key_sync()")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.execute("CREATE TABLE contact_email_key ("
               "contact_id VARCHAR(32) NOT NULL REFERENCES contact (id) ON DELETE CASCADE, "
               "organization_id VARCHAR(32) NOT NULL, email TEXT NOT NULL, PRIMARY KEY (contact_id, email))")
    op.execute("CREATE INDEX ix_contact_email_key_org_email ON contact_email_key (organization_id, email)")
    if sqlite:
        op.execute("INSERT OR IGNORE INTO contact_email_key (contact_id, organization_id, email) "
                   f"SELECT contact.id, contact.organization_id, value FROM contact, "
                   f"{_SQLITE_KEYS.format(row='contact')} WHERE value <> ''")
        op.execute(f"CREATE INDEX ix_lead_site ON lead (organization_id, ({SITE}))")
        op.execute("CREATE INDEX ix_lead_lower_name ON lead (organization_id, lower(name))")
    else:
        op.execute("INSERT INTO contact_email_key (contact_id, organization_id, email) "
                   "SELECT contact.id, contact.organization_id, e FROM contact, "
                   "unnest(string_to_array(contact.email_keys, '|')) AS e WHERE e <> '' ON CONFLICT DO NOTHING")
        op.execute(f'CREATE INDEX ix_lead_site ON lead ((({SITE})) COLLATE "C")')
        op.execute("CREATE INDEX ix_lead_lower_name ON lead (lower(name))")
    create_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS contact_email_key_insert")
        op.execute("DROP TRIGGER IF EXISTS contact_email_key_update")
    else:
        op.execute("DROP TRIGGER IF EXISTS contact_email_key_insert ON contact")
        op.execute("DROP TRIGGER IF EXISTS contact_email_key_update ON contact")
        op.execute("DROP FUNCTION IF EXISTS contact_email_key_sync()")
    op.execute("DROP INDEX IF EXISTS ix_lead_lower_name")
    op.execute("DROP INDEX IF EXISTS ix_lead_site")
    op.execute("DROP TABLE IF EXISTS contact_email_key")
