"""SQLAlchemy's aiosqlite driver with a statement run in one trip to aiosqlite's thread instead of four.

aiosqlite runs every call on a connection in that connection's own thread, and SQLAlchemy's adapter makes
four such calls per statement: open a cursor, execute, fetch every row, close the cursor. Each is a trip
to the thread and back (about 22 µs of CPU here: a queue, a future, a wake-up of the event loop), 90 µs a
statement; a lead read paid them on every request. This cursor does the four in one function run in the
thread and keeps what SQLAlchemy reads afterwards (rows, description, rowcount, lastrowid), as the
adapter already buffered every row. Server-side cursors (``stream``) keep SQLAlchemy's own cursor. A
transaction's ``BEGIN`` can travel with its first statement too (``begin_with_next_statement``): the writer's
units then make one trip fewer.
Used by ``Database`` for SQLite: ``create_async_engine(..., module=dbapi())``.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (AsyncAdapt_aiosqlite_connection, AsyncAdapt_aiosqlite_cursor,
                                                  AsyncAdapt_aiosqlite_dbapi)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_


class _Cursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_description", "_rowcount", "_lastrowid", "arraysize")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No aiosqlite cursor: each statement opens and closes a sqlite3 cursor in the thread.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount, self._lastrowid, self.arraysize = -1, None, 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    async def _async_soft_close(self) -> None:
        pass  # nothing open: the rows are already here

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        await self._run(operation, seq_of_parameters, many=True)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        begin, self._adapt_connection.begin_sql = self._adapt_connection.begin_sql, None

        def run(connection: sqlite3.Connection) -> tuple[Any, list[Any], int, Any]:
            if begin is not None:
                connection.execute(begin)
            cursor = connection.cursor()
            try:
                if many:
                    cursor.executemany(operation, parameters)
                elif parameters is None:
                    cursor.execute(operation)
                else:
                    cursor.execute(operation, parameters)
                description = cursor.description
                return description, cursor.fetchall() if description else [], cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        async with self._adapt_connection._execute_mutex:
            connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
            self._description, rows, self._rowcount, self._lastrowid = await connection._execute(run, connection._conn)
            self._rows = collections.deque(rows)


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("begin_sql",)
    _cursor_cls = _Cursor

    def __init__(self, dbapi: Any, connection: aiosqlite.Connection) -> None:
        super().__init__(dbapi, connection)
        self.begin_sql: str | None = None

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open, as SQLite itself says, or begins with the next statement."""
        return self.begin_sql is not None or self._connection.in_transaction

    def begin_with_next_statement(self, sql: str) -> None:
        """Opens a transaction by ``sql`` (``BEGIN IMMEDIATE``) in the trip of the next statement, not one of its
        own; a commit or rollback before any statement drops it (nothing was begun)."""
        self.begin_sql = sql

    def cursor(self, server_side: bool = False) -> Any:
        if server_side and self.begin_sql is not None:  # SQLAlchemy's own cursor: the BEGIN goes first, alone
            begin, self.begin_sql = self.begin_sql, None
            await_(self._connection.execute(begin))
        return super().cursor(server_side)

    def commit(self) -> None:
        self.begin_sql = None
        super().commit()

    def rollback(self) -> None:
        self.begin_sql = None
        super().rollback()


class _DBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> _Connection:
        adapted = super().connect(*arg, **kw)
        return _Connection(self, adapted._connection)


def dbapi() -> _DBAPI:
    """The DBAPI module for ``create_async_engine(module=...)``: one per engine, as SQLAlchemy makes its own."""
    return _DBAPI(aiosqlite, sqlite3)
