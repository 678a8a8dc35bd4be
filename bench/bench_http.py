#!/usr/bin/env python3
"""HTTP benchmark: Geniziz beside two reference endpoints, in one run, with wrk as the load generator.

    .venv/bin/python bench/bench_http.py --database sqlite --database postgresql
    .venv/bin/python bench/bench_http.py --leads 5000 --seconds 3          # a quick look
    .venv/bin/python bench/bench_http.py --leads 1000000 --seed-only --keep # a big database, kept

For each backend asked for:

1. a fresh database (an SQLite file in a temporary directory, or a new PostgreSQL database on
   --postgres-url's server, dropped afterwards), migrated;
2. seeding by bulk insert (SQLAlchemy Core, batches of 5,000; not the API): one workspace with
   N leads and 1-2 contacts each, the derived columns computed by the services' own functions;
3. two servers, one process each: ``geniziz serve`` (rate limits on, with ceilings out of the way) and
   the reference app (bench/reference_app.py: bare FastAPI, and FastAPI + SQLAlchemy async ORM + one
   primary-key ``session.get`` + a Pydantic response on the same ``lead`` table; and that stack's create,
   ``POST /lead``, the yardstick ``POST /lead/`` is read against);
4. for each concurrency, every scenario under ``wrk`` (C, with a Lua script for auth, varied paths and
   POST bodies; installed by ``apt-get install -y wrk`` if missing), the typical-stack endpoint first
   and last of the reads so that drift shows, the creates after the reads of every concurrency;
5. one table: req/s as a ratio to the typical-stack GET (the mean of its two runs), p50/p99,
   and CPU per request of the server, of wrk, and of the rest of the machine (PostgreSQL, mostly).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
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

import httpx  # only to wait for the servers to start

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
def fresh_database(backend: str, workdir: Path, postgres_url: str, *, keep: bool = False) -> Iterator[tuple[str, str]]:
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
        if not keep:
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


def start_server(url: str, workdir: Path, *, reference: bool = False, timeout: float = 90) -> Server:
    """``geniziz serve`` or the reference app, one process, on a free port; returns once it answers."""
    port = free_port()
    env = {**os.environ, "GENIZIZ_DATABASE_URL": url, "REFERENCE_DATABASE_URL": url, "GENIZIZ_LOG_LEVEL": "warning",
           # Rate limits stay on (each request is counted), with ceilings the benchmark never reaches.
           "GENIZIZ_RATE_LIMIT_READ": "100000000/minute", "GENIZIZ_RATE_LIMIT_WRITE": "100000000/minute",
           "GENIZIZ_RATE_LIMIT_HEAVY": "100000000/minute",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    if reference:
        command = [sys.executable, "-m", "uvicorn", "--factory", "reference_app:create_app", "--app-dir",
                   str(ROOT / "bench"), "--port", str(port), "--log-level", "warning", "--no-access-log"]
        ready = "/floor"
    else:
        command = [sys.executable, "-m", "geniziz.cli", "serve", "--port", str(port)]
        ready = "/api/v1/openapi.json"
    log_path = workdir / ("reference.log" if reference else "server.log")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log_tail()}")
        try:
            if httpx.get(server.base_url + ready, timeout=2).status_code == 200:
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


def _children_cpu() -> float:
    """CPU of reaped child processes: around one wrk run, wrk's own (the servers are still running)."""
    t = os.times()
    return t.children_user + t.children_system


