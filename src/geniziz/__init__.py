"""Geniziz: an open-source sales CRM server."""

from geniziz.sqlite_library import without_memory_statistics

__version__ = "0.1.0"

# Before anything imports sqlite3 (aiosqlite does): see sqlite_library.py.
SQLITE_MEMORY_STATISTICS_OFF = without_memory_statistics()
