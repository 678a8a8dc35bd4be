"""Brevo API v3: the ``api-key`` header; ``POST /contacts/import`` with a ``jsonBody`` and ``listIds``
(``updateExistingContacts``: an upsert by address) answers a ``processId`` that ``GET /processes/{id}`` is
polled on until ``completed``; its report of problem rows names the addresses that failed. A 429 carries
``x-sib-ratelimit-reset`` (seconds until the window resets)."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import urlsplit

from geniziz.mailing import outbound
from geniziz.mailing.adapters.base import Adapter, Connection, Person, Polled, Pushed

# The process report files that list rows Brevo could not import, by the problem they had.
REPORTS = {"invalid_emails": "invalid email address", "duplicate_email_id": "duplicate email address"}


class Brevo(Adapter):
    name = "brevo"
    title = "Brevo"
    max_batch = 5000
    asynchronous = True
    docs = "https://developers.brevo.com/reference/import-contacts"
    list_id_pattern = r"^[0-9]{1,12}$"

    def base_url(self, api_key: str) -> str:
        return "https://api.brevo.com/v3"

    def _headers(self, conn: Connection) -> dict[str, str]:
        return {"api-key": conn.api_key, "Accept": "application/json"}

    async def _call(self, conn: Connection, method: str, path: str, **kwargs: Any) -> Any:
        response = await outbound.request(method, conn.base_url, path, headers=self._headers(conn), **kwargs)
        return response.json()

    async def verify(self, conn: Connection) -> str:
        body = await self._call(conn, "GET", "/account")
        return body.get("companyName") or body.get("email") or "Brevo account"

    async def audiences(self, conn: Connection) -> list[dict[str, Any]]:
        lists: list[dict[str, Any]] = []
        while len(lists) < 5000:
            body = await self._call(conn, "GET", "/contacts/lists", params={"limit": 50, "offset": len(lists)})
            page = body.get("lists") or []
            lists += [{"id": str(item["id"]), "name": item.get("name"),
                       "member_count": item.get("uniqueSubscribers", item.get("totalSubscribers"))} for item in page]
            if len(page) < 50:
                break
        return lists

    async def push(self, conn: Connection, list_id: str, people: list[Person], options: dict[str, Any]) -> Pushed:
        rows = []
        for person in people:
            attributes = {"FIRSTNAME": person.first_name, "LASTNAME": person.last_name, "COMPANY": person.company,
                          **person.fields}
            rows.append({"email": person.email,
                         "attributes": {key: value for key, value in attributes.items() if value is not None}})
        body = await self._call(conn, "POST", "/contacts/import", json={
            "jsonBody": rows, "listIds": [int(list_id)], "updateExistingContacts": True,
            "emptyContactsAttributes": False, "disableNotification": True})
        if not body.get("processId"):
            raise outbound.PlatformError(f"Brevo answered no processId: {str(body)[:200]}")
        return Pushed(job_id=str(body["processId"]))

    async def poll(self, conn: Connection, job_id: str) -> Polled:
        body = await self._call(conn, "GET", f"/processes/{job_id}")
        status = body.get("status")
        if status != "completed":
            if status in ("failed", "cancelled", "aborted"):
                return Polled(done=True, error=f"the Brevo import process ended {status}")
            return Polled(done=False)
        failures: dict[str, str] = {}
        reports = ((body.get("info") or {}).get("import") or {})
        for key, reason in REPORTS.items():
            if url := reports.get(key):
                for address in await self._report(conn, url):
                    failures.setdefault(address, reason)
        return Polled(done=True, failures=failures)

    async def _report(self, conn: Connection, url: str) -> list[str]:
        """The addresses in a report file; fetched only from the connection's own host."""
        base, report = urlsplit(conn.base_url), urlsplit(url)
        if (report.scheme, report.netloc) != (base.scheme, base.netloc):
            return []
        response = await outbound.request("GET", f"{report.scheme}://{report.netloc}", report.path
                                          + (f"?{report.query}" if report.query else ""), headers=self._headers(conn))
        reader = csv.reader(io.StringIO(response.text))
        header = [cell.strip().lower() for cell in next(reader, [])]
        column = header.index("email") if "email" in header else 0
        return [row[column].strip().lower() for row in reader if len(row) > column and "@" in row[column]]
