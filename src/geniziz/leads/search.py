"""Substring matches (LIKE '%term%') that an index serves, on both databases.

PostgreSQL: trigram GIN indexes on the matched columns (migrations 0001 and 0016) serve LIKE itself,
and its planner, which has statistics, chooses between them and walking the workspace newest first.

SQLite: B-trees cannot serve LIKE '%x%', so FTS5 tables with the trigram tokenizer mirror the columns
(`lead_fts`, `contact_fts`, kept in sync by triggers; migration 0016). SQLite keeps no statistics here
(the app never runs ANALYZE), so the choice is made per statement, when it runs (`_choose_path`):
- a term with few matches (under PROBE in the FTS table): the rows are read by the rowids that probe
  found (and LIKE re-checks them, so the result is exactly what LIKE alone finds);
- a term with many (a 3-letter fragment, "gmail"): the plain walk of the workspace's rows newest first,
  which meets a page of matches within a few thousand rows; reading thousands of matches by rowid and
  sorting them would cost more (0.7 s for 50,000 matches at 200,000 leads).
A trigram index needs a term of at least 3 characters: shorter terms always take the walk (they match
most rows anyway). A long term asks the index for a cheaper superset of its matches (`window`).

Whole keys (the contact `email` / `phone` filters: is this normalized key one of the contact's?) need no
substring index: `contact_key` (migration 0020, kept by triggers) holds one row per key in a B-tree, and
`keyed` reads the contacts from it. Trigrams would read the lists of `com` and `555`, which hold nearly
every row.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, column, event, func, literal_column, or_, select, table, text
from sqlalchemy.orm import ORMExecuteState

from geniziz.api.context import Ctx
from geniziz.db import WORKSPACE, WorkspaceSession

MIN_INDEXED = 3  # characters: one whole trigram
WINDOW = 8  # characters: longer terms ask the FTS index for a distinctive part of them (`window`)
SPREAD = 4  # trigrams, spread over a long term, that it asks for when nothing in it is known to be rare
PROBE = 2000  # FTS matches from which walking the workspace newest first finds a page sooner
# Columns that an FTS5 table mirrors on SQLite (migration 0016's FTS_TABLES).
FTS_COLUMNS = {"lead": {"search_text"}, "contact": {"name", "email_keys", "phone_keys", "urls"}}
OPTION = "geniziz_fts_match"
CONTACT_KEY = table("contact_key", column("kind"), column("value"), column("organization_id"), column("contact_id"))


def like_pattern(term: str) -> str:
    """'%term%' with LIKE's wildcards taken literally (ESCAPE '/')."""
    return "%" + term.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


def matching(ctx: Ctx, query: Select, model: Any,
             conditions: list[tuple[ColumnElement, str]] | list[tuple[ColumnElement, str, ColumnElement]]) -> Select:
    """`query` where any of the conditions holds: (expression, term[, indexed column]) for `expression`
    contains `term`. `indexed` is the column the FTS table mirrors when `expression` is a function of
    it (lower(contact.name)); the FTS match is case-insensitive, LIKE decides."""
    if ctx.session.bind.dialect.name != "sqlite":
        return query.where(or_(*(_contains_pg(c[0], c[1]) for c in conditions)))
    query = query.where(or_(*(c[0].like(like_pattern(c[1]), escape="/") for c in conditions)))
    windows, wholes = [], []
    for expression, term, *indexed in conditions:
        column = indexed[0] if indexed else expression
        if len(term) < MIN_INDEXED or getattr(column, "key", None) not in FTS_COLUMNS.get(model.__tablename__, ()):
            return query  # one condition without the index: the walk answers them all
        windows.append(f"({column.key} : {window(term)})")
        wholes.append(f"({column.key} : {_fts_string(term)})")
    matches = [" OR ".join(windows)] + ([" OR ".join(wholes)] if wholes != windows else [])
    return query.execution_options(**{OPTION: (model, matches)})


def _fts_string(text_: str) -> str:
    """An FTS5 string, which the trigram tokenizer matches as a substring."""
    return '"' + text_.replace('"', '""') + '"'


def window(term: str) -> str:
    """The FTS5 query a long term asks the index for: a superset of its matches, cheaper to read (LIKE
    then checks the whole term).

    FTS5 evaluates a phrase by reading the list of every trigram in it, and a phone's country and area
    code (`+15`, `555`) or the letters of common names and domains are in a large part of the rows
    (70-150 ms for a whole email or phone at a million leads). Measured there instead: a phone's last 7
    digits 1.5-7 ms; the trigrams that straddle a word's edge (`n@h`, `e.h` of
    `katherine.henderson@hillheritage.co`), as separate tokens, 0.5-1 ms for a few hundred rows at most.
    Any other long term (a name fragment, `coleman riverbend`): SPREAD of its trigrams, evenly spread over
    it, so both words are in it: at a million leads 2.3 ms (median of 20 fragments; the most 8 ms) for
    90-400 candidates, against 6.9 ms (13 ms) for the phrase, whose every trigram is in 10,000-50,000 rows.
    Asking FTS5 which trigrams are rare (fts5vocab) costs more than the phrase: it counts each one's rows.
    A window that is still common (`o@a` and `e.c` of `info@acme.com`) has too many matches:
    `_choose_path` then asks for the whole term."""
    if tail := _phone_tail(term):
        return _fts_string(tail)
    if len(term) <= WINDOW:
        return _fts_string(term)
    parts = dict.fromkeys(term[i - 1:i + 2] for i in range(1, len(term) - 1) if not term[i].isalnum())  # edges
    if len(parts) < 2:
        parts = dict.fromkeys(_spread(term))
    return "(" + " AND ".join(_fts_string(part) for part in parts) + ")"


