"""SQLite's WAL copied into the database file by a thread of its own, so that a write's commit rarely pays
for it.

SQLite checkpoints automatically in the commit that takes the WAL past ``wal_autocheckpoint`` pages (1,000 by
default): that commit copies the WAL into the database file and waits for two fsyncs, 4.5-5.5 ms instead of
~0.1 ms, in about one lead create in 31 (a create writes ~33 pages). Here the writer's own threshold is a
backstop (``BACKSTOP_PAGES``), and after commits a thread runs PASSIVE checkpoints on a connection of its own:
they copy what no reader still needs without blocking readers or the writer, and once the WAL is wholly
copied the writer's next commit starts it again from the beginning. A writer that pauses now and then never
reaches the backstop; one that never pauses does, but its checkpoint then copies only the frames the thread
has not, once per ``BACKSTOP_PAGES`` pages instead of once per 1,000.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

# The writer's own automatic checkpoint (pages of 4 KiB): the WAL's size on disk when writes never pause.
BACKSTOP_PAGES = 10_000


class WalCheckpointer:
    """One per SQLite file and process: ``poke()`` after a commit; at most one checkpoint per ``interval``
    seconds, none while nothing is written. ``stop()`` ends the thread (the engine's dispose)."""

    def __init__(self, path: str, *, interval: float = 0.05) -> None:
        self.path, self.interval = path, interval
        self._wanted = threading.Event()
        self._running: tuple[threading.Thread, threading.Event] | None = None  # the thread and its stop signal
        self._lock = threading.Lock()
        self.checkpoints = 0  # how many ran (tests, diagnostics)

    def poke(self) -> None:
        if self._running is None:
            with self._lock:
                if self._running is None:
                    stopping = threading.Event()
                    thread = threading.Thread(target=self._run, args=(stopping,), name="sqlite-wal-checkpoint",
                                              daemon=True)
                    thread.start()
                    self._running = thread, stopping
        self._wanted.set()

    def stop(self) -> None:
        """Ends the thread; a later poke starts another (an engine is usable after its dispose)."""
        with self._lock:
            running, self._running = self._running, None
        if running is not None:
            thread, stopping = running
            stopping.set()
            self._wanted.set()
            thread.join(timeout=10)

    def _run(self, stopping: threading.Event) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not stopping.is_set():
                self._wanted.wait()
                if stopping.is_set():
                    return
                self._wanted.clear()
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # the writer's backstop still bounds the WAL
                    log.warning("WAL checkpoint of %s failed: %s", self.path, exc)
                stopping.wait(self.interval)  # commits during the wait are taken by the next checkpoint
        finally:
            connection.close()
