#!/usr/bin/env python3
"""Set-up commands for a fresh machine with only Python 3.11+ (standard library only).

    python3 dev.py serve   create .venv, install Geniziz, start the server on the embedded SQLite default
    python3 dev.py test    create .venv, install Geniziz with its test tools, run the whole test suite

`test` runs the suite on SQLite, and on PostgreSQL too (side by side) when GENIZIZ_TEST_POSTGRES_URL is set
(e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test); an unreachable PostgreSQL fails the run.
Extra arguments go to `geniziz serve` or to pytest.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def ensure_venv(extras: str) -> None:
    """Create the virtual environment and install the pinned dependencies, once per change of them."""
    if sys.version_info < (3, 11):
        sys.exit(f"Geniziz needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    inputs = b"".join((ROOT / name).read_bytes() for name in ("pyproject.toml", "requirements.lock"))
    stamp = VENV / f".installed-{extras or 'base'}"
    digest = hashlib.sha256(inputs).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    print("Installing Geniziz and its pinned dependencies into .venv ...", flush=True)
    target = f".[{extras}]" if extras else "."
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-c", "requirements.lock", "-e", target], cwd=ROOT, check=True)
    stamp.write_text(digest)


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("help", [])
    if command == "serve":
        ensure_venv("")
        server = [str(BIN / "geniziz"), "serve", *args]
        if os.name == "posix":  # the server becomes this process: Ctrl-C stops it alone, no wrapper to unwind
            os.chdir(ROOT)
            os.execv(server[0], server)
        return subprocess.call(server, cwd=ROOT)
    if command == "test":
        ensure_venv("test")
        backends = ["sqlite"] + (["postgresql"] if os.environ.get("GENIZIZ_TEST_POSTGRES_URL") else [])
        if len(backends) == 1:
            print("\n=== test suite on sqlite ===", flush=True)
            return subprocess.call([str(PYTHON), "-m", "pytest", *args], cwd=ROOT,
                                   env={**os.environ, "GENIZIZ_TEST_BACKEND": "sqlite"})
        # Both backends side by side: the suite mostly waits (servers starting, jobs running), so on two
        # cores this takes little longer than one backend alone. Each one's output is shown when it ends.
        runs = {}
        for backend in backends:
            log = tempfile.TemporaryFile()
            env = {**os.environ, "GENIZIZ_TEST_BACKEND": backend}
            # A temporary directory each: pytest prunes old ones under a shared root at start-up.
            basetemp = tempfile.mkdtemp(prefix=f"geniziz-tests-{backend}-")
            runs[backend] = (subprocess.Popen([str(PYTHON), "-m", "pytest", f"--basetemp={basetemp}", *args],
                                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log)
        status = 0
        for backend, (process, log) in runs.items():
            code = process.wait()
            log.seek(0)
            print(f"\n=== test suite on {backend}: {'passed' if code == 0 else f'failed ({code})'} ===", flush=True)
            sys.stdout.buffer.write(log.read())
            sys.stdout.flush()
            status = status or code
        return status
    print(__doc__)
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
