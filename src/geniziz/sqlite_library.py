"""SQLite's library set up for threads before anything opens a database: memory statistics off.

SQLite counts every allocation under one process-wide mutex unless told not to (SQLITE_CONFIG_MEMSTATUS, on by
default in the builds Python links). aiosqlite runs each connection's statements in a thread of its own, and a
list page's statement (building its JSON: api/documents.py) allocates constantly, so two readers at once spent
most of their CPU waiting on that mutex: measured with plain sqlite3 threads on the page's statement, 1.7 ms of
CPU alone, 5.6 ms each with two threads at once; with the statistics off, 1.9 ms each, both cores working
(and wrk's 64 connections on a list page: 115 -> 230 req/s). Nothing here reads the statistics
(``sqlite3_memory_used``).

The setting is process-wide and only takes before SQLite initializes, which Python's ``sqlite3`` module does
when it is imported: ``geniziz/__init__.py`` calls this first, through the library that ``_sqlite3`` is linked
with, loaded without running the module. Where ``sqlite3`` was imported already, or the library is not reachable
that way, SQLite keeps its default (correct, slower under concurrent reads).
"""

from __future__ import annotations

import ctypes
import importlib.util
import sys

_SQLITE_CONFIG_MEMSTATUS = 9
_SQLITE_OK = 0


def without_memory_statistics() -> bool:
    """Turn SQLite's memory statistics off for this process; whether it took."""
    if "_sqlite3" in sys.modules:
        return False  # initialized already: sqlite3_config would refuse (SQLITE_MISUSE)
    try:
        spec = importlib.util.find_spec("_sqlite3")
        if spec is None or spec.origin is None:
            return False
        library = ctypes.CDLL(spec.origin)  # the extension's file: its SQLite, whether linked or built in
        return library.sqlite3_config(_SQLITE_CONFIG_MEMSTATUS, ctypes.c_int(0)) == _SQLITE_OK
    except (OSError, AttributeError):
        return False
