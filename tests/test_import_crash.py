"""An import worker killed mid-file: a real `geniziz worker` is SIGKILLed once some chunks of an import are
committed and before the last, another worker takes the job over when the lease runs out, and every row
ends up imported exactly once (no row lost, none written twice, one `created` activity per record).

The module has a database and a server of its own, without the in-process worker (on SQLite `geniziz serve`
would otherwise run the import itself), so the workers started here are the only ones."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from geniziz.db import Database
from geniziz.migrate import upgrade
from tests.conftest import BACKEND, Api, Server, _pg_admin, _postgres_url, new_workspace, start_server, \
    stop_server, wait_until

FAST = {"GENIZIZ_WORKER_POLL_SECONDS": "0.05", "GENIZIZ_WORKER_LEASE_SECONDS": "1.5",
        "GENIZIZ_JOB_BACKOFF_SECONDS": "0.2", "GENIZIZ_LOG_LEVEL": "info"}
ROWS = 3000  # three chunks of 1,000: a few seconds of work, long enough to be killed in the middle


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if BACKEND == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('import-crash') / 'crash.db'}"
    else:
        name = f"geniziz_crash_{secrets.token_hex(6)}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        url = _postgres_url(name)
    upgrade(url)
    server = start_server(url, tmp_path_factory.mktemp("import-crash-server") / "server.log",
                          GENIZIZ_INPROCESS_WORKER="0")
    yield server
    stop_server(server)
    if BACKEND != "sqlite":
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)'))


def start_worker(server: Server, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "geniziz.cli", "worker", "--concurrency", "1"],
                               stdout=open(log, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
                               env={**os.environ, "GENIZIZ_DATABASE_URL": server.database_url, **FAST})
    wait_until(lambda: " started (concurrency" in log.read_text(errors="replace") or process.poll() is not None,
               what="a worker to start")
    assert process.poll() is None, log.read_text(errors="replace")
    return process


def counts(database_url: str, org_id: str) -> dict[str, int]:
    async def main() -> dict[str, int]:
        db = Database(database_url)
        try:
            async with db.system_session() as session:
                out = {}
                for name, sql in (
                        ("leads", "SELECT count(*) FROM lead WHERE organization_id = :o"),
                        ("contacts", "SELECT count(*) FROM contact WHERE organization_id = :o"),
                        ("distinct_emails", "SELECT count(DISTINCT email_keys) FROM contact WHERE organization_id = :o"),
                        ("distinct_companies", "SELECT count(DISTINCT name) FROM lead WHERE organization_id = :o"),
                        ("created_activities", "SELECT count(*) FROM activity WHERE organization_id = :o "
                                               "AND type = 'created'")):
                    out[name] = (await session.execute(text(sql), {"o": org_id})).scalar_one()
                return out
        finally:
            await db.dispose()

    return asyncio.run(main())


def test_an_import_worker_killed_mid_file_resumes_and_imports_every_row_once(own_server: Server,
                                                                          tmp_path: Path) -> None:
    api: Api = new_workspace(own_server, "Crash")
    companies = [i // 2 for i in range(ROWS)]  # two contacts per company, on consecutive rows
    content = "Company,Website,Name,Email\n" + "".join(
        f"Company {c},company{c}.example,Person {i},person{i}@company{c}.example\n" for i, c in enumerate(companies))
    started = api.ok("POST", "/import/", json={"content": content})
    assert started["total_rows"] == ROWS

    first = start_worker(own_server, tmp_path / "worker-1.log")
    try:
        progress = wait_until(lambda: (now := api.ok("GET", f"/import/{started['id']}/"))["processed_rows"] > 0
                              and now, timeout=60, what="the first chunk to commit")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    at_kill = api.ok("GET", f"/import/{started['id']}/")
    # Killed in the middle: some chunks committed, not all (else this test would show nothing).
    assert 0 < at_kill["processed_rows"] < ROWS and at_kill["status"] == "running", (progress, at_kill)

    second = start_worker(own_server, tmp_path / "worker-2.log")
    try:
        done = wait_until(lambda: (now := api.ok("GET", f"/import/{started['id']}/"))["status"]
                          in ("succeeded", "failed") and now, timeout=90, what="the import to finish")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=20)
    assert done["status"] == "succeeded" and done["processed_rows"] == ROWS and done["failed_rows"] == 0, done
    assert done["counts"] == {"created_leads": ROWS // 2, "created_contacts": ROWS}, done
    # Every row exactly once: as many contacts as rows, each email once, one lead per company, and one
    # `created` activity per record (the events of a chunk commit with it, or not at all).
    found = counts(own_server.database_url, api.org_id)
    assert found == {"leads": ROWS // 2, "contacts": ROWS, "distinct_emails": ROWS, "distinct_companies": ROWS // 2,
                     "created_activities": ROWS // 2 + ROWS}, found
    api.close()
