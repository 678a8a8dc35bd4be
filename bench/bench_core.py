#!/usr/bin/env python3
"""Core API benchmark: a seeded workspace, a real `geniziz serve`, and figures relative to a floor.

    .venv/bin/python bench/bench_core.py --database sqlite
    .venv/bin/python bench/bench_core.py --database postgresql
    .venv/bin/python bench/bench_core.py --database sqlite --leads 2000 --requests 200   # a quick look

What it does, for each backend asked for:

1. creates a fresh database (an SQLite file in a temporary directory, or a new PostgreSQL database
   on --postgres-url's server, dropped afterwards) and runs the migrations;
2. seeds one workspace: ``create_workspace`` (which gives an API key), then N leads with 1-2
   contacts each, bulk-inserted with SQLAlchemy Core, with ``search_text``, ``email_keys`` and
   ``phone_keys`` computed by the same functions the services use;
3. starts ``geniziz serve`` (one process) on 127.0.0.1 with rate limits out of the way;
4. measures, at each concurrency, a fixed number of requests (capped in time) per scenario:
   the floor (the cheapest authenticated endpoint, picked among a few candidates), get-lead,
   list-leads (first page and a deep page), lead ``query`` search and create-lead;
5. prints one table: requests/s, p50 and p99 latency, each as a ratio to the floor, and where the CPU
   went (server, load generator, the rest of the machine). Each scenario is measured in chunks that
   alternate with chunks of the floor at the same concurrency, and is compared with those paired
   floor chunks: on a shared machine others' load drifts within minutes, and pairing cancels most of it.

The load generator runs on the same machine as the server, so it competes with it for CPU: the
floor absorbs that cost, which is why the ratios are the figures to compare across machines.
Every loop is bounded in count and in time, and all traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import math
import os
import platform
import random
import re
import secrets
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing, too

TABLE_HEADER = ("scenario", "conc", "n", "err", "req/s", "p50 ms", "p99 ms", "floor p50", "p50/floor", "rps/floor",
                "srv ms/req", "cli ms/req", "rest ms/req")

# --- realistic data ---------------------------------------------------------------------------------
FIRST = """James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan
Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Margaret Mark
Sandra Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian
Dorothy George Melissa Timothy Deborah Ronald Stephanie Edward Rebecca Jason Sharon Jeffrey Laura Ryan Cynthia
Jacob Kathleen Gary Amy Nicholas Angela Eric Shirley Jonathan Anna Stephen Brenda Larry Pamela Justin Emma Scott
Nicole Brandon Helen Benjamin Samantha Samuel Katherine Gregory Christine Alexander Debra Frank Rachel Patrick
Carolyn Raymond Janet Jack Catherine Dennis Maria Jerry Heather Tyler Diane Aaron Ruth Jose Julie Adam Olivia
Nathan Joyce Henry Virginia Douglas Victoria Zachary Kelly Peter Lauren Kyle Christina Ethan Joan Walter Evelyn
Noah Judith Jeremy Megan Christian Andrea Keith Cheryl Roger Hannah Terry Jacqueline Gerald Martha Harold Gloria
Sean Teresa Austin Ann Carl Sara Arthur Madison Lawrence Frances Dylan Kathryn Jesse Janice Jordan Jean Bryan
Abigail Billy Alice Joe Julia Bruce Judy Gabriel Sophia Logan Grace Albert Denise Willie Amber Alan Doris Juan
Marilyn Wayne Danielle Elijah Beverly Randy Isabella Roy Theresa Vincent Diana Ralph Natalie Eugene Brittany
Russell Charlotte Bobby Marie Mason Kayla Philip Alexis Louis Lori""".split()
LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis
Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera
Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart
Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox
Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders
Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes
Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace
Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens
Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns
Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer
Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols
Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce Hansen Peters Santos Hart
Bradley Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Ray Berry Perkins Hoffman
Johnston Matthews Pena Richards Contreras Willis Carpenter Lawrence Sandoval""".split()
WORDS = """Harbor Summit Pioneer Cedar Granite Beacon Meridian Falcon Horizon Keystone Atlas Evergreen Northwind
Redwood Sterling Silverline Bluewater Ironwood Lakeshore Highland Riverbend Oakridge Pinecrest Crescent Vanguard
Cobalt Frontier Heritage Liberty Prairie Quarry Sequoia Tidewater Willow Aspen Bayview Canyon Driftwood Emerald
Foxglove Goldleaf Hollow Juniper Kingsley Larkspur Maplewood Northgate Orchard Parkside Quartz Ridgeline Sagebrush
Timber Upland Valley Westbrook Yarrow Zephyr Copper Marble""".split()
SUFFIX = """Logistics Software Dental Realty Construction Consulting Marketing Foods Analytics Insurance Labs
Manufacturing Partners Solutions Systems Holdings Ventures Group Studio Supply Capital Health Energy Robotics
Media Freight Legal Design Outfitters Brewing""".split()
INDUSTRY = ["Software", "Logistics", "Healthcare", "Real estate", "Construction", "Consulting", "Marketing",
            "Food and beverage", "Financial services", "Insurance", "Manufacturing", "Retail", "Energy", "Media",
            "Legal", "Education"]
