"""SQLite's memory statistics are off in every process that imports geniziz before sqlite3 (sqlite_library.py)."""

from __future__ import annotations

import subprocess
import sys

MEMORY_USED = ("import sqlite3, _sqlite3, ctypes; connection = sqlite3.connect(':memory:'); "
               "connection.execute(\"SELECT json_object('a', 1)\").fetchall(); "
               "print(geniziz.SQLITE_MEMORY_STATISTICS_OFF, ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used())")


def _run(code: str) -> list[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def test_importing_geniziz_first_turns_the_statistics_off() -> None:
    took, used = _run("import geniziz; " + MEMORY_USED)
    assert took == "True" and used == "0"  # SQLite counts nothing: no mutex around each allocation


def test_after_sqlite3_it_changes_nothing() -> None:
    took, used = _run("import sqlite3; import geniziz; " + MEMORY_USED)
    assert took == "False" and int(used) > 0  # initialized already: left as it was, and said so
