"""Database plumbing: engines, workspace-scoped sessions and units of work, the declarative base, IDs and UTC timestamps."""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, DateTime, ForeignKey, MetaData, String, Table, event, insert, text
from sqlalchemy import inspect as inspect_record
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, ORMExecuteState, Session, declared_attr, mapped_column, \
    with_loader_criteria
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.util import find_tables
from sqlalchemy.types import TypeDecorator

from geniziz.api.schemas import format_phone
from geniziz.sqlite_wal import BACKSTOP_PAGES, WalCheckpointer

# --- IDs -------------------------------------------------------------------------------------
# A UUIDv7-style 128-bit integer (48-bit millisecond clock, 12-bit in-process sequence, 68 random
# bits) written as 22 base62 digits. The alphabet is in ASCII order and the width is fixed, so
# sorting IDs as strings sorts them by creation time: "newest first" is "ORDER BY id DESC".
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ID_LENGTH = 22
_lock = threading.Lock()
_last_ms = 0
_seq = 0


_entropy = bytearray()  # os.urandom read 4 KiB at a time: a system call per ID cost an import a tenth of its time
os.register_at_fork(after_in_child=_entropy.clear)  # a forked process must not reuse its parent's bytes


def _random_bits(bits: int) -> int:
    size = (bits + 7) // 8
    if len(_entropy) < size:
        _entropy.extend(os.urandom(4096))
    value = int.from_bytes(_entropy[-size:])
    del _entropy[-size:]
    return value >> (size * 8 - bits)


def _time_ordered_int() -> int:
    global _last_ms, _seq
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms, _seq = ms, _random_bits(11)
        else:  # same millisecond (or the clock went back): keep counting so IDs stay increasing
            _seq += 1
            if _seq >= 1 << 12:
                _last_ms, _seq = _last_ms + 1, 0
        return (_last_ms << 80) | (_seq << 68) | _random_bits(68)


_ID_SHAPE = re.compile(r"^[a-z]{2,8}_[0-9A-Za-z]{22}$")


def looks_like_id(value: object) -> bool:
    """Whether a value has the shape of one of our IDs (anything else cannot name a record)."""
    return isinstance(value, str) and _ID_SHAPE.match(value) is not None


_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # two base62 digits at a time: half the divisions