TITLES = ["CEO", "CTO", "VP Sales", "Head of Operations", "Office Manager", "Founder", "Procurement Lead",
          "Marketing Director", "Account Manager", "CFO"]
CITIES = [("Austin", "TX", "78701"), ("Denver", "CO", "80202"), ("Portland", "OR", "97201"),
          ("Chicago", "IL", "60601"), ("Boston", "MA", "02108"), ("Seattle", "WA", "98101"),
          ("Atlanta", "GA", "30303"), ("Phoenix", "AZ", "85004"), ("Columbus", "OH", "43215")]


def _address(rng: random.Random) -> dict[str, Any]:
    city, state, zipcode = rng.choice(CITIES)
    # The shape AddressEntry.model_dump() stores: every key, unset ones as null.
    return {"label": "business", "address_1": f"{rng.randint(1, 9999)} {rng.choice(WORDS)} St",
            "address_2": None, "city": city, "state": state, "zipcode": zipcode, "country": "US"}


def _phone(rng: random.Random) -> str:
    return f"+1555{rng.randint(0, 9_999_999):07d}"  # E.164, as normalize_phone stores it


def lead_body(rng: random.Random) -> dict[str, Any]:
    """One lead as a client would POST it (and as it is stored, minus derived columns)."""
    last, word, suffix = rng.choice(LAST), rng.choice(WORDS), rng.choice(SUFFIX)
    name = f"{last} {word} {suffix}"
    domain = f"{last}{word}".lower() + rng.choice([".com", ".io", ".co", ".net"])
    return {
        "name": name,
        "url": f"https://www.{domain}",
        "description": f"{suffix} company in {rng.choice(CITIES)[0]}; met at a trade show.",
        "industry": rng.choice(INDUSTRY),
        "mrr": rng.choice([None, rng.randint(1, 500) * 100]),
        "emails": [{"email": f"{rng.choice(['info', 'hello', 'sales', 'contact'])}@{domain}", "type": "office"}],
        "phones": [{"phone": _phone(rng), "type": "office"}],
        "addresses": [_address(rng)],
    }


def contact_body(rng: random.Random, domain: str) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    emails = [{"email": f"{first}.{last}@{domain}".lower(), "type": "office"}]
    phones = [{"phone": _phone(rng), "type": rng.choice(["office", "mobile"])}]
    return {"name": f"{first} {last}", "title": rng.choice(TITLES), "emails": emails, "phones": phones,
            "urls": [{"url": f"https://linkedin.com/in/{first}-{last}-{rng.randint(100, 999)}".lower(),
                      "type": "url"}]}


# --- seeding ---------------------------------------------------------------------------------------------
@dataclass
class Seeded:
    api_key: str
    org_id: str
    lead_ids: list[str]
    queries: list[tuple[str, int]]  # (fragment, rows it matches at seeding time)
    leads: int
    contacts: int
    seconds: float


