"""Local doubles of Mailchimp, Brevo and Klaviyo: one small HTTP app each, served together by a real
uvicorn server in this process (http://127.0.0.1:<port>/mailchimp/3.0, /brevo/v3, /klaviyo).

Each checks every request the way the real API does (auth header, required headers, body shape, batch
size limit), answers per-contact errors for bad addresses (any address at ``invalid.example``), and
upserts by address, counting how often each address was pushed. ``throttle(n, wait)`` makes the next
``n`` requests 429 with the platform's hint (Retry-After, or Brevo's x-sib-ratelimit-reset); a request
that comes back before the hint expires is recorded in ``early``. ``delay`` slows each push down.
"""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

MAILCHIMP_KEY = "0123456789abcdef0123456789abcdef-us6"
BREVO_KEY = "xkeysib-0123456789abcdef-test"
KLAVIYO_KEY = "pk_0123456789abcdef0123456789"
BAD_DOMAIN = "invalid.example"
REVISION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.pre)?$")


@dataclass
class Platform:
    """What one platform double saw and holds."""

    name: str
    lists: dict[str, str]  # id -> name
    members: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))  # list -> email
    pushes: Counter[str] = field(default_factory=Counter)  # address -> times pushed
    calls: int = 0  # push calls (batches)
    batch_sizes: list[int] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    early: list[str] = field(default_factory=list)  # requests that did not wait out a 429's hint
    throttled: int = 0  # 429s answered
    delay: float = 0.0
    _throttle_left: int = 0
    _throttle_wait: float = 0.0
    _blocked_until: float = 0.0

    def throttle(self, count: int, wait: float) -> None:
        self._throttle_left, self._throttle_wait = count, wait

    def gate(self, request: Request, headers: Any) -> Response | None:
        """The rate limit: a 429 while throttling; a request before the hint expired is recorded."""
        self.requests.append((request.method, request.url.path))
        now = time.monotonic()
        if now < self._blocked_until:
            self.early.append(f"{request.method} {request.url.path} {self._blocked_until - now:.2f}s early")
        if self._throttle_left > 0:
            self._throttle_left -= 1
            self.throttled += 1
            self._blocked_until = now + self._throttle_wait
            return JSONResponse({"message": "Too many requests"}, status_code=429, headers=headers(self._throttle_wait))
        return None

    def upsert(self, list_id: str, email: str, values: dict[str, Any]) -> None:
        self.pushes[email] += 1
        self.members[list_id][email] = {**self.members[list_id].get(email, {}), **values}


def _bad(email: Any) -> bool:
    return not isinstance(email, str) or "@" not in email or email.endswith("@" + BAD_DOMAIN)


