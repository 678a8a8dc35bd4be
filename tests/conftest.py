"""Tests run against a real Geniziz server: `geniziz serve` in a subprocess, real HTTP, a real database.

GENIZIZ_TEST_BACKEND picks the database: `sqlite` (default, a fresh file) or `postgresql` (a fresh
database created on GENIZIZ_TEST_POSTGRES_URL's server and dropped afterwards). Asking for
PostgreSQL when it cannot be reached fails the run; it never silently falls back.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

BACKEND = os.environ.get("GENIZIZ_TEST_BACKEND", "sqlite")
# Every server, worker and command the tests start shapes each response both ways (compiled and pydantic)
# and fails on any difference (geniziz.api.shaping): the whole suite checks the compiled serializers.
os.environ.setdefault("GENIZIZ_CHECK_SHAPES", "1")
POSTGRES_ADMIN_URL = os.environ.get("GENIZIZ_TEST_POSTGRES_URL",
                                    "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
# One Fernet key per run for the servers' credentials at rest (a restarted server must read them back).
SECRET_KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- databases -------------------------------------------------------------------------------
async def _pg_admin(statement: str) -> None:
    import asyncpg

    url = POSTGRES_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _postgres_url(name: str) -> str:
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if BACKEND == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'geniziz.db'}"
        return
    if BACKEND != "postgresql":
        pytest.exit(f"GENIZIZ_TEST_BACKEND must be sqlite or postgresql, not {BACKEND!r}", returncode=2)
    name = f"geniziz_test_{secrets.token_hex(6)}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach PostgreSQL fails the run
        pytest.exit(f"PostgreSQL was asked for but cannot be reached at {POSTGRES_ADMIN_URL}: {exc}", returncode=3)
    yield _postgres_url(name)
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- fresh databases, already migrated -----------------------------------------------------------
_template: list[str] = []  # the migrated template's URL, made once per run


def _migrated_template() -> str:
    """An empty database at the latest migration, made once per run (migrating takes ~5 s of each server
    start; copying this takes ~0.1 s). Never served, so it stays empty: each copy's server bootstraps its own
    first workspace."""
    if not _template:
        if BACKEND == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='geniziz-template-')) / 'template.db'}"
        else:
            name = f"geniziz_template_{secrets.token_hex(6)}"
            asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
            atexit.register(lambda: asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')))
            url = _postgres_url(name)
        subprocess.run([sys.executable, "-m", "geniziz.cli", "migrate"], check=True, capture_output=True,
                       env={**os.environ, "GENIZIZ_DATABASE_URL": url, "GENIZIZ_LOG_LEVEL": "warning"})
        _template.append(url)
    return _template[0]


def fresh_database(directory: Path, stem: str = "fresh") -> Iterator[str]:
    """A new database of its own for a server, copied from the migrated template: yields its URL, and drops
    it (PostgreSQL) when advanced again."""
    template = _migrated_template()
    if BACKEND == "sqlite":
        path = directory / f"{stem}.db"
        shutil.copyfile(template.removeprefix("sqlite+aiosqlite:///"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    name = f"geniziz_{stem}_{secrets.token_hex(6)}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template.rpartition("/")[2]}"'))
    yield _postgres_url(name)
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def empty_database(directory: Path) -> Iterator[str]:
    """A new database with no tables (for a migration test to build step by step): its URL, dropped after."""
    if BACKEND == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'empty.db'}"
        return
    name = f"geniziz_test_m_{secrets.token_hex(4)}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _postgres_url(name)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- a running server --------------------------------------------------------------------------
@dataclass
class Server:
    base_url: str
    bootstrap_key: str
    log_path: Path
    process: subprocess.Popen[bytes]
    database_url: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(database_url: str, log_path: Path, **env: str) -> Server:
    port = free_port()
    environment = {
        **os.environ,
        "GENIZIZ_DATABASE_URL": database_url,
        "GENIZIZ_RATE_LIMIT_READ": "100000/minute",
        "GENIZIZ_RATE_LIMIT_WRITE": "100000/minute",
        "GENIZIZ_RATE_LIMIT_HEAVY": "100000/minute",
        "GENIZIZ_ADMIN_EMAIL": f"admin-{secrets.token_hex(4)}@example.com",
        "GENIZIZ_LOG_LEVEL": "warning",
        "GENIZIZ_SECRET_KEY": SECRET_KEY,
        "GENIZIZ_ALLOW_PRIVATE_HOSTS": "1",  # outbound integrations reach the tests' local platform doubles
        **env,
    }
    log = open(log_path, "wb")  # noqa: SIM115 - the server writes here until it stops
    process = subprocess.Popen([sys.executable, "-m", "geniziz.cli", "serve", "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, env=environment)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base}/api/v1/openapi.json", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError(f"server did not start:\n{log_path.read_text()}")
    match = re.search(r"API key \(shown once, keep it\): (\S+)", log_path.read_text())
    return Server(base, match.group(1) if match else "", log_path, process, database_url)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(database_url, tmp_path_factory.mktemp("server") / "server.log")
    assert srv.bootstrap_key, srv.log()
    yield srv
    stop_server(srv)
    # No request in the whole run may have crashed the server.
    faults = [line for line in srv.log().splitlines() if "Unhandled error" in line]
    assert not faults, "server faults during the run:\n" + "\n".join(faults)


def wait_until(check: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy (and return that), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def running_worker(database_url: str, log: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """A `geniziz worker` process on the database (PostgreSQL has no worker inside `geniziz serve`),
    started and waited for; stopped at the end."""
    process = subprocess.Popen([sys.executable, "-m", "geniziz.cli", "worker", "--concurrency", "2"],
                               stdout=open(log, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
                               env={**os.environ, "GENIZIZ_DATABASE_URL": database_url, **env})
    wait_until(lambda: "started (concurrency" in log.read_text(errors="replace") or process.poll() is not None,
               what="the worker to start")
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=20)


# --- clients -------------------------------------------------------------------------------------
class Api(httpx.Client):
    """An HTTP client for one workspace's API key, rooted at /api/v1."""

    def __init__(self, base_url: str, key: str, **ids: Any) -> None:
        super().__init__(base_url=f"{base_url}/api/v1", auth=(key, ""), timeout=30)
        self.server_url = base_url
        self.key = key
        self.org_id: str = ids.get("org_id", "")
        self.user_id: str = ids.get("user_id", "")
        self.database_url: str = ids.get("database_url", "")  # for rows no API action creates (jobs)

    def ok(self, method: str, path: str, status: int | None = None, **kwargs: Any) -> Any:
        """Send a request, assert success (or `status`) and return the JSON body."""
        response = self.request(method, path, **kwargs)
        expected = status or (201 if method.upper() == "POST" else 200)
        assert response.status_code == expected, f"{method} {path} -> {response.status_code}: {response.text}"
        return response.json()

    def create(self, resource: str, **body: Any) -> dict[str, Any]:
        return self.ok("POST", f"/{resource}/", json=body)

    def bad(self, method: str, path: str, field: str | None = None, status: int = 400, **kwargs: Any) -> dict:
        """Send a request that must fail with `status` in the error envelope (naming `field`, if given)."""
        response = self.request(method, path, **kwargs)
        assert response.status_code == status, f"{method} {path} -> {response.status_code}: {response.text}"
        body = response.json()
        assert isinstance(body.get("error"), str) and isinstance(body.get("field-errors"), dict), body
        if field is not None:
            assert any(name == field or name.startswith(field + ".") for name in body["field-errors"]), body
        return body


