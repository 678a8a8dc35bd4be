#!/usr/bin/env python3
"""Server CPU per request, in-process, for A/B comparisons of source trees on one seeded database.

    .venv/bin/python bench/bench_inproc.py                                # this tree, SQLite, 5,000 leads
    .venv/bin/python bench/bench_inproc.py --src /other/checkout/src --src src --database postgresql
    .venv/bin/python bench/bench_inproc.py --profile 'GET /lead/?_limit=100' --profile-out list.prof

No HTTP server and no load generator: each tree's app is built in a child process of its own (so the tree's
``geniziz`` is the one imported, never this checkout's by accident), and every request is an ASGI call made
directly, timed by ``time.process_time()``: the figure is the server's own CPU, so the machine's load and
wrk's or httpx's cost count far less than in ``bench_http.py``. The trees alternate, round after round, on
the same database; the table shows, per scenario and tree, the minimum and the median of the rounds' means
(the minimum is the figure to compare: noise only adds), and each as a ratio to the typical-stack endpoint of
``bench_http.py`` (bench/reference_app.py, called the same way in the same child) as req/s would be: higher
is faster. The database is seeded once by ``bench_http``'s
bulk inserts (one workspace, 1-2 contacts per lead); creates add leads as they run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = "ref: typical stack GET"
REFERENCE_POST = "ref: typical stack POST"  # the typical create, for reading POST /lead/ (ratios stay to the GET)
SCENARIOS = (REFERENCE, "GET /status/lead/", "GET /lead/{id}/", "GET /lead/?_limit=100", "GET /lead/?query=",
             REFERENCE_POST, "POST /lead/")


# --- the child: one tree's app, called directly ---------------------------------------------------------------
async def _call(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes,
                answers: list[bytes] | None = None) -> int:
    path, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # the client never disconnects
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif answers is not None and message.get("body"):
            answers.append(message["body"])

    await app(scope, receive, send)
    return status


async def _child(plan: dict[str, Any]) -> dict[str, list[float]]:
    import gc
    from contextlib import AsyncExitStack

    from geniziz.app import create_app

    sys.path.append(str(ROOT / "bench"))
    import reference_app

    app, reference = create_app(), reference_app.create_app()
    auth = [(b"authorization", b"Basic " + base64.b64encode(f"{plan['api_key']}:".encode())),
            (b"host", b"bench"), (b"content-type", b"application/json")]
    lead_ids, bodies = plan["lead_ids"], [json.dumps(b).encode() for b in plan["bodies"]]
    fragments = [fragment.replace(" ", "+") for fragment in plan["fragments"]]
    requests = {
        REFERENCE: lambda i: ("GET", f"/lead/{lead_ids[i % len(lead_ids)]}", b""),
        "GET /status/lead/": lambda i: ("GET", "/api/v1/status/lead/", b""),
        "GET /lead/{id}/": lambda i: ("GET", f"/api/v1/lead/{lead_ids[i % len(lead_ids)]}/", b""),
        "GET /lead/?_limit=100": lambda i: ("GET", "/api/v1/lead/?_limit=100", b""),
        "GET /lead/?query=": lambda i: ("GET", f"/api/v1/lead/?_limit=100&query={fragments[i % len(fragments)]}", b""),
        REFERENCE_POST: lambda i: ("POST", "/lead", bodies[i % len(bodies)]),
        "POST /lead/": lambda i: ("POST", "/api/v1/lead/", bodies[i % len(bodies)]),
    }
    means: dict[str, list[float]] = {}
    created: list[bytes] = []  # the answers to Geniziz's creates
    async with AsyncExitStack() as running:
        for each in (app, reference):
            await running.enter_async_context(each.router.lifespan_context(each))
        for name in plan["scenarios"]:
            make, target = requests[name], reference if name.startswith("ref: ") else app
            count = plan["requests"] if not name.startswith("GET /lead/?") else max(1, plan["requests"] // 5)
            # Geniziz's creates are deleted once the round is measured: a created lead (no contacts) tops the
            # list, and the next round's list page would read those (half the work of a seeded page).
            answers = created if name == "POST /lead/" else None
            for i in range(min(50, count)):  # warm-up: caches, compiled statements, pool
                method, path, body = make(i)
                status = await _call(target, method, path, auth, body, answers)
                assert status in (200, 201), f"{name}: {method} {path} answered {status}"
            profile = None
            if plan.get("profile") == name:
                import cProfile
                profile = cProfile.Profile()
                profile.enable()
            gc.collect()
            started = time.process_time()
            for i in range(count):
                method, path, body = make(i)
                await _call(target, method, path, auth, body, answers)
            means[name] = [(time.process_time() - started) / count * 1e6]
            if profile is not None:
                profile.disable()
                profile.dump_stats(plan["profile_out"])
        for answer in created:
            status = await _call(app, "DELETE", f"/api/v1/lead/{json.loads(answer)['id']}/", auth, b"")
            assert status == 200, f"deleting a created lead answered {status}"
    return means


# --- the parent: seed once, run the trees in turn ------------------------------------------------------------
def _run_tree(src: Path, url: str, plan: dict[str, Any]) -> dict[str, list[float]]:
    env = {**os.environ, "GENIZIZ_DATABASE_URL": url, "REFERENCE_DATABASE_URL": url, "GENIZIZ_LOG_LEVEL": "warning",
           "GENIZIZ_INPROCESS_WORKER": "0",  # no background worker competing for the CPU
           "GENIZIZ_RATE_LIMIT_READ": "100000000/minute", "GENIZIZ_RATE_LIMIT_WRITE": "100000000/minute",
           "GENIZIZ_RATE_LIMIT_HEAVY": "100000000/minute", "PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, __file__, "--child"], input=json.dumps(plan), env=env, text=True,
                          capture_output=True, cwd=src.parent)
    if done.returncode:
        raise RuntimeError(f"{src}: the child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--src", action="append", type=Path, help="a tree's src directory (repeatable; default: this one)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--leads", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1000, help="per scenario and round (a fifth for list pages)")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS, help="repeatable; default: all")
    parser.add_argument("--profile", choices=SCENARIOS, help="cProfile this scenario (last round, first tree)")
    parser.add_argument("--profile-out", default="inproc.prof")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(_child(json.loads(sys.stdin.read())))))
        return 0

    sys.path.insert(0, str(ROOT / "bench"))
    from bench_http import fresh_database, lead_body, seed  # noqa: E402  (puts this tree's src on the path)

    from geniziz.migrate import upgrade

    trees = [p.resolve() for p in (args.src or [ROOT / "src"])]
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="geniziz-inproc-") as tmp, \
            fresh_database(args.database, Path(tmp), args.postgres_url) as (url, _sync_url):
        upgrade(url)
        seeded = asyncio.run(seed(url, args.leads, rng))
        plan = {"api_key": seeded.api_key, "lead_ids": rng.sample(seeded.lead_ids, min(1000, seeded.leads)),
                "bodies": [lead_body(rng) for _ in range(200)], "requests": args.requests,
                "fragments": [fragment for fragment, _ in seeded.queries] or ["smith"],
                "scenarios": args.scenario or list(SCENARIOS)}
        results: dict[Path, dict[str, list[float]]] = {tree: {} for tree in trees}
        for round_ in range(args.rounds):
            for tree in trees:
                last = round_ == args.rounds - 1 and tree == trees[0]
                child_plan = {**plan, "profile": args.profile if last else None,
                              "profile_out": str(Path(args.profile_out).resolve())}
                for name, values in _run_tree(tree, url, child_plan).items():
                    results[tree].setdefault(name, []).extend(values)
        print(f"{args.database}, {args.leads:,} leads, {args.rounds} rounds, "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.1f}")
        print(f"{'scenario':<24}" + "".join(f"{'tree ' + str(i + 1) + ' min / median µs, x typical':>40}"
                                            for i in range(len(trees))))
        for name in plan["scenarios"]:
            cells = []
            for tree in trees:
                values, base = results[tree][name], results[tree].get(REFERENCE)
                ratio = f"{min(base) / min(values):.2f}x" if base else ""
                cells.append(f"{min(values):>8.0f} / {statistics.median(values):<8.0f} {ratio:>7}")
            print(f"{name:<24}" + "".join(f"{c:>40}" for c in cells))
        for i, tree in enumerate(trees):
            print(f"tree {i + 1}: {tree}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
