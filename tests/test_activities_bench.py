"""The activities benchmark still runs (tiny sizes). It checks that the script works and prints its table, not
the figures; the README says how to measure. It needs PostgreSQL, so it runs on that backend only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKEND, POSTGRES_ADMIN_URL

ROOT = Path(__file__).resolve().parent.parent


def test_bench_activities_runs_and_prints_its_table() -> None:
    if BACKEND != "postgresql":
        pytest.skip("the activities benchmark runs on PostgreSQL")
    command = [sys.executable, str(ROOT / "bench" / "bench_activities.py"), "--leads", "50", "--activities", "3000",
               "--big-lead", "800", "--deep-skip", "300", "--requests", "5",
               "--postgres-url", POSTGRES_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    lines = done.stdout.splitlines()
    assert any(line.startswith("scenario") and "p50 ms" in line and "p99 ms" in line for line in lines), output
    for scenario in ("floor: GET /me/", "one lead (800): first page", "one lead (800): _skip=300",
                     "workspace: first page", "workspace: _skip=300", "workspace: _skip=2,800"):
        assert any(line.startswith(scenario) for line in lines), output
