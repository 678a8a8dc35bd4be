"""Klaviyo (dated revision ``REVISION``): ``Authorization: Klaviyo-API-Key``, the ``revision`` header and
JSON:API bodies. ``POST /api/profile-bulk-import-jobs`` (up to 10,000 profiles, an upsert by address, into
one list) answers a job that ``GET /api/profile-bulk-import-jobs/{id}`` is polled on until ``complete``;
``/import-errors`` then names each profile that failed. A 429 carries ``Retry-After``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from geniziz.mailing import outbound
from geniziz.mailing.adapters.base import Adapter, Connection, Person, Polled, Pushed

REVISION = "2026-07-15"
JSON_API = "application/vnd.api+json"
# Profile attributes Klaviyo has a place for; any other mapped field goes into ``properties``.
ATTRIBUTES = {"external_id", "phone_number", "first_name", "last_name", "organization", "locale", "title", "image"}


class Klaviyo(Adapter):
    name = "klaviyo"
    title = "Klaviyo"
    max_batch = 10_000
    asynchronous = True
    docs = "https://developers.klaviyo.com/en/reference/bulk_import_profiles"
    list_id_pattern = r"^[0-9A-Za-z]{4,40}$"

    def base_url(self, api_key: str) -> str:
        return "https://a.klaviyo.com"

    def key_problem(self, api_key: str) -> str | None:
        return None if api_key.startswith("pk_") else "a Klaviyo private API key starts with pk_"

    def _headers(self, conn: Connection, body: bool = False) -> dict[str, str]:
        headers = {"Authorization": f"Klaviyo-API-Key {conn.api_key}", "revision": REVISION, "Accept": JSON_API}
        if body:
            headers["Content-Type"] = JSON_API
        return headers

    async def _get_all(self, conn: Connection, path: str, params: dict[str, Any] | None = None,
                       limit: int = 100) -> list[dict[str, Any]]:
        """Every page of a JSON:API collection (``links.next``), only ever from the connection's host."""
        items: list[dict[str, Any]] = []
        base = urlsplit(conn.base_url)
        for _ in range(limit):
            response = await outbound.request("GET", conn.base_url, path, headers=self._headers(conn), params=params)
            body = response.json()
            items += body.get("data") or []
            following = (body.get("links") or {}).get("next")
            if not following:
                break
            nxt = urlsplit(following)
            if (nxt.scheme, nxt.netloc) != (base.scheme, base.netloc):
                break
            prefix = base.path.rstrip("/")
            path, params = nxt.path.removeprefix(prefix) + (f"?{nxt.query}" if nxt.query else ""), None
        return items

    async def verify(self, conn: Connection) -> str:
        accounts = await self._get_all(conn, "/api/accounts", limit=1)
        if not accounts:
            return "Klaviyo account"
        info = (accounts[0].get("attributes") or {}).get("contact_information") or {}
        return info.get("organization_name") or info.get("default_sender_email") or accounts[0].get("id")

    async def audiences(self, conn: Connection) -> list[dict[str, Any]]:
        return [{"id": item["id"], "name": (item.get("attributes") or {}).get("name"), "member_count": None}
                for item in await self._get_all(conn, "/api/lists")]

    async def push(self, conn: Connection, list_id: str, people: list[Person], options: dict[str, Any]) -> Pushed:
        profiles = []
        for person in people:
            attributes: dict[str, Any] = {"email": person.email, "first_name": person.first_name,
                                          "last_name": person.last_name, "organization": person.company}
            properties = {}
            for key, value in person.fields.items():
                (attributes if key in ATTRIBUTES else properties)[key] = value
            if properties:
                attributes["properties"] = properties
            profiles.append({"type": "profile",
                             "attributes": {key: value for key, value in attributes.items() if value is not None}})
        response = await outbound.request("POST", conn.base_url, "/api/profile-bulk-import-jobs",
                                          headers=self._headers(conn, body=True), json={"data": {
                                              "type": "profile-bulk-import-job",
                                              "attributes": {"profiles": {"data": profiles}},
                                              "relationships": {"lists": {"data": [{"type": "list", "id": list_id}]}}}})
        job_id = ((response.json() or {}).get("data") or {}).get("id")
        if not job_id:
            raise outbound.PlatformError(f"Klaviyo answered no job id: {response.text[:200]}")
        return Pushed(job_id=str(job_id))

    async def poll(self, conn: Connection, job_id: str) -> Polled:
        response = await outbound.request("GET", conn.base_url, f"/api/profile-bulk-import-jobs/{job_id}",
                                          headers=self._headers(conn))
        attributes = ((response.json() or {}).get("data") or {}).get("attributes") or {}
        status = attributes.get("status")
        if status == "cancelled":
            return Polled(done=True, error="the Klaviyo import job was cancelled")
        if status != "complete":
            return Polled(done=False)
        failures: dict[str, str] = {}
        if attributes.get("failed_count"):
            for error in await self._get_all(conn, f"/api/profile-bulk-import-jobs/{job_id}/import-errors"):
                details = error.get("attributes") or {}
                address = str(((details.get("original_payload") or {}).get("email")) or "").lower()
                if address:
                    failures[address] = str(details.get("detail") or details.get("title") or "refused")[:500]
        return Polled(done=True, failures=failures)