async def seed(url: str, n_leads: int, rng: random.Random, batch: int = 5000) -> Seeded:
    from sqlalchemy import insert, select, text

    from geniziz.app import load_domains
    from geniziz.contacts.models import Contact
    from geniziz.contacts.service import _keys
    from geniziz.db import Database, new_id, utcnow
    from geniziz.identity.service import create_workspace
    from geniziz.leads.models import Lead
    from geniziz.leads.service import search_text
    from geniziz.statuses.models import Status

    load_domains()
    started = time.monotonic()
    db = Database(url)
    try:
        async with db.system_session(write=True) as session:  # a new workspace: no workspace yet
            org, user, _key, secret = await create_workspace(session, "Bench workspace", "bench@example.com", "Bench")
            status_id = await session.scalar(select(Status.id).where(
                Status.organization_id == org.id, Status.kind == "lead").order_by(Status.id).limit(1))
        assert status_id, "the new workspace has no lead status"

        lead_ids: list[str] = []
        texts: list[str] = []
        n_contacts = 0
        done = 0
        while done < n_leads:  # bounded: n_leads / batch iterations
            count = min(batch, n_leads - done)
            leads, contacts = [], []
            now = utcnow()
            for _ in range(count):
                body = lead_body(rng)
                lead_id = new_id("lead")
                domain = body["url"].removeprefix("https://www.")
                people = [contact_body(rng, domain) for _ in range(rng.choice((1, 1, 2)))]
                for person in people:
                    contacts.append({
                        **person, "id": new_id("cont"), "organization_id": org.id, "lead_id": lead_id,
                        "email_keys": _keys([e["email"] for e in person["emails"]]),
                        "phone_keys": _keys([p["phone"] for p in person["phones"]]),
                        "date_created": now, "date_updated": now, "created_by": user.id, "updated_by": user.id,
                    })
                stext = search_text(SimpleNamespace(**body), [SimpleNamespace(**p) for p in people])  # type: ignore[arg-type]
                leads.append({
                    **body, "id": lead_id, "organization_id": org.id, "status_id": status_id,
                    "owner_id": user.id if rng.random() < 0.7 else None, "search_text": stext,
                    "date_created": now, "date_updated": now, "created_by": user.id, "updated_by": user.id,
                })
                lead_ids.append(lead_id)
                texts.append(stext)
            async with db.write_engine.begin() as conn:
                await conn.execute(insert(Lead.__table__), leads)
                await conn.execute(insert(Contact.__table__), contacts)
            n_contacts += len(contacts)
            done += count
        if not db.is_sqlite:
            # What autovacuum does shortly after a bulk load (statistics, visibility map).
            async with db.write_engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE"))
    finally:
        await db.dispose()
    if db.is_sqlite:  # fold the WAL into the file, as a server that has been running a while would have
        with sqlite3.connect(url.partition(":///")[2]) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Seeded(secret, org.id, lead_ids, _query_fragments(texts, rng), n_leads, n_contacts,
                  time.monotonic() - started)


def _query_fragments(texts: list[str], rng: random.Random, wanted: int = 20) -> list[tuple[str, int]]:
    """Name fragments ("<last> <word>", as a user types a company name) that match few leads."""
    if not texts:
        return []
    picked: dict[str, int] = {}
    for _ in range(wanted * 5):  # bounded
        if len(picked) >= wanted:
            break
        fragment = " ".join(rng.choice(texts).split()[:2])
        if fragment not in picked:
            picked[fragment] = sum(fragment in t for t in texts)
    return list(picked.items())


