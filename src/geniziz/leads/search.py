"""Substring matches (LIKE '%term%') that an index serves, on both databases.

PostgreSQL: trigram GIN indexes on the matched columns (migrations 0001 and 0016) serve LIKE itself.
SQLite: B-trees cannot, so FTS5 tables with the trigram tokenizer mirror the columns (`lead_fts`,
`contact_fts`, kept in sync by triggers; migration 0016) and the match goes through them by rowid.
A trigram index needs a term of at least 3 characters: shorter terms fall back to LIKE alone,
which reads the workspace's rows (cheap for 1-2 letters, which match most rows anyway).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, literal_column, select, table
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler

from geniziz.api.context import Ctx

MIN_INDEXED = 3  # characters: one whole trigram
# Columns that an FTS5 table mirrors on SQLite (migration 0016's FTS_TABLES).
FTS_COLUMNS = {"lead": {"search_text"}, "contact": {"name", "email_keys", "phone_keys", "urls"}}


def like_pattern(term: str) -> str:
    """'%term%' with LIKE's wildcards taken literally (ESCAPE '/')."""
    return "%" + term.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


def contains(ctx: Ctx, expression: ColumnElement, term: str, *, indexed: ColumnElement | None = None) -> ColumnElement[bool]:
    """`expression` contains `term`, through the index.

    `indexed` is the table column an FTS5 table mirrors when `expression` is a function of it (e.g.
    lower(contact.name)); the FTS match is case-insensitive and LIKE re-checks its candidates, so the
    rows found are exactly those LIKE alone would find.
    """
    like = expression.like(like_pattern(term), escape="/")
    column = indexed if indexed is not None else expression
    source = getattr(column, "table", None)
    if (len(term) < MIN_INDEXED or ctx.session.bind.dialect.name != "sqlite" or source is None
            or column.key not in FTS_COLUMNS.get(source.name, ())):
        return like
    fts = f"{source.name}_fts"
    phrase = '"' + term.replace('"', '""') + '"'  # an FTS5 string: with trigrams, a substring
    rowids = select(literal_column("rowid")).select_from(table(fts)).where(
        literal_column(fts).op("MATCH")(f"{column.key} : {phrase}"))
    return and_(literal_column(f"{source.name}.rowid").in_(rowids), like)


def read_through_index(query: Select, model: Any, terms: list[str]) -> Select:
    """Make SQLite read `model` through the FTS rowids that `contains` gave, when all `terms` have them.

    SQLite keeps no statistics here (the app never runs ANALYZE), so it guesses that the workspace
    condition selects ~10 rows and walks (organization_id, id) in page order, testing each row against
    the FTS rowids: every lead of the workspace for a rare term (100 ms at 200,000 leads). NOT INDEXED
    leaves it the rowid lookups (SQLite docs: the rowid can still be used), so it reads the matches only.
    """
    if not terms or any(len(t) < MIN_INDEXED for t in terms):
        return query
    return query.with_hint(model, "NOT INDEXED", dialect_name="sqlite")


# SQLAlchemy's SQLite compiler drops table hints; SQLite's own are "NOT INDEXED" and "INDEXED BY <index>",
# written after the table name, which is what this renders (used by read_through_index only).
SQLiteCompiler.get_from_hint_text = lambda self, table, text: text  # type: ignore[method-assign]
