"""SQLAlchemy's aiosqlite driver with a statement run in one trip to aiosqlite's thread instead of four.

aiosqlite runs every call on a connection in that connection's own thread, and SQLAlchemy's adapter makes
four such calls per statement: open a cursor, execute, fetch every row, close the cursor. Each is a trip
to the thread and back (about 22 µs of CPU here: a queue, a future, a wake-up of the event loop), 90 µs a
statement; a lead read paid them on every request. This cursor does the four in one function run in the
thread and keeps what SQLAlchemy reads afterwards (rows, description, rowcount, lastrowid), as the
adapter already buffered every row. Server-side cursors (``stream``) keep SQLAlchemy's own cursor.
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
        def run(connection: sqlite3.Connection) -> tuple[Any, list[Any], int, Any]:
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
    __slots__ = ()
    _cursor_cls = _Cursor


class _DBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> _Connection:
        adapted = super().connect(*arg, **kw)
        return _Connection(self, adapted._connection)


def dbapi() -> _DBAPI:
    """The DBAPI module for ``create_async_engine(module=...)``: one per engine, as SQLAlchemy makes its own."""
    return _DBAPI(aiosqlite, sqlite3)