def _spread(term: str, usable: Callable[[str], bool] | None = None) -> list[str]:
    """SPREAD of the term's trigrams (those ``usable`` accepts), evenly spaced from its first to its last."""
    trigrams = [term[i:i + 3] for i in range(len(term) - 2)]
    trigrams = [t for t in trigrams if usable(t)] if usable else trigrams
    if len(trigrams) <= SPREAD:
        return trigrams
    last = len(trigrams) - 1
    return [trigrams[round(i * last / (SPREAD - 1))] for i in range(SPREAD)]


def _phone_tail(term: str) -> str | None:
    """A long run of digits' last 7: the rare part of a phone number (the prefix is in most rows)."""
    return term[-7:] if len(term) > WINDOW and term.lstrip("+").isdigit() else None


def _contains_pg(expression: ColumnElement, term: str) -> ColumnElement:
    """PostgreSQL: `expression` contains `term`. For a phone number the trigram index is asked for its
    tail only (2-10 ms instead of 85 ms at a million leads), for a long term of words (a name fragment) for
    SPREAD of its trigrams, as SQLite's `window`, and strpos, which no index serves, checks the whole.
    Only trigrams of three letters or digits: pg_trgm makes none of a pattern such as `n u`, and a condition
    without one would have the GIN index read in full. Nothing of an email is used here: without SQLite's
    probe a common part (`info@`, `.com`) would read hundreds of thousands of rows, and the planner
    estimates trigram matches poorly."""
    parts = _pg_window(term)
    if parts is None:
        return expression.like(like_pattern(term), escape="/")
    return and_(*(expression.like(like_pattern(part), escape="/") for part in parts),
                func.strpos(expression, term) > 0)


def _pg_window(term: str) -> list[str] | None:
    """The parts of a term that PostgreSQL's trigram index is asked for, or None for the whole term."""
    if tail := _phone_tail(term):
        return [tail]
    words = term.replace(" ", "")
    if len(term) > WINDOW and words.isascii() and words.isalnum():
        parts = _spread(term, str.isalnum)
        if len(parts) == SPREAD:
            return parts
    return None


def keyed(ctx: Ctx, query: Select, model: Any, kind: str, key: str) -> Select:
    """`query` (on contacts) where `key` is one of the contact's keys of `kind` ("email", "phone"): the
    same rows as `{kind}_keys LIKE '%|key|%'`, from contact_key's B-tree."""
    if "|" in key or not key:  # not a single key: the separator's meaning in the LIKE form decides
        return matching(ctx, query, model, [(getattr(model, f"{kind}_keys"), f"|{key}|")])
    ids = select(CONTACT_KEY.c.contact_id).where(CONTACT_KEY.c.kind == kind, CONTACT_KEY.c.value == key)
    if workspace := ctx.session.info.get(WORKSPACE):  # the outer query is scoped anyway; this narrows the descent
        ids = ids.where(CONTACT_KEY.c.organization_id == workspace)
    # SQLite has no statistics: told nothing, it walks the workspace's contacts in page order testing each
    # against the few IDs; by the primary key it reads just those.
    return (query.where(model.id.in_(ids))
            .with_hint(model, f"INDEXED BY sqlite_autoindex_{model.__tablename__}_1", dialect_name="sqlite"))


@event.listens_for(WorkspaceSession, "do_orm_execute")
def _choose_path(state: ORMExecuteState) -> None:
    """On SQLite, read a rare term's matches by FTS rowid; leave a common term's query as it is."""
    found = state.execution_options.get(OPTION)
    # Loads of related rows (a page's contacts) inherit the options: they are not the search.
    if not found or not state.is_select or state.is_relationship_load:
        return
    model, matches = found
    if model.__table__ not in {mapper.local_table for mapper in state.all_mappers}:
        return
    state.statement = _narrowed(state.session, state.statement, model, matches)


async def probed(ctx: Ctx, query: Select) -> Select:
    """``query`` with what ``_choose_path`` does as it runs done now, for a statement that runs it as a part
    (the IDs of a page read as rows: the listener sees only the whole statement)."""
    found = query.get_execution_options().get(OPTION)
    if not found:
        return query
    model, matches = found
    query = query.execution_options(**{OPTION: None})
    return await ctx.session.run_sync(lambda session: _narrowed(session, query, model, matches))


def _narrowed(session: Any, statement: Any, model: Any, matches: list[str]) -> Any:
    """``statement`` reading only the rowids the FTS probe finds, or as it is if the term is common."""
    fts, source = f"{model.__tablename__}_fts", model.__tablename__
    for match in matches:  # the window, then (if the window is common) the whole term
        found_rowids = session.connection().execute(text(  # stops at PROBE
            f"SELECT rowid FROM {fts} WHERE {fts} MATCH :match LIMIT {PROBE}"), {"match": match}).scalars().all()
        if len(found_rowids) < PROBE:
            break
    else:
        return statement
    # The statement reads the rowids the probe found (one JSON parameter) instead of asking FTS5 again:
    # the match is most of a rare term's cost, and it would be paid twice.
    rowids = select(literal_column("value")).select_from(func.json_each(json.dumps(found_rowids)))
    # NOT INDEXED: otherwise SQLite, guessing that the workspace condition selects ~10 rows, walks
    # (organization_id, id) in page order testing each row against the rowids (every row of the
    # workspace for a rare term). The rowid lookups stay allowed (SQLite's documentation).
    return (statement.where(literal_column(f"{source}.rowid").in_(rowids))
            .with_hint(model, "NOT INDEXED", dialect_name="sqlite"))
