"""The command line and the server process: migrations, set-up commands, faults."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKEND, Server, start_server, stop_server


def geniziz(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "geniziz.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "GENIZIZ_DATABASE_URL": database_url})


def test_workspace_and_apikey_commands(server: Server) -> None:
    created = geniziz("workspace", "create", "CLI Corp", "--admin-email", "cli@example.com", "--json",
                      database_url=server.database_url)
    assert created.returncode == 0, created.stderr
    workspace = json.loads(created.stdout)
    assert workspace["organization_id"].startswith("orga_") and workspace["user_id"].startswith("user_")
    me = httpx.get(f"{server.base_url}/api/v1/me/", auth=(workspace["api_key"], "")).json()
    assert me["organization_id"] == workspace["organization_id"] and me["role"] == "admin"

    second = geniziz("apikey", "create", "--email", "cli@example.com", "--workspace", workspace["organization_id"],
                     "--json", database_url=server.database_url)
    assert second.returncode == 0, second.stderr
    key = json.loads(second.stdout)["api_key"]
    assert key != workspace["api_key"]
    assert httpx.get(f"{server.base_url}/api/v1/me/", auth=(key, "")).status_code == 200

    stranger = geniziz("apikey", "create", "--email", "nobody@example.com", "--workspace",
                       workspace["organization_id"], database_url=server.database_url)
    assert stranger.returncode != 0 and "not a member" in stranger.stderr
    bad_email = geniziz("workspace", "create", "X", "--admin-email", "nope", database_url=server.database_url)
    assert bad_email.returncode != 0


def test_migrate_is_idempotent(server: Server) -> None:
    result = geniziz("migrate", database_url=server.database_url)
    assert result.returncode == 0 and "up to date" in result.stdout


def test_the_models_match_the_migrations(server: Server) -> None:
    """Every schema change comes with a migration: the migrated database has exactly the models' schema."""
    from alembic import command

    from geniziz.migrate import alembic_config

    command.check(alembic_config(server.database_url))  # raises if autogenerate would find a difference


def test_a_server_fault_answers_500_in_the_envelope_and_is_logged(tmp_path: Path) -> None:
    if BACKEND != "sqlite":
        pytest.skip("the fault is staged by editing the SQLite file directly; the handler is backend-neutral")
    db = tmp_path / "fault.db"
    srv = start_server(f"sqlite+aiosqlite:///{db}", tmp_path / "fault.log")
    try:
        with sqlite3.connect(db) as conn:  # break the schema under the running server
            conn.execute("DROP TABLE line_item")
        lead = httpx.post(f"{srv.base_url}/api/v1/lead/", json={"name": "x"}, auth=(srv.bootstrap_key, "")).json()
        opportunity = httpx.post(f"{srv.base_url}/api/v1/opportunity/", json={"lead_id": lead["id"]},
                                 auth=(srv.bootstrap_key, "")).json()
        response = httpx.get(f"{srv.base_url}/api/v1/opportunity/{opportunity['id']}/line_item/",
                             auth=(srv.bootstrap_key, ""))
        assert response.status_code == 500
        body = response.json()
        request_id = response.headers["x-request-id"]
        assert request_id in body["error"] and body["field-errors"] == {}
        assert f"[request {request_id}]" in srv.log()
    finally:
        stop_server(srv)