# --- Mailchimp Marketing API v3 --------------------------------------------------------------------------
def mailchimp_app(state: Platform) -> Starlette:
    def problem(status: int, title: str, detail: str) -> JSONResponse:
        return JSONResponse({"type": "https://mailchimp.com/developer/marketing/docs/errors/", "title": title,
                             "status": status, "detail": detail}, status_code=status)

    def retry(wait: float) -> dict[str, str]:
        return {"Retry-After": f"{wait:g}"}

    in_flight = 0

    def authorized(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        _user, _, key = base64.b64decode(header[6:]).decode().partition(":")
        return key == MAILCHIMP_KEY

    async def guard(request: Request) -> Response | None:
        if not authorized(request):
            return problem(401, "API Key Invalid", "Your API key may be invalid, or you've attempted to access the "
                                                   "wrong datacenter.")
        return state.gate(request, retry)

    async def root(request: Request) -> Response:
        if (answer := await guard(request)) is not None:
            return answer
        return JSONResponse({"account_id": "acc123", "account_name": "Mailchimp Test Co", "email": "owner@mc.example"})

    async def lists(request: Request) -> Response:
        if (answer := await guard(request)) is not None:
            return answer
        return JSONResponse({"lists": [{"id": lid, "name": name, "stats": {"member_count": len(state.members[lid])}}
                                       for lid, name in state.lists.items()], "total_items": len(state.lists)})

    async def batch(request: Request) -> Response:
        nonlocal in_flight
        if (answer := await guard(request)) is not None:
            return answer
        list_id = request.path_params["list_id"]
        if list_id not in state.lists:
            return problem(404, "Resource Not Found", "The requested resource could not be found.")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return problem(400, "Invalid Resource", "The request body must be JSON.")
        body = await request.json()
        members = body.get("members")
        if not isinstance(members, list) or not isinstance(body.get("update_existing", False), bool):
            return problem(400, "Invalid Resource", "Schema describes array, object found instead")
        if len(members) > 500:
            return problem(400, "Invalid Resource", "Batch subscribe accepts at most 500 members")
        in_flight += 1
        try:
            if in_flight > 10:  # Mailchimp: at most 10 simultaneous connections
                return JSONResponse({"title": "Too Many Requests", "status": 429,
                                     "detail": "You have exceeded the limit of 10 simultaneous connections."},
                                    status_code=429, headers=retry(1))
            await asyncio.sleep(state.delay)
            state.calls += 1
            state.batch_sizes.append(len(members))
            new, updated, errors = [], [], []
            for member in members:
                email = member.get("email_address") if isinstance(member, dict) else None
                if member.get("status") not in ("subscribed", "unsubscribed", "cleaned", "pending", "transactional"):
                    errors.append({"email_address": email, "error": "status is required", "error_code": "ERROR_GENERIC"})
                elif _bad(email):
                    errors.append({"email_address": email, "error": f"{email} looks fake or invalid, please enter a "
                                                                    "real email address.", "error_code": "ERROR_GENERIC"})
                elif not isinstance(member.get("merge_fields", {}), dict):
                    errors.append({"email_address": email, "error": "merge_fields must be an object",
                                   "error_code": "ERROR_GENERIC"})
                else:
                    key = email.lower()
                    existed = key in state.members[list_id]
                    if existed and not body.get("update_existing"):
                        errors.append({"email_address": email, "error": f"{email} is already a list member",
                                       "error_code": "ERROR_CONTACT_EXISTS"})
                        continue
                    state.upsert(list_id, key, {"status": member["status"], **member.get("merge_fields", {})})
                    (updated if existed else new).append({"email_address": email, "status": member["status"]})
            return JSONResponse({"new_members": new, "updated_members": updated, "errors": errors,
                                 "total_created": len(new), "total_updated": len(updated), "error_count": len(errors)})
        finally:
            in_flight -= 1

    return Starlette(routes=[Route("/", root), Route("/lists", lists),
                             Route("/lists/{list_id}", batch, methods=["POST"])])


# --- Brevo API v3 ---------------------------------------------------------------------------------------
def brevo_app(state: Platform, base: str) -> Starlette:
    processes: dict[int, dict[str, Any]] = {}

    def error(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"code": code, "message": message}, status_code=status)

    def reset(wait: float) -> dict[str, str]:
        return {"x-sib-ratelimit-limit": "10", "x-sib-ratelimit-remaining": "0", "x-sib-ratelimit-reset": f"{wait:g}"}

    def guard(request: Request) -> Response | None:
        if request.headers.get("api-key") != BREVO_KEY:
            return error(401, "unauthorized", "Key not found")
        return state.gate(request, reset)

    async def account(request: Request) -> Response:
        return guard(request) or JSONResponse({"email": "owner@brevo.example", "companyName": "Brevo Test Co"})

    async def lists(request: Request) -> Response:
        if (answer := guard(request)) is not None:
            return answer
        limit, offset = int(request.query_params.get("limit", 10)), int(request.query_params.get("offset", 0))
        if limit > 50:
            return error(400, "out_of_range", "limit must be at most 50")
        items = [{"id": int(lid), "name": name, "uniqueSubscribers": len(state.members[lid])}
                 for lid, name in state.lists.items()][offset:offset + limit]
        return JSONResponse({"lists": items, "count": len(state.lists)})

    async def import_contacts(request: Request) -> Response:
        if (answer := guard(request)) is not None:
            return answer
        if not request.headers.get("content-type", "").startswith("application/json"):
            return error(415, "invalid_parameter", "Content-Type must be application/json")
        body = await request.json()
        rows, list_ids = body.get("jsonBody"), body.get("listIds")
        if not isinstance(rows, list) or not rows:
            return error(400, "missing_parameter", "jsonBody, fileBody or fileUrl is mandatory")
        if len(rows) > 5000:
            return error(400, "invalid_parameter", "jsonBody holds too many contacts")
        if not isinstance(list_ids, list) or not all(isinstance(i, int) for i in list_ids):
            return error(400, "invalid_parameter", "listIds must be an array of integers")
        if any(str(i) not in state.lists for i in list_ids):
            return error(404, "document_not_found", "List ID does not exist")
        if any(not isinstance(row, dict) or not isinstance(row.get("attributes", {}), dict) for row in rows):
            return error(400, "invalid_parameter", "jsonBody rows are objects with email and attributes")
        await asyncio.sleep(state.delay)
        state.calls += 1
        state.batch_sizes.append(len(rows))
        pid = len(processes) + 1
        processes[pid] = {"rows": rows, "lists": [str(i) for i in list_ids], "polls": 0,
                          "update": bool(body.get("updateExistingContacts", True))}
        return JSONResponse({"processId": pid}, status_code=202)

    async def process(request: Request) -> Response:
        if (answer := guard(request)) is not None:
            return answer
        pid = int(request.path_params["pid"])
        if pid not in processes:
            return error(404, "document_not_found", "Process does not exist")
        proc = processes[pid]
        proc["polls"] += 1
        if proc["polls"] < 2:  # still importing on the first look
            return JSONResponse({"id": pid, "name": "import_users", "status": "in_process"})
        if "invalid" not in proc:
            proc["invalid"] = []
            for row in proc["rows"]:
                if _bad(row.get("email")):
                    proc["invalid"].append(row.get("email"))
                    continue
                for lid in proc["lists"]:
                    state.upsert(lid, row["email"].lower(), row.get("attributes") or {})
        info = {"import": {"invalid_emails": f"{base}/reports/{pid}/invalid_emails.csv"}} if proc["invalid"] else {}
        return JSONResponse({"id": pid, "name": "import_users", "status": "completed", **({"info": info} if info else {})})

    async def report(request: Request) -> Response:
        if request.headers.get("api-key") != BREVO_KEY:
            return error(401, "unauthorized", "Key not found")
        proc = processes[int(request.path_params["pid"])]
        return PlainTextResponse("EMAIL,ERROR\n" + "".join(f"{email},Invalid email\n" for email in proc["invalid"]),
                                 media_type="text/csv")

    return Starlette(routes=[
        Route("/account", account), Route("/contacts/lists", lists),
        Route("/contacts/import", import_contacts, methods=["POST"]), Route("/processes/{pid:int}", process),
        Route("/reports/{pid:int}/invalid_emails.csv", report)])