# --- databases ----------------------------------------------------------------------------------------------
async def _pg_admin(admin_url: str, statement: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"), timeout=10)
    try:
        if statement.lower().startswith("select"):
            return str(await conn.fetchval(statement))
        await conn.execute(statement)
        return ""
    finally:
        await conn.close()


@contextmanager
def fresh_database(backend: str, workdir: Path, postgres_url: str) -> Iterator[tuple[str, str]]:
    """(SQLAlchemy URL, version string) of a new, empty database; removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / 'bench.db'}", f"SQLite {sqlite3.sqlite_version}"
        return
    admin = postgres_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    name = f"geniziz_bench_{secrets.token_hex(5)}"
    version = asyncio.run(_pg_admin(admin, "select version()")).split(" on ")[0]
    asyncio.run(_pg_admin(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield f"{admin.rpartition('/')[0]}/{name}", version
    finally:
        asyncio.run(_pg_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- the server -----------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def start_server(url: str, workdir: Path, timeout: float = 90) -> Server:
    port = free_port()
    env = {**os.environ, "GENIZIZ_DATABASE_URL": url, "GENIZIZ_LOG_LEVEL": "warning",
           "GENIZIZ_RATE_LIMIT_READ": "10000000/minute", "GENIZIZ_RATE_LIMIT_WRITE": "10000000/minute",
           "GENIZIZ_RATE_LIMIT_HEAVY": "10000000/minute",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "geniziz.cli", "serve", "--port", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.base_url}/api/v1/openapi.json", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(f"server did not start within {timeout:.0f} s:\n{server.log_tail()}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=15)


# --- CPU accounting (Linux /proc; blank elsewhere) --------------------------------------------------------------
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def _machine_busy() -> float | None:
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / TICK


def _self_cpu() -> float:
    t = os.times()
    return t.user + t.system


# --- load generation ----------------------------------------------------------------------------------------------
@dataclass
class Scenario:
    name: str
    method: str
    make: Callable[[random.Random], tuple[str, Any]]  # -> (path, json body or None)
    expect: int = 200


@dataclass
class Result:
    scenario: str
    concurrency: int
    n: int
    errors: int
    seconds: float
    latencies: list[float] = field(repr=False)
    server_cpu: float | None
    client_cpu: float
    machine_cpu: float | None
    capped: bool
    first_error: str = ""

    @property
    def rps(self) -> float:
        return self.n / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000 if ordered else float("nan")

    @staticmethod
    def merge(parts: list[Result]) -> Result:
        """Several chunks of one scenario at one concurrency as one result (times and CPU added up)."""
        def total(values: list[float | None]) -> float | None:
            return None if any(v is None for v in values) else sum(v for v in values if v is not None)

        return Result(parts[0].scenario, parts[0].concurrency, sum(r.n for r in parts), sum(r.errors for r in parts),
                      sum(r.seconds for r in parts), [x for r in parts for x in r.latencies],
                      total([r.server_cpu for r in parts]), sum(r.client_cpu for r in parts),
                      total([r.machine_cpu for r in parts]), any(r.capped for r in parts),
                      next((r.first_error for r in parts if r.first_error), ""))


async def run_cell(client: httpx.AsyncClient, scenario: Scenario, concurrency: int, requests: int,
                   max_seconds: float, rng: random.Random, server_pid: int) -> Result:
    issued = 0
    latencies: list[float] = []
    errors = 0
    first_error = ""
    deadline = time.monotonic() + max_seconds

    async def worker() -> None:
        nonlocal issued, errors, first_error
        while issued < requests and time.monotonic() < deadline:  # bounded in count and time
            issued += 1
            path, body = scenario.make(rng)
            t0 = time.perf_counter()
            try:
                response = await client.request(scenario.method, path, json=body)
                ok = response.status_code == scenario.expect
                detail = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                ok, detail = False, repr(exc)
            latencies.append(time.perf_counter() - t0)
            if not ok:
                errors += 1
                first_error = first_error or f"{scenario.method} {path}: {detail}"

    srv0, cli0, mach0 = _proc_cpu(server_pid), _self_cpu(), _machine_busy()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    srv1, cli1, mach1 = _proc_cpu(server_pid), _self_cpu(), _machine_busy()
    return Result(scenario.name, concurrency, len(latencies), errors, seconds, latencies,
                  None if srv0 is None or srv1 is None else srv1 - srv0, cli1 - cli0,
                  None if mach0 is None or mach1 is None else mach1 - mach0,
                  capped=len(latencies) < requests, first_error=first_error)


def scenarios(seeded: Seeded, deep_skip: int, floor_paths: list[str]) -> dict[str, Scenario]:
    ids = seeded.lead_ids
    fragments = [f for f, _ in seeded.queries] or ["smith"]
    made: dict[str, Scenario] = {}
    for path in floor_paths:
        made[f"floor {path}"] = Scenario(f"floor {path}", "GET", lambda _r, p=path: (p, None))
    made["get-lead"] = Scenario("get-lead", "GET", lambda r: (f"/api/v1/lead/{r.choice(ids)}/", None))
    made["list-leads first"] = Scenario("list-leads first", "GET", lambda _r: ("/api/v1/lead/?_limit=100", None))
    made[f"list-leads skip={deep_skip}"] = Scenario(
        f"list-leads skip={deep_skip}", "GET", lambda _r: (f"/api/v1/lead/?_limit=100&_skip={deep_skip}", None))
    made["lead query"] = Scenario(
        "lead query", "GET", lambda r: (f"/api/v1/lead/?_limit=100&query={r.choice(fragments).replace(' ', '+')}", None))
    made["create-lead"] = Scenario("create-lead", "POST", lambda r: ("/api/v1/lead/", lead_body(r)), expect=201)
    return made


async def check_responses(client: httpx.AsyncClient, seeded: Seeded, deep_skip: int) -> None:
    """Before measuring, make sure each scenario answers what it should (so we do not time errors)."""
    async def get(path: str) -> Any:
        response = await client.get(path)
        assert response.status_code == 200, f"GET {path} -> {response.status_code}: {response.text[:300]}"
        return response.json()

    lead = await get(f"/api/v1/lead/{seeded.lead_ids[0]}/")
    assert lead["id"] == seeded.lead_ids[0] and lead["contacts"], lead
    first = await get("/api/v1/lead/?_limit=100")
    assert len(first["data"]) == min(100, seeded.leads), len(first["data"])
    deep = await get(f"/api/v1/lead/?_limit=100&_skip={deep_skip}")
    assert len(deep["data"]) == min(100, seeded.leads - deep_skip), len(deep["data"])
    if seeded.queries:
        fragment, expected = seeded.queries[0]
        found = await get(f"/api/v1/lead/?_limit=100&query={fragment.replace(' ', '+')}")
        assert len(found["data"]) == min(100, expected), (fragment, expected, len(found["data"]))


# --- reporting ----------------------------------------------------------------------------------------------------
def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def table_rows(pairs: list[tuple[Result, Result]]) -> list[tuple[str, ...]]:
    """One row per (scenario, its paired floor); a floor row compares with itself."""
    rows = []
    for r, floor in pairs:
        per = (lambda cpu: None if cpu is None or not r.n else cpu / r.n * 1000)  # noqa: E731
        rest = None
        if r.machine_cpu is not None and r.server_cpu is not None:
            rest = max(0.0, r.machine_cpu - r.server_cpu - r.client_cpu)
        rows.append((
            r.scenario + (" *" if r.capped else ""), str(r.concurrency), str(r.n), str(r.errors), _fmt(r.rps, 0),
            _fmt(r.pct(0.50), 2), _fmt(r.pct(0.99), 2), _fmt(floor.pct(0.50), 2),
            _fmt(r.pct(0.50) / floor.pct(0.50), 1), _fmt(r.rps / floor.rps, 3) if floor.rps else "-",
            _fmt(per(r.server_cpu), 2), _fmt(per(r.client_cpu), 2), _fmt(per(rest), 2)))
    return rows


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(TABLE_HEADER[i]), *(len(row[i]) for row in rows)) for i in range(len(TABLE_HEADER))]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    print(line(TABLE_HEADER))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def machine_lines(argv: list[str]) -> list[str]:
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = "unknown"
    try:
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return [
        f"date:     {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"machine:  {os.cpu_count()} CPUs (nproc), {mem} RAM, CPU model: {cpu}; {platform.platform()}",
        f"python:   {platform.python_version()}; load average at start: {load}",
        f"command:  {shlex.join([sys.executable, *argv])}",
        "note:     the load generator (httpx, this process) runs on the same machine as the server and the",
        "          database, and competes with them for CPU; ratios to the floor are the portable figures.",
    ]


# --- one backend ------------------------------------------------------------------------------------------------
def bench_backend(backend: str, args: argparse.Namespace) -> bool:
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix=f"geniziz-bench-{backend}-"))
    ok = True
    try:
        with fresh_database(backend, workdir, args.postgres_url) as (url, version):
            from geniziz.migrate import upgrade

            print(f"\n=== {backend}: {version} (started {datetime.now(UTC).strftime('%H:%M UTC')}) ===", flush=True)
            upgrade(url)
            seeded = asyncio.run(seed(url, args.leads, rng))
            size = ""
            if backend == "sqlite":
                size = f", database file {(workdir / 'bench.db').stat().st_size / 2**20:.0f} MiB"
            counts = [c for _, c in seeded.queries]
            print(f"seeded {seeded.leads:,} leads and {seeded.contacts:,} contacts in one workspace "
                  f"in {seeded.seconds:.1f} s{size}", flush=True)
            if counts:
                print(f"lead query: {len(counts)} name fragments (e.g. {seeded.queries[0][0]!r}), each matching "
                      f"{min(counts)}-{max(counts)} leads (mean {sum(counts) / len(counts):.1f})")
            server = start_server(url, workdir)
            try:
                ok = asyncio.run(measure(server, seeded, args))
            finally:
                rss = ""
                try:
                    rss = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{server.process.pid}/status").read_text()).group(1)  # type: ignore[union-attr]
                except (OSError, AttributeError):
                    pass
                stop_server(server)
                if rss:
                    print(f"server RSS at the end: {int(rss) / 1024:.0f} MiB")
                if hasattr(os, "getloadavg"):
                    print(f"load average at the end ({datetime.now(UTC).strftime('%H:%M UTC')}): "
                          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
                faults = [line for line in server.log_tail(10_000).splitlines() if "Unhandled error" in line
                          or "Traceback" in line]
                if faults:
                    ok = False
                    print(f"SERVER FAULTS ({len(faults)}), log tail:\n{server.log_tail()}")
    finally:
        if args.keep:
            print(f"(kept {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return ok


async def measure(server: Server, seeded: Seeded, args: argparse.Namespace) -> bool:
    rng = random.Random(args.seed + 1)
    deep_skip = args.deep_skip if args.deep_skip is not None else max(0, (int(seeded.leads * 0.9) // 100) * 100)
    deep_skip = min(deep_skip, max(0, seeded.leads - 1))
    concs = sorted(set(args.concurrency))
    auth = "Basic " + base64.b64encode(f"{seeded.api_key}:".encode()).decode()
    limits = httpx.Limits(max_connections=max(concs), max_keepalive_connections=max(concs))
    pid = server.process.pid
    async with httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": auth}, timeout=120,
                                 limits=limits) as client:
        await check_responses(client, seeded, deep_skip)
        all_scenarios = scenarios(seeded, deep_skip, args.floor_candidates)

        async def warm(name: str, conc: int) -> None:
            n = min(args.requests, max(10, 2 * conc))
            await run_cell(client, all_scenarios[name], conc, n, min(10.0, args.max_seconds), rng, pid)

        # The floor: the cheapest of a few authenticated endpoints, probed in alternating rounds at one
        # concurrency; the best round of each counts.
        probe_conc = next((c for c in concs if c > 1), concs[0])
        probe_n = min(args.requests, 500)
        best: dict[str, Result] = {}
        for path in args.floor_candidates:
            await warm(f"floor {path}", probe_conc)
        for _round in range(2):
            for path in args.floor_candidates:
                r = await run_cell(client, all_scenarios[f"floor {path}"], probe_conc, probe_n,
                                   min(10.0, args.max_seconds), rng, pid)
                if path not in best or r.rps > best[path].rps:
                    best[path] = r
        print("floor candidates (conc %d, best of 2 rounds): %s" % (probe_conc, "; ".join(
            f"{path} {r.rps:,.0f} req/s, p50 {r.pct(0.5):.2f} ms" for path, r in best.items())))
        floor_path = max(best, key=lambda path: best[path].rps)
        floor_name = f"floor {floor_path}"
        print(f"floor = {floor_path} (the cheapest)", flush=True)

        # Each scenario is measured in --rounds chunks alternating with chunks of the floor, so the
        # scenario and the floor it is compared with see the same machine (others' load drifts).
        rounds = max(1, args.rounds)
        chunk = max(1, args.requests // rounds)
        order = ["get-lead", "list-leads first", f"list-leads skip={deep_skip}", "lead query", "create-lead"]
        pairs: list[tuple[Result, Result]] = []
        all_floor: dict[int, list[Result]] = {c: [] for c in concs}
        for conc in concs:
            await warm(floor_name, conc)
            for name in order:  # creates last in each block: they add leads (a few % of the data set)
                await warm(name, conc)
                mine, floor = [], []
                for _round in range(rounds):
                    floor.append(await run_cell(client, all_scenarios[floor_name], conc, chunk,
                                                args.max_seconds / rounds, rng, pid))
                    mine.append(await run_cell(client, all_scenarios[name], conc, chunk,
                                               args.max_seconds / rounds, rng, pid))
                pairs.append((Result.merge(mine), Result.merge(floor)))
                all_floor[conc] += floor
                print(f"  measured {name} at {conc}: {pairs[-1][0].rps:,.0f} req/s "
                      f"(its floor: {pairs[-1][1].rps:,.0f} req/s)", flush=True)
        floors = {c: Result.merge(parts) for c, parts in all_floor.items()}
        rank = {name: i for i, name in enumerate(order)}
        pairs.sort(key=lambda pair: (rank[pair[0].scenario], pair[0].concurrency))
        pairs[:0] = [(floors[c], floors[c]) for c in concs]

    short_floor = "floor " + floor_path.removeprefix("/api/v1")
    for r, _ in pairs:
        if r.scenario == floor_name:
            r.scenario = short_floor
    print()
    print_table(table_rows(pairs))
    print(f"\n{short_floor}: all its chunks at that concurrency ({rounds} per scenario). Each scenario's ratios are to "
          f"the floor chunks interleaved with it ({rounds} rounds of up to {chunk} requests each); "
          "'floor p50' is that paired floor.\n"
          "* = stopped by --max-seconds before --requests.  p50/floor: latency ratio (1.0 = as cheap as the "
          "floor); rps/floor: throughput ratio (below 1.0 = slower).\nsrv/cli ms/req: CPU time of the server process / "
          "of the load generator per request; rest: the machine's other busy CPU per request (the PostgreSQL "
          "server, the kernel, other processes).")
    for conc in concs:
        rates = [f.rps for f in all_floor[conc] if f.n]
        if rates:
            print(f"floor drift at concurrency {conc}: its {len(rates)} chunks ranged {min(rates):,.0f}-{max(rates):,.0f} "
                  f"req/s (max/min {max(rates) / min(rates):.2f}): how much the machine varied during the run")
    results = [r for r, _ in pairs]
    failed = [r for r in results if r.errors]
    for r in failed:
        print(f"ERRORS in {r.scenario} at {r.concurrency}: {r.errors}; first: {r.first_error}")
    return not failed


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", action="append", choices=["sqlite", "postgresql"],
                        help="backend to measure (repeatable; default: sqlite)")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server where a fresh database may be created and dropped")
    parser.add_argument("--leads", type=int, default=100_000, help="leads to seed (1-2 contacts each)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per scenario and concurrency")
    parser.add_argument("--max-seconds", type=float, default=30.0,
                        help="time cap per scenario and concurrency (the row is marked * when it stops early)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32], help="concurrent clients")
    parser.add_argument("--deep-skip", type=int, default=None, help="_skip of the deep page (default: 90%% of --leads)")
    parser.add_argument("--floor-candidates", nargs="+", default=["/api/v1/me/", "/api/v1/status/lead/"],
                        help="authenticated GET paths; the cheapest is the floor")
    parser.add_argument("--rounds", type=int, default=4,
                        help="chunks per cell, each after a chunk of the floor (pairs each scenario with its floor)")
    parser.add_argument("--seed", type=int, default=1, help="random seed for the data and the request mix")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (SQLite file, server log)")
    args = parser.parse_args(argv)
    if args.leads < 1 or args.requests < 1 or min(args.concurrency) < 1 or args.max_seconds <= 0:
        parser.error("--leads, --requests, --concurrency and --max-seconds must be positive")
    backends = args.database or ["sqlite"]

    print("Geniziz core benchmark (bench/bench_core.py)")
    for line in machine_lines([sys.argv[0], *argv]):
        print(line)
    print(f"settings: {args.leads:,} leads, {args.requests} requests per cell (cap {args.max_seconds:g} s), "
          f"concurrency {' '.join(map(str, sorted(set(args.concurrency))))}, one `geniziz serve` process", flush=True)
    ok = True
    for backend in dict.fromkeys(backends):
        ok = bench_backend(backend, args) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
