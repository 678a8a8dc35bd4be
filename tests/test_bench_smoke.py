"""The core benchmark still runs: tiny sizes, SQLite, one concurrency. It checks that the script works, not the
figures (timings on shared machines are noisy; bench/README.md says how to measure)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_core_runs_and_prints_its_table() -> None:
    command = [sys.executable, str(ROOT / "bench" / "bench_core.py"), "--database", "sqlite", "--leads", "200",
               "--requests", "20", "--concurrency", "1", "--max-seconds", "3",
               "--rounds", "2", "--floor-candidates", "/api/v1/status/lead/"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    header = next((line for line in done.stdout.splitlines() if line.startswith("scenario ")), None)
    assert header is not None, output
    for column in ("req/s", "p50 ms", "p99 ms", "p50/floor", "rps/floor"):
        assert column in header, header
    for scenario in ("get-lead", "list-leads first", "list-leads skip=100", "lead query", "create-lead"):
        assert any(line.startswith(scenario) for line in done.stdout.splitlines()), output
    assert "ERRORS" not in output and "SERVER FAULTS" not in output, output