# --- load generation: wrk ----------------------------------------------------------------------------------------
def ensure_wrk() -> str:
    """The wrk binary; installed from Debian's packages (the bench's own set-up step) when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (apt-get install -y wrk) ...", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    subprocess.run([*sudo, "apt-get", "install", "-y", "wrk"], check=True, capture_output=True, timeout=600)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and could not be installed")
    return found


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


LUA = """
local method, auth = %(method)s, %(auth)s
local paths = {%(paths)s}
local bodies = {%(bodies)s}
local i = 0
local headers = {["Content-Type"] = "application/json"}
if auth ~= "" then headers["Authorization"] = auth end

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  i = math.random(#paths)
end

request = function()
  i = i + 1
  local body = nil
  if #bodies > 0 then body = bodies[(i %% #bodies) + 1] end
  return wrk.format(method, paths[(i %% #paths) + 1], headers, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class Scenario:
    name: str
    base_url: str
    paths: list[str]
    method: str = "GET"
    bodies: list[str] = field(default_factory=list)
    auth: str = ""

    def lua(self) -> str:
        return LUA % {"method": f'"{self.method}"', "auth": f'"{self.auth}"',
                      "paths": ", ".join(_lua_string(p) for p in self.paths),
                      "bodies": ", ".join(_lua_string(b) for b in self.bodies)}


@dataclass
class Result:
    scenario: str
    connections: int
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    server_cpu: float | None
    wrk_cpu: float
    machine_cpu: float | None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def per_request(self, cpu: float | None) -> float | None:
        return None if cpu is None or not self.requests else cpu / self.requests * 1000


def run_wrk(wrk: str, scenario: Scenario, connections: int, seconds: float, server_pid: int,
            workdir: Path) -> Result:
    script = workdir / "scenario.lua"
    script.write_text(scenario.lua())
    threads = min(2, connections)
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "60s", "-s", str(script),
               scenario.base_url + scenario.paths[0]]
    srv0, wrk0, mach0 = _proc_cpu(server_pid), _children_cpu(), _machine_busy()
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    srv1, wrk1, mach1 = _proc_cpu(server_pid), _children_cpu(), _machine_busy()
    line = next((line for line in done.stdout.splitlines() if line.startswith("RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    requests, duration_us, status_errors, socket_errors, p50_us, p99_us = map(int, line.split()[1:])
    server_cpu = None if srv0 is None or srv1 is None else srv1 - srv0
    machine = None if mach0 is None or mach1 is None else mach1 - mach0
    return Result(scenario.name, connections, requests, duration_us / 1e6, status_errors + socket_errors,
                  p50_us / 1000, p99_us / 1000, server_cpu, wrk1 - wrk0, machine)


def drain(pid: int, limit: float = 120.0) -> None:
    """Wait until a server is idle: when wrk stops, requests it left queued are still being served, and
    they must not be counted against the next scenario (bounded by ``limit`` seconds)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = _proc_cpu(pid)
        time.sleep(0.5)
        after = _proc_cpu(pid)
        if before is None or after is None or after - before < 0.05:
            return


def scenarios(seeded: Seeded, geniziz: str, reference: str, deep_skip: int, rng: random.Random) -> list[Scenario]:
    ids = rng.sample(seeded.lead_ids, min(1000, len(seeded.lead_ids)))
    auth = "Basic " + base64.b64encode(f"{seeded.api_key}:".encode()).decode()
    fragments = [f for f, _ in seeded.queries] or ["smith"]
    deep_before = before_row(seeded, deep_skip)
    bodies = [json.dumps(lead_body(rng)) for _ in range(200)]
    api = "/api/v1"

    def mine(name: str, paths: list[str], **kw: Any) -> Scenario:
        return Scenario(name, geniziz, paths, auth=auth, **kw)

    return [
        Scenario("ref: bare FastAPI (floor)", reference, ["/floor"]),
        Scenario("ref: typical stack GET", reference, [f"/lead/{i}" for i in ids]),
        mine("GET /status/lead/ (auth floor)", [f"{api}/status/lead/"]),
        mine("GET /lead/{id}/", [f"{api}/lead/{i}/" for i in ids]),
        mine("GET /lead/?_limit=100", [f"{api}/lead/?_limit=100"]),
        mine(f"GET /lead/ _skip={deep_skip:,}", [f"{api}/lead/?_limit=100&_skip={deep_skip}"]),
        mine(f"GET /lead/ _before (row {deep_skip:,})", [f"{api}/lead/?_limit=100&_before={deep_before}"]),
        mine("GET /lead/?query=", [f"{api}/lead/?_limit=100&query={f.replace(' ', '+')}" for f in fragments]),
        Scenario("ref: typical stack POST", reference, ["/lead"], method="POST", bodies=bodies),
        mine("POST /lead/", [f"{api}/lead/"], method="POST", bodies=bodies),
        Scenario("ref: typical stack GET (again)", reference, [f"/lead/{i}" for i in ids]),
    ]


def before_row(seeded: Seeded, skip: int) -> str:
    """The ID a client paging with ``_before`` sends for the page ``_skip=skip`` shows: the previous page's last row
    (seeded IDs grow in insertion order, and pages are newest first)."""
    return seeded.lead_ids[-skip] if 0 < skip <= len(seeded.lead_ids) else "lead_" + "z" * 22


def check_responses(seeded: Seeded, geniziz: str, deep_skip: int) -> None:
    """Before measuring, each scenario must answer what it should (so that errors are not timed)."""
    with httpx.Client(base_url=geniziz + "/api/v1", auth=(seeded.api_key, ""), timeout=120) as client:
        def get(path: str) -> Any:
            response = client.get(path)
            assert response.status_code == 200, f"GET {path} -> {response.status_code}: {response.text[:300]}"
            return response.json()

        lead = get(f"/lead/{seeded.lead_ids[0]}/")
        assert lead["id"] == seeded.lead_ids[0] and lead["contacts"], lead
        assert len(get("/lead/?_limit=100")["data"]) == min(100, seeded.leads)
        deep = get(f"/lead/?_limit=100&_skip={deep_skip}")["data"]
        assert len(deep) == min(100, seeded.leads - deep_skip), len(deep)
        if 0 < deep_skip < seeded.leads:
            keyset = get(f"/lead/?_limit=100&_before={before_row(seeded, deep_skip)}")["data"]
            assert [r["id"] for r in keyset] == [r["id"] for r in deep], "the _before page is not the _skip page"
        if seeded.queries:
            fragment, expected = seeded.queries[0]
            found = get(f"/lead/?_limit=100&query={fragment.replace(' ', '+')}")["data"]
            assert len(found) == min(100, expected), (fragment, expected, len(found))


# --- reporting ----------------------------------------------------------------------------------------------------
def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


HEADER = ("scenario", "conn", "req/s", "x typical", "p50 ms", "p99 ms", "p99/p50", "srv ms/req", "wrk ms/req",
          "rest ms/req", "err")


def table(results: list[Result]) -> list[tuple[str, ...]]:
    rows = []
    for conn in dict.fromkeys(r.connections for r in results):
        block = [r for r in results if r.connections == conn]
        typical = [r.rps for r in block if r.scenario.startswith("ref: typical stack GET")]
        base = sum(typical) / len(typical) if typical else float("nan")
        for r in block:
            srv, wrk_ = r.per_request(r.server_cpu), r.per_request(r.wrk_cpu)
            machine = r.per_request(r.machine_cpu)
            # The rest of the machine: PostgreSQL's backends, mostly (on SQLite the database runs in the server).
            rest = None if machine is None or srv is None else max(0.0, machine - srv - wrk_)
            rows.append((r.scenario, str(conn), _fmt(r.rps, 0), _fmt(r.rps / base, 2), _fmt(r.p50_ms),
                         _fmt(r.p99_ms), _fmt(r.p99_ms / r.p50_ms if r.p50_ms else None), _fmt(srv, 2),
                         _fmt(wrk_, 2), _fmt(rest, 2), str(r.errors)))
    return rows


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(HEADER[i]), *(len(row[i]) for row in rows)) for i in range(len(HEADER))]
    line = lambda row: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))  # noqa: E731
    print(line(HEADER))
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
    wrk = subprocess.run([shutil.which("wrk") or "wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    return [
        f"date:     {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"machine:  {os.cpu_count()} CPUs (nproc), {mem} RAM, CPU model: {cpu}; {platform.platform()}",
        f"python:   {platform.python_version()}; load average at start: {load}",
        f"command:  {shlex.join([sys.executable, *argv])}",
        f"load:     {wrk.strip()} on the same machine as the servers and the database",
    ]


# --- one backend ------------------------------------------------------------------------------------------------
def bench_backend(backend: str, args: argparse.Namespace, wrk: str) -> bool:
    rng = random.Random(args.seed)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix=f"geniziz-bench-{backend}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ok = True
    try:
        with fresh_database(backend, workdir, args.postgres_url, keep=args.keep) as (url, version):
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
            if args.seed_only:
                print(f"database: {url}\nAPI key: {seeded.api_key}")
                return True
            deep_skip = args.deep_skip if args.deep_skip is not None else (int(seeded.leads * 0.9) // 100) * 100
            deep_skip = min(deep_skip, max(0, seeded.leads - 1))
            server = start_server(url, workdir)
            reference = start_server(url, workdir, reference=True)
            try:
                check_responses(seeded, server.base_url, deep_skip)
                results = []
                runs = [(conn, scenario) for conn in args.connections
                        for scenario in scenarios(seeded, server.base_url, reference.base_url, deep_skip, rng)]
                # The creates last, at every concurrency: a created lead (no contacts) tops the list, and a
                # list page read after them held 100 leads without contacts, half the work of a seeded page.
                runs.sort(key=lambda run: run[1].method != "GET")
                for conn, scenario in runs:
                    pid = (reference if scenario.base_url == reference.base_url else server).process.pid
                    run_wrk(wrk, scenario, conn, min(2.0, args.seconds), pid, workdir)  # warm-up
                    drain(pid)
                    results.append(run_wrk(wrk, scenario, conn, args.seconds, pid, workdir))
                    drain(pid)
                    print(f"  measured {scenario.name} at {conn}: {results[-1].rps:,.0f} req/s", flush=True)
                print()
                print_table(table(results))
                failed = [r for r in results if r.errors]
                for r in failed:
                    print(f"ERRORS in {r.scenario} at {r.connections}: {r.errors}")
                ok = not failed
            finally:
                rss = ""
                try:
                    rss = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{server.process.pid}/status").read_text()).group(1)  # type: ignore[union-attr]
                except (OSError, AttributeError):
                    pass
                stop_server(server)
                stop_server(reference)
                if rss:
                    print(f"Geniziz server RSS at the end: {int(rss) / 1024:.0f} MiB")
                if hasattr(os, "getloadavg"):
                    print(f"load average at the end ({datetime.now(UTC).strftime('%H:%M UTC')}): "
                          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
                faults = [line for line in server.log_tail(10_000).splitlines() if "Unhandled error" in line
                          or "Traceback" in line]
                if faults:
                    ok = False
                    print(f"SERVER FAULTS ({len(faults)}), log tail:\n{server.log_tail()}")
    finally:
        if args.keep or args.workdir:
            print(f"(kept {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", action="append", choices=["sqlite", "postgresql"],
                        help="backend to measure (repeatable; default: sqlite)")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server where a fresh database may be created and dropped")
    parser.add_argument("--leads", type=int, default=100_000, help="leads to seed (1-2 contacts each)")
    parser.add_argument("--seconds", type=float, default=8.0, help="wrk duration per scenario and concurrency")
    parser.add_argument("--connections", type=int, nargs="+", default=[64, 1], help="wrk connections")
    parser.add_argument("--deep-skip", type=int, default=None, help="_skip of the deep page (default: 90%% of --leads)")
    parser.add_argument("--seed", type=int, default=1, help="random seed for the data and the request mix")
    parser.add_argument("--seed-only", action="store_true", help="seed, print the database URL and API key, stop")
    parser.add_argument("--keep", action="store_true", help="keep the database (and the SQLite file and server logs)")
    parser.add_argument("--workdir", help="directory for the SQLite file and logs (kept; default: a temporary one)")
    args = parser.parse_args(argv)
    if args.leads < 1 or args.seconds <= 0 or min(args.connections) < 1:
        parser.error("--leads, --seconds and --connections must be positive")
    backends = args.database or ["sqlite"]
    wrk = ensure_wrk()

    print("Geniziz HTTP benchmark (bench/bench_http.py)")
    for line in machine_lines([sys.argv[0], *argv]):
        print(line)
    print(f"settings: {args.leads:,} leads, wrk -t2 -c<conn> -d{args.seconds:g}s per scenario (after a 2 s warm-up), "
          f"connections {' '.join(map(str, args.connections))}; one process per server", flush=True)
    ok = True
    for backend in dict.fromkeys(backends):
        ok = bench_backend(backend, args, wrk) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
