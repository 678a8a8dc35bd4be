"""search indexes: SQLite FTS5 trigram tables for leads and contacts, PostgreSQL trigram indexes on contacts

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-26 16:30:00

Lead search (`query`) and contact lookups (`email`, `phone`, MCP's `search`) are substring matches
(LIKE '%x%'), which a B-tree cannot serve. PostgreSQL already had a trigram index on lead.search_text
(0001); contacts get the same on the columns their filters read. SQLite gets FTS5 tables with the
trigram tokenizer (SQLite >= 3.34) over the same columns, as external-content tables (the text is not
stored twice) kept in sync by triggers on the source tables, keyed by the tables' rowid.

All of it is hand-written: env.py (HAND_WRITTEN_INDEXES, HAND_WRITTEN_TABLES) tells autogenerate to
leave it alone. Caveats on SQLite: a later migration that rebuilds `lead` or `contact` (batch
ALTER) drops these triggers and must recreate them (`create_sqlite_search()` below is idempotent;
tests/test_search.py checks they exist), and VACUUM may renumber rowids, after which
`INSERT INTO lead_fts(lead_fts) VALUES('rebuild')` (and the same for contact_fts) re-indexes.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# FTS5 table -> (source table, indexed columns). Queries: geniziz/leads/search.py.
FTS_TABLES = {
    "lead_fts": ("lead", ("search_text",)),
    "contact_fts": ("contact", ("name", "email_keys", "phone_keys", "urls")),
}
# PostgreSQL: contact columns the email/phone filters and MCP's search match on (LIKE '%x%').
PG_CONTACT_INDEXES = {
    "ix_contact_email_keys_trgm": "email_keys",
    "ix_contact_phone_keys_trgm": "phone_keys",
    "ix_contact_name_trgm": "lower(name)",
    "ix_contact_urls_trgm": "lower(CAST(urls AS VARCHAR))",
}


def create_sqlite_search() -> None:
    for fts, (source, columns) in FTS_TABLES.items():
        cols = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        op.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5({cols}, content='{source}', "
                   f"content_rowid='rowid', tokenize='trigram')")
        op.execute(f"DROP TRIGGER IF EXISTS {fts}_insert")
        op.execute(f"DROP TRIGGER IF EXISTS {fts}_delete")
        op.execute(f"DROP TRIGGER IF EXISTS {fts}_update")
        op.execute(f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {source} BEGIN "
                   f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.rowid, {new}); END")
        op.execute(f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {source} BEGIN "
                   f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.rowid, {old}); END")
        # Only when an indexed column is in the UPDATE: most lead updates leave search_text alone.
        op.execute(f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {cols} ON {source} BEGIN "
                   f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.rowid, {old}); "
                   f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.rowid, {new}); END")
        op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")  # the rows already there


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        create_sqlite_search()
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, expression in PG_CONTACT_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON contact USING gin (({expression}) gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for fts in FTS_TABLES:
            for event in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {fts}_{event}")
            op.execute(f"DROP TABLE IF EXISTS {fts}")
    else:
        for name in PG_CONTACT_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