def new_id(prefix: str) -> str:
    n = _time_ordered_int()
    digits = []
    for _ in range(ID_LENGTH // 2):
        n, r = divmod(n, 62 * 62)
        digits.append(_PAIRS[r])
    return f"{prefix}_{''.join(reversed(digits))}"


# --- Column types ----------------------------------------------------------------------------
# IDs compare byte-wise on PostgreSQL too (the default collation would sort "a" before "B").
IdString = String(32).with_variant(String(32, collation="C"), "postgresql")


# JSON documents (settings, payloads, custom values); JSONB on PostgreSQL.
Json = JSON().with_variant(JSONB(), "postgresql")


class Entries(JSON):
    """A record's list of entries (emails, phones, URLs, addresses), stored as the API shows it: the read model's
    keys in its order, written compact (the engines' ``json_serializer``). On PostgreSQL a ``json`` column, not
    ``jsonb``: ``json`` keeps the text as written, so a list page copies it into its JSON (api/documents.py), where
    JSONB's own text (keys reordered, spaces) had each entry written again key by key, 3 of the page statement's
    4.4 ms. Nothing queries inside these lists but ``->`` paths and text casts, which ``json`` has too."""


class PhoneList(TypeDecorator):
    """A record's phones, ``[{"phone": E.164, "type": label}]``, stored as the API shows them: with each number's
    ``phone_formatted`` (phonenumbers' international form, ~50 µs to compute), so that the database can write a
    list page's JSON by itself (api/documents.py). Written on every insert and update that goes through the
    column (the ORM, Core bulk inserts); Python never sees it (read values are as written), so nothing else changes."""

    impl = Entries
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return shown_phones(value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if type(value) is list:
            for entry in value:
                if type(entry) is dict:
                    entry.pop(FORMATTED_PHONE, None)
        return value


FORMATTED_PHONE = "phone_formatted"


def shown_phones(value: Any) -> Any:
    """Phone entries as ``PhoneList`` stores them (anything but a list: as it is)."""
    return [_shown_phone(entry) for entry in value] if type(value) is list else value


def _shown_phone(entry: Any) -> Any:
    """An entry in the order the API shows its keys, with its formatted number (any other shape: as it is)."""
    if type(entry) is not dict or type(entry.get("phone")) is not str:
        return entry
    formatted = format_phone(entry["phone"])
    if entry.keys() - {FORMATTED_PHONE} == {"phone", "type"}:
        return {"phone": entry["phone"], "type": entry["type"], FORMATTED_PHONE: formatted}
    return {**{k: v for k, v in entry.items() if k != FORMATTED_PHONE}, FORMATTED_PHONE: formatted}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- Declarative base ------------------------------------------------------------------------
class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UTCDateTime()}


class Record:
    """Columns every business record has: an ID, its workspace, and when/who created or changed it."""

    id: Mapped[str] = mapped_column(IdString, primary_key=True)

    @declared_attr
    def organization_id(cls) -> Mapped[str]:
        return mapped_column(IdString, ForeignKey("organization.id", ondelete="CASCADE"), index=True)

    date_created: Mapped[datetime] = mapped_column(default=utcnow)
    date_updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @declared_attr
    def created_by(cls) -> Mapped[str | None]:
        return mapped_column(IdString, ForeignKey("user.id", ondelete="SET NULL"), nullable=True)

    @declared_attr
    def updated_by(cls) -> Mapped[str | None]:
        return mapped_column(IdString, ForeignKey("user.id", ondelete="SET NULL"), nullable=True)


# --- Workspace scoping -------------------------------------------------------------------------
# A session is bound to one workspace (session.info["organization_id"]) or explicitly unscoped
# (session.info["unscoped"]: key lookup, CLI set-up, the job worker's claim loop). Every ORM SELECT,
# UPDATE and DELETE that a bound session runs gets "organization_id = <its workspace>" for every
# workspace-owned model it touches, in subqueries, joins, aliases and relationship loads too
# (SQLAlchemy's do_orm_execute + with_loader_criteria recipe), so a forgotten WHERE cannot leak.
# A session that is neither refuses to touch workspace-owned tables.
#
# session.get() is covered too: it only queries on an identity-map miss, and since sessions live for
# one unit of work and everything they loaded was loaded under the same criteria, a hit is safe.
WORKSPACE = "organization_id"
UNSCOPED = "unscoped"
# Per statement, for the rare read that must span workspaces (the caller's own memberships in /me/):
# `select(...).execution_options(all_workspaces=True)`.
ALL_WORKSPACES = "all_workspaces"
# Set on a read unit's session that holds a transaction (Database.read_transaction).
_READ_TRANSACTION = "read_transaction"


class UnscopedQuery(RuntimeError):
    """A session without a workspace touched a workspace-owned table: a programming error."""


class WorkspaceSession(Session):
    """The sessions Database hands out; the scoping listener below is attached to this class only."""


# The criteria read the workspace from an execution parameter that the listener supplies, not from a value
# inside the statement: one option per class serves every workspace, and a statement scoped once (see
# _Owned.scoped) keeps the cache key SQLAlchemy memoizes on it. A statement that carries the criteria but
# runs without the parameter fails ("a value is required for bind parameter") rather than run unscoped.
WORKSPACE_PARAM = "_geniziz_workspace"


class _WorkspaceParam(BindParameter[str]):
    """The criteria's parameter. Each statement's run maps the copies SQLAlchemy made of it (one per entity it
    adapted the criteria to) in a dict (``SQLCompiler.construct_params``), and two copies of one parameter hash
    alike: the dict compares them with ``==``, which for a column element builds a SQL expression only to take
    its truth, whether the hashes are equal. Here ``==`` gives that answer directly: 12-30 µs less per run of a
    lead's by-ID statement (four such comparisons). Nothing builds SQL from this parameter on its left."""

    inherit_cache = True
    __hash__ = BindParameter.__hash__

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        return hash(other) == hash(self)


def _criteria(cls: type) -> Any:
    return with_loader_criteria(cls, cls.organization_id == _WorkspaceParam(WORKSPACE_PARAM),  # type: ignore[attr-defined]
                                include_aliases=True)


class _StatementMemo:
    """Values per statement object, by identity: a statement is immutable, and a copy made from it (``.where()``)
    is another object (so nothing is stored on the statement: SQLAlchemy copies its __dict__ into copies). An
    entry goes when its statement does; ``size`` bounds how many live statements are remembered."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: dict[int, tuple[weakref.ref[Any], Any]] = {}

    def get(self, statement: Any) -> Any:
        entry = self._entries.get(id(statement))
        return entry[1] if entry is not None and entry[0]() is statement else None

    def put(self, statement: Any, value: Any) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()  # only with that many statements alive at once: rebuilt as they run
        key = id(statement)
        self._entries[key] = (weakref.ref(statement, lambda _ref: self._forget(key, _ref)), value)

    def _forget(self, key: int, ref: weakref.ref[Any]) -> None:
        if (entry := self._entries.get(key)) is not None and entry[0] is ref:
            del self._entries[key]


@dataclass(frozen=True)
class _Owned:
    """The workspace-owned mapped classes (those with an organization_id column), and for each mapped
    table the owned classes a statement on it can load in the same query: its own class and every
    class reachable through relationships (a joined eager load, however deep)."""

    tables: frozenset[Table]
    reach: dict[Table, frozenset[type]]
    criteria: dict[type, Any]  # an owned class's criteria option, built once
    # Statement object -> the same statement with its criteria: a service's statement built once is scoped once.
    scoped: _StatementMemo = field(default_factory=lambda: _StatementMemo(1000))


_owned: _Owned | None = None


@event.listens_for(Mapper, "after_mapper_constructed")
def _mapped_another(*_: Any) -> None:
    global _owned
    _owned = None  # recomputed on the next statement


def workspace_models() -> _Owned:
    global _owned
    if _owned is None:
        mappers = Base.registry.mappers
        owned = {m.class_ for m in mappers if WORKSPACE in m.columns and not m.inherits}
        reach: dict[Table, frozenset[type]] = {}
        for mapper in mappers:
            seen, todo = set(), [mapper]
            while todo:  # bounded: each mapper is visited once
                current = todo.pop()
                if current in seen:
                    continue
                seen.add(current)
                todo += [rel.mapper for rel in current.relationships]
            found = frozenset(m.class_ for m in seen if m.class_ in owned)
            reach[mapper.local_table] = reach.get(mapper.local_table, frozenset()) | found
        _owned = _Owned(frozenset(cls.__table__ for cls in owned), reach, {cls: _criteria(cls) for cls in owned})
    return _owned


def _tables(state: ORMExecuteState) -> set[Table]:
    """The tables a statement names, in any subquery, join or alias, and those of the classes it loads."""
    tables = set(find_tables(state.statement, check_columns=True, include_aliases=True, include_joins=True,
                             include_selects=True, include_crud=True))
    tables.update(m.local_table for m in state.all_mappers)
    return tables


@event.listens_for(WorkspaceSession, "do_orm_execute")
def _scope_to_workspace(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return  # inserts name their workspace themselves
    info = state.session.info
    organization_id = info.get(WORKSPACE)
    if organization_id is not None:
        # Every statement a workspace session runs gets the workspace: its own criteria read it, and so do
        # those its objects carry along into their refreshes and relationship loads (an extra key is ignored).
        state.parameters = _with_workspace(state.parameters, organization_id)
    if state.is_column_load or info.get(UNSCOPED) or state.execution_options.get(ALL_WORKSPACES):
        return  # refreshing a row this session already holds (with the criteria it was loaded with)
    owned = workspace_models()
    if organization_id is None:
        if owned.tables.intersection(_tables(state)):
            raise UnscopedQuery("This session has no workspace: open it with Database.unit(organization_id) "
                                "or, for work that spans workspaces, Database.unit(system=True)")
        return
    scoped = owned.scoped.get(state.statement)
    if scoped is None:
        # Criteria only for the classes this statement can load (each criterion costs compile-cache work):
        # those of the tables it names, in any subquery, join or alias, and those its relationships reach.
        # Other queries (selectin and lazy loads) pass through here themselves.
        classes = set().union(*(owned.reach.get(t, ()) for t in _tables(state)))
        scoped = state.statement.options(*(owned.criteria[cls] for cls in sorted(classes, key=lambda c: c.__name__)))
        owned.scoped.put(state.statement, scoped)
    state.statement = scoped


def _with_workspace(parameters: Any, organization_id: str) -> Any:
    """Execution parameters plus the workspace: one mapping, or for an executemany a list of them."""
    if isinstance(parameters, list):
        return [{**p, WORKSPACE_PARAM: organization_id} for p in parameters]
    return {**(parameters or {}), WORKSPACE_PARAM: organization_id}


async def insert_records(session: AsyncSession, records: Iterable[Any]) -> None:
    """New records (built and filled in, not added to the session) written as a flush would write them, but
    with one statement per table: for the thousand records of an import's batch, the unit of work's
    bookkeeping per object cost more than the database's inserts. The records stay out of the session:
    what reads them reads the rows."""
    by_model: dict[Any, list[dict[str, Any]]] = {}
    for record in records:
        state = inspect_record(record)
        by_model.setdefault(state.mapper, []).append(
            {a.columns[0].name: state.dict[a.key] for a in state.mapper.column_attrs if a.key in state.dict})
    for mapper, rows in by_model.items():
        await insert_rows(session, mapper.class_, rows)


async def insert_rows(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    """Rows of a model's table, {column name: value}; a column a row does not give takes the column's
    default (its Python one, as the ORM's; these tables have no other), else NULL.

    On PostgreSQL the rows go as one JSON document that the server unpacks (json_populate_recordset, which
    hands a ``json`` column its value's text as written: Entries keep their key order): an
    executemany had SQLAlchemy process each row's parameters (JSON columns serialized one by one, times
    converted) and the server run an insert per row, together twice the time. The JSON keeps the types'
    meaning: times without a zone are UTC (as UTCDateTime takes them), JSON columns are nested JSON."""
    if not rows:
        return
    table: Table = model.__table__
    defaults = {c.name: c.default.arg(None) if c.default.is_callable else c.default.arg
                for c in table.columns if c.default is not None and (c.default.is_scalar or c.default.is_callable)}
    rows = [{**defaults, **row} for row in rows]
    document = None
    dialect = session.bind.dialect
    if dialect.name == "postgresql":
        # What the columns' own types do to a value before it is bound (PhoneList's formatted numbers)
        decorated = [(c.name, c.type) for c in table.columns if isinstance(c.type, TypeDecorator)]
        bound = [{**row, **{name: kind.process_bind_param(row[name], dialect) for name, kind in decorated
                            if name in row}} for row in rows]
        try:
            document = orjson.dumps(bound, option=orjson.OPT_NAIVE_UTC).decode()
        except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits in a JSON column: the executemany
            pass
    if document is None:
        await session.execute(insert(table), [{c.name: row.get(c.name) for c in table.columns} for row in rows])
        return
    names = ", ".join(f'"{c.name}"' for c in table.columns)
    await session.execute(text(f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM '
                               f'json_populate_recordset(CAST(NULL AS "{table.name}"), CAST(:rows AS json))'),
                          {"rows": document})


# SQLAlchemy's SQLite compiler drops table hints; SQLite's own ("NOT INDEXED", "INDEXED BY <index>") go
# after the table name, which is what this renders (lead search and the activity stream give them).
SQLiteCompiler.get_from_hint_text = lambda self, table, text: text  # type: ignore[method-assign,assignment]


# --- Engines and sessions --------------------------------------------------------------------
def _json_loads(text: str | bytes) -> Any:
    """JSON columns, read with orjson (several times faster than json for the rows of a list page); json
    reads what orjson refuses (NaN, which json may have written)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _json_dumps(value: Any) -> str:
    """JSON columns, written compact (json's format otherwise): list pages copy the stored text of emails, phones
    and addresses into their JSON as it is (api/documents.py; on PostgreSQL, the ``json`` columns of Entries)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Database:
    """The app's connection to its database.

    On SQLite, reads and writes use separate engines: writes go through a single connection that
    opens transactions with BEGIN IMMEDIATE, so concurrent writers queue in the pool (asyncio-
    friendly) instead of failing with "database is locked"; reads run beside them under WAL.

    SQLite's read units (``write=False``) run without a transaction of their own (autocommit): each
    statement reads a consistent state by itself, as under PostgreSQL's READ COMMITTED, and a read no
    longer pays for BEGIN and ROLLBACK (aiosqlite's thread hops: 9 per single read became 5). What a read
    shows together (a lead with its contacts) comes in one statement. Those connections are
    ``query_only``: a read unit that tries to write fails (it never commits). On PostgreSQL likewise:
    read units run in autocommit on connections of their own whose transactions are read-only
    (``default_transaction_read_only``), so a read sends no ``BEGIN`` and no ``ROLLBACK`` (15% of a lead
    read's CPU) and a write there fails. At PostgreSQL's READ COMMITTED a transaction's statements each
    saw a snapshot of their own anyway. A read unit that needs a transaction (``SET LOCAL``) asks for one
    before its first statement: ``read_transaction``.
    """

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.wal_checkpointer: WalCheckpointer | None = None
        if self.is_sqlite:
            self.read_engine = self._sqlite_engine(url, begin=None, pool_size=8)
            self.write_engine = self._sqlite_engine(url, begin="BEGIN IMMEDIATE", pool_size=1)
            path = self.write_engine.url.database
            if path and path != ":memory:" and not path.startswith("file:"):
                self.wal_checkpointer = checkpointer = WalCheckpointer(path)
                # The writer is done with a unit when its connection goes back to the pool: copy its WAL then.
                event.listen(self.write_engine.sync_engine, "checkin", lambda *_: checkpointer.poke())
        else:
            # No overflow: a connection opened is kept. Overflow connections close when they come back to a pool
            # holding pool_size idle ones, which requests that each hold a connection briefly did all the time:
            # at 64 concurrent reads, one new PostgreSQL session (a backend forked, authenticated, its caches
            # cold) per two or three requests, and PostgreSQL's CPU per read 5x the typical stack's.
            self.write_engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=0, pool_pre_ping=False, json_deserializer=_json_loads,
                json_serializer=_json_dumps,
            )
            self.read_engine = create_async_engine(  # read units: see above
                url, pool_size=pool_size, max_overflow=0, pool_pre_ping=False, json_deserializer=_json_loads,
                json_serializer=_json_dumps, isolation_level="AUTOCOMMIT",
                connect_args={"server_settings": {"default_transaction_read_only": "on"}},
            )
        self._sessions = {
            write: async_sessionmaker(engine, expire_on_commit=False, sync_session_class=WorkspaceSession)
            for write, engine in ((False, self.read_engine), (True, self.write_engine))
        }

    @asynccontextmanager
    async def unit(self, organization_id: str | None = None, *, write: bool = False,
                   system: bool = False) -> AsyncIterator[AsyncSession]:
        """One unit of work: a session for one workspace (or, with ``system=True``, for work that
        spans workspaces), committed when the block ends cleanly and ``write`` is set, rolled back
        otherwise. This is the only place the app commits (the job worker aside)."""
        if (organization_id is None) != system:
            raise ValueError("a unit of work is for one workspace or, explicitly, system=True")
        info = {UNSCOPED: True} if system else {WORKSPACE: organization_id}
        session = self._sessions[write](info=info)
        try:
            yield session
            if write:
                await session.commit()
        finally:
            if write or session.info.get(_READ_TRANSACTION):
                # As `async with session` closes it: in a task of its own, awaited to its end even if this one
                # is cancelled, since a rollback cut short would give the pool a connection mid-transaction.
                await session.__aexit__(None, None, None)
            else:
                # A read unit without a transaction has nothing to roll back: its close does no I/O, which no
                # cancellation can cut short, and skips that task (a fifth of opening and closing a unit).
                await session.close()

    @staticmethod
    async def read_transaction(session: AsyncSession) -> None:
        """Makes a PostgreSQL read unit a (read-only) transaction, for statements such as ``SET LOCAL`` that
        need one; before the unit's first statement (after it, the connection's mode can no longer change)."""
        if session.bind.dialect.name != "postgresql":
            return
        if session.in_transaction():
            raise RuntimeError("read_transaction() must come before the unit's first statement")
        await session.connection(execution_options={"isolation_level": "READ COMMITTED"})
        session.info[_READ_TRANSACTION] = True  # its end is a ROLLBACK: see unit()

    def system_session(self, *, write: bool = False) -> Any:
        """A unit of work across workspaces: key lookup, CLI set-up, the job worker's claim loop."""
        return self.unit(system=True, write=write)

    @staticmethod
    def _sqlite_engine(url: str, *, begin: str | None, pool_size: int) -> AsyncEngine:
        """``begin``: how a transaction starts (sent in the trip of its first statement); None for the read engine,
        whose connections stay in autocommit and refuse writes (nothing to roll back, so nothing to reset when one
        goes back to the pool)."""
        from sqlalchemy.pool import AsyncAdaptedQueuePool

        from geniziz.aiosqlite_cursor import dbapi

        engine = create_async_engine(
            url, module=dbapi(),  # a statement in one trip to aiosqlite's thread, not four
            poolclass=AsyncAdaptedQueuePool, pool_size=pool_size, max_overflow=0, pool_timeout=60,
            connect_args={"timeout": 30}, json_deserializer=_json_loads, json_serializer=_json_dumps,
            pool_reset_on_return="rollback" if begin else None, skip_autocommit_rollback=True,
        )
        # A ROLLBACK only when a transaction is open (aiosqlite_cursor's in_transaction asks SQLite): aiosqlite runs
        # each in its thread, a hop, and a read connection never has one, nor the writer once its unit has committed
        # (a create paid the hop after its COMMIT). SQLAlchemy's own test (pysqlite's isolation_level) calls a
        # connection whose transactions we BEGIN ourselves always in autocommit.
        engine.sync_engine.dialect.detect_autocommit_setting = (  # type: ignore[method-assign]
            lambda dbapi_connection: not dbapi_connection.in_transaction)
        pragmas = ["journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON", "synchronous=NORMAL"]
        if begin is None:
            pragmas.append("query_only=ON")
        else:  # the WAL is copied by the Database's WalCheckpointer; the writer's own checkpoint is a backstop
            pragmas.append(f"wal_autocheckpoint={BACKSTOP_PAGES}")

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below (or never: reads)
            cursor = dbapi_connection.cursor()
            for pragma in pragmas:
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        if begin is not None:
            @event.listens_for(engine.sync_engine, "begin")
            def _on_begin(conn: Any) -> None:
                conn.connection.dbapi_connection.begin_with_next_statement(begin)

        return engine

    async def dispose(self) -> None:
        if self.wal_checkpointer is not None:
            await asyncio.to_thread(self.wal_checkpointer.stop)
        await self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            await self.write_engine.dispose()

