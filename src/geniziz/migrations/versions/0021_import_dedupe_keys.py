"""import deduplication looked up in the database: lead sites and lead names by index

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-26 19:45:00

An import finds existing records by contact email and by lead domain, a chunk of rows at a time, so
that its memory does not grow with the workspace or the file (flows/imports.py). Contact emails are
exact keys in `contact_key` (0020). A lead's domain is inside its URL, and the import's own leads are
matched by name across chunks, so:

- `ix_lead_site`: lead URLs without scheme and `www.`, lower-cased (SITE below), so the leads of a
  domain are one index range (`site >= 'acme.example' AND site < 'acme.example' || U+10FFFF`, then the
  exact domain is checked in Python). On SQLite after organization_id (its queries name the index); on
  PostgreSQL alone, in the "C" collation (where such a range is bytewise), and the query filters the
  workspace after the probe: given both conditions, a planner without statistics yet on a table being
  filled by an import picked a workspace index and read the whole workspace once per key.
- `ix_lead_lower_name`: lower(name) (after organization_id on SQLite, alone on PostgreSQL, as above),
  for the import's own leads named alike on rows of different chunks.

Both hand-written (env.py: HAND_WRITTEN_INDEXES).
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same text as flows/imports.py's SITE_SQL: SQLite uses an expression index only for the same expression.
SITE = ("CASE WHEN lower(url) LIKE 'https://www.%' THEN substr(lower(url), 13) "
        "WHEN lower(url) LIKE 'http://www.%' THEN substr(lower(url), 12) "
        "WHEN lower(url) LIKE 'https://%' THEN substr(lower(url), 9) "
        "WHEN lower(url) LIKE 'http://%' THEN substr(lower(url), 8) "
        "WHEN lower(url) LIKE 'www.%' THEN substr(lower(url), 5) ELSE lower(url) END")

def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"CREATE INDEX ix_lead_site ON lead (organization_id, ({SITE}))")
        op.execute("CREATE INDEX ix_lead_lower_name ON lead (organization_id, lower(name))")
    else:
        op.execute(f'CREATE INDEX ix_lead_site ON lead ((({SITE})) COLLATE "C")')
        op.execute("CREATE INDEX ix_lead_lower_name ON lead (lower(name))")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_lead_lower_name")
    op.execute("DROP INDEX IF EXISTS ix_lead_site")