# --- Klaviyo ------------------------------------------------------------------------------------------
JSON_API = "application/vnd.api+json"


def klaviyo_app(state: Platform, base: str) -> Starlette:
    jobs: dict[str, dict[str, Any]] = {}

    def errors(status: int, code: str, detail: str) -> JSONResponse:
        return JSONResponse({"errors": [{"id": "e1", "status": status, "code": code, "title": code.replace("_", " "),
                                         "detail": detail, "source": {"pointer": "/data/"}}]},
                            status_code=status, media_type=JSON_API)

    def retry(wait: float) -> dict[str, str]:
        return {"Retry-After": f"{wait:g}"}

    def guard(request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Klaviyo-API-Key {KLAVIYO_KEY}":
            return errors(401, "not_authenticated", "Authentication credentials were not provided.")
        if not REVISION.match(request.headers.get("revision", "")):
            return errors(400, "invalid", "The revision header is required (e.g. 2026-07-15).")
        return state.gate(request, retry)

    def page(request: Request, items: list[dict[str, Any]], size: int) -> Response:
        cursor = int(request.query_params.get("page[cursor]", 0))
        chunk = items[cursor:cursor + size]
        following = (str(request.url.replace(query=f"page%5Bcursor%5D={cursor + size}"))
                     if cursor + size < len(items) else None)
        return JSONResponse({"data": chunk, "links": {"self": str(request.url), "next": following}}, media_type=JSON_API)

    async def accounts(request: Request) -> Response:
        return guard(request) or JSONResponse({"data": [{"type": "account", "id": "KLAV01", "attributes": {
            "contact_information": {"organization_name": "Klaviyo Test Co", "default_sender_email": "o@k.example"}}}],
            "links": {"self": str(request.url), "next": None}}, media_type=JSON_API)

    async def lists(request: Request) -> Response:
        if (answer := guard(request)) is not None:
            return answer
        return page(request, [{"type": "list", "id": lid, "attributes": {"name": name}}
                              for lid, name in state.lists.items()], 2)

    async def create_job(request: Request) -> Response:
        if (answer := guard(request)) is not None:
            return answer
        if request.headers.get("content-type", "").split(";")[0] != JSON_API:
            return errors(415, "unsupported_media_type", f"Content-Type must be {JSON_API}")
        body = await request.json()
        data = body.get("data") or {}
        if data.get("type") != "profile-bulk-import-job":
            return errors(400, "invalid", "data.type must be profile-bulk-import-job")
        profiles = ((data.get("attributes") or {}).get("profiles") or {}).get("data")
        if not isinstance(profiles, list) or not profiles:
            return errors(400, "invalid", "attributes.profiles.data is required")
        if len(profiles) > 10_000:
            return errors(400, "invalid", "A job may import at most 10000 profiles")
        if any(p.get("type") != "profile" or not isinstance(p.get("attributes"), dict) for p in profiles):
            return errors(400, "invalid", "each profile is {type: profile, attributes: {...}}")
        lists_given = (((data.get("relationships") or {}).get("lists") or {}).get("data")) or []
        if any(item.get("type") != "list" or item.get("id") not in state.lists for item in lists_given):
            return errors(404, "not_found", "A list in relationships.lists does not exist")
        await asyncio.sleep(state.delay)
        state.calls += 1
        state.batch_sizes.append(len(profiles))
        job_id = f"job{len(jobs) + 1:04d}"
        jobs[job_id] = {"profiles": profiles, "lists": [item["id"] for item in lists_given], "polls": 0}
        return JSONResponse({"data": {"type": "profile-bulk-import-job", "id": job_id, "attributes": {
            "status": "queued", "total_count": len(profiles), "completed_count": 0, "failed_count": 0}}},
            status_code=202, media_type=JSON_API)

    def run(job: dict[str, Any]) -> None:
        if "failures" in job:
            return
        job["failures"] = []
        for index, profile in enumerate(job["profiles"]):
            attributes = profile["attributes"]
            if _bad(attributes.get("email")):
                job["failures"].append((index, attributes))
                continue
            for lid in job["lists"]:
                state.upsert(lid, attributes["email"].lower(), {k: v for k, v in attributes.items() if k != "email"})

    async def get_job(request: Request) -> Response:
        if (answer := guard(request)) is not None:
            return answer
        job = jobs.get(request.path_params["job_id"])
        if job is None:
            return errors(404, "not_found", "Job not found")
        job["polls"] += 1
        done = job["polls"] >= 2
        if done:
            run(job)
        failed = len(job.get("failures", ()))
        return JSONResponse({"data": {"type": "profile-bulk-import-job", "id": request.path_params["job_id"],
                                      "attributes": {"status": "complete" if done else "processing",
                                                     "total_count": len(job["profiles"]),
                                                     "completed_count": len(job["profiles"]) - failed if done else 0,
                                                     "failed_count": failed}}}, media_type=JSON_API)

    async def import_errors(request: Request) -> Response:
        if (answer := guard(request)) is not None:
            return answer
        job = jobs[request.path_params["job_id"]]
        return page(request, [{"type": "import-error", "id": f"err{index}", "attributes": {
            "code": "invalid", "title": "Invalid email address", "detail": f"Invalid email: {attributes.get('email')}",
            "source": {"pointer": f"/data/attributes/profiles/data/{index}/attributes/email"},
            "original_payload": attributes}} for index, attributes in job.get("failures", ())], 20)

    return Starlette(routes=[
        Route("/api/accounts", accounts), Route("/api/lists", lists),
        Route("/api/profile-bulk-import-jobs", create_job, methods=["POST"]),
        Route("/api/profile-bulk-import-jobs/{job_id}", get_job),
        Route("/api/profile-bulk-import-jobs/{job_id}/import-errors", import_errors)])


# --- the server ---------------------------------------------------------------------------------------
class Platforms:
    """The three doubles behind one local server."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        root = f"http://127.0.0.1:{self.port}"
        self.urls = {"mailchimp": f"{root}/mailchimp/3.0", "brevo": f"{root}/brevo/v3", "klaviyo": f"{root}/klaviyo"}
        self.keys = {"mailchimp": MAILCHIMP_KEY, "brevo": BREVO_KEY, "klaviyo": KLAVIYO_KEY}
        self.state = {
            "mailchimp": Platform("mailchimp", {"a1b2c3d4e5": "Newsletter", "f6e5d4c3b2": "Customers"}),
            "brevo": Platform("brevo", {"7": "Newsletter", "8": "Customers"}),
            "klaviyo": Platform("klaviyo", {"XyZ123": "Newsletter", "AbC456": "Customers", "DeF789": "VIP"}),
        }
        app = Starlette(routes=[
            Mount("/mailchimp/3.0", mailchimp_app(self.state["mailchimp"])),
            Mount("/brevo/v3", brevo_app(self.state["brevo"], self.urls["brevo"])),
            Mount("/klaviyo", klaviyo_app(self.state["klaviyo"], self.urls["klaviyo"]))])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> Platforms:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("platform doubles did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)

    def __getitem__(self, name: str) -> Platform:
        return self.state[name]

    def connect(self, api: Any, platform: str) -> dict[str, Any]:
        """Connect ``api``'s workspace to this double of ``platform``."""
        return api.ok("POST", "/mailing_connection/", json={
            "platform": platform, "api_key": self.keys[platform], "base_url": self.urls[platform]})


_shared: Platforms | None = None


def shared() -> Platforms:
    """One set of doubles for tests that only need a connection to exist (the isolation sweep)."""
    global _shared
    if _shared is None:
        _shared = Platforms().start()
    return _shared