def new_workspace(server: Server, name: str = "Test workspace") -> Api:
    """A new workspace whose only member is a new admin user, and that admin's client."""
    with Api(server.base_url, server.bootstrap_key) as bootstrap:
        created = bootstrap.ok("POST", "/organization/", json={"name": name})
    founder_key = created["api_key"]
    email = f"admin-{secrets.token_hex(5)}@example.com"
    with Api(server.base_url, founder_key["key"]) as founder:
        admin = founder.ok("POST", "/membership/", json={"email": email, "role": "admin"})
        key = founder.ok("POST", "/api_key/", json={"name": "tests", "user_id": admin["user_id"]})
    client = Api(server.base_url, key["key"], org_id=created["id"], user_id=admin["user_id"],
                 database_url=server.database_url)
    # The bootstrap user leaves, so no user is shared between test workspaces.
    founder_membership = next(m for m in client.ok("GET", "/membership/")["data"] if m["user_id"] != admin["user_id"])
    client.ok("DELETE", f"/membership/{founder_membership['id']}/")
    return client


@pytest.fixture
def api(server: Server) -> Iterator[Api]:
    """A fresh workspace (with the default statuses) and its admin's client."""
    client = new_workspace(server, "Workspace A")
    yield client
    client.close()


@pytest.fixture
def other(server: Server) -> Iterator[Api]:
    """A second, unrelated workspace: nothing of `api`'s may be visible or reachable from it."""
    client = new_workspace(server, "Workspace B")
    yield client
    client.close()


def member_client(api: Api, email: str | None = None, role: str = "member") -> Api:
    """Invite a member into `api`'s workspace and return a client with a key of theirs."""
    email = email or f"member-{secrets.token_hex(4)}@example.com"
    membership = api.ok("POST", "/membership/", json={"email": email, "role": role})
    key = api.ok("POST", "/api_key/", json={"name": "for tests", "user_id": membership["user_id"]})
    return Api(api.server_url, key["key"], org_id=api.org_id, user_id=membership["user_id"])
