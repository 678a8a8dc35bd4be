"""The HTTP benchmark still runs: tiny sizes, SQLite, one concurrency. It checks that the script works, not the
figures (timings on shared machines are noisy; bench/README.md says how to measure)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_http_runs_and_prints_its_table() -> None:
    command = [sys.executable, str(ROOT / "bench" / "bench_http.py"), "--database", "sqlite", "--leads", "300",
               "--seconds", "1", "--connections", "2"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    lines = done.stdout.splitlines()
    header = next((line for line in lines if line.startswith("scenario ")), None)
    assert header is not None, output
    for column in ("req/s", "x typical", "p50 ms", "p99 ms", "srv ms/req"):
        assert column in header, header
    for scenario in ("ref: bare FastAPI", "ref: typical stack GET", "GET /lead/{id}/", "GET /lead/?_limit=100",
                     "GET /lead/ _skip=200", "GET /lead/ _before", "GET /lead/?query=", "POST /lead/"):
        assert any(line.startswith(scenario) for line in lines), output
    assert "ERRORS" not in output and "SERVER FAULTS" not in output, output


def test_bench_walk_walks_every_lead_and_prints_the_servers_memory() -> None:
    command = [sys.executable, str(ROOT / "bench" / "bench_walk.py"), "--database", "sqlite", "--leads", "450",
               "--every", "1"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "walked 450 leads" in output and "in 3 pages of 200" in output, output
    assert "peak (VmHWM)" in output, output


def test_bench_inproc_compares_two_trees_and_prints_ratios(tmp_path: Path) -> None:
    command = [sys.executable, str(ROOT / "bench" / "bench_inproc.py"), "--leads", "200", "--rounds", "1",
               "--requests", "20", "--src", str(ROOT / "src"), "--src", str(ROOT / "src"),
               "--profile", "GET /lead/{id}/", "--profile-out", str(tmp_path / "read.prof")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for scenario in ("ref: typical stack GET", "GET /status/lead/", "GET /lead/{id}/", "GET /lead/?_limit=100",
                     "POST /lead/"):
        line = next((line for line in done.stdout.splitlines() if line.startswith(scenario)), "")
        assert line.count("x") >= 2, output  # a ratio per tree
    assert (tmp_path / "read.prof").stat().st_size > 0
