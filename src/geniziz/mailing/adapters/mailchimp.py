"""Mailchimp Marketing API v3: Basic auth with the key (its datacenter, after the dash, names the host),
``POST /lists/{list_id}`` batch subscribe of up to 500 members with ``update_existing`` (an upsert by
address), answered synchronously with per-address ``errors[]``. Mailchimp allows 10 concurrent
connections per key: this process never opens more."""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from typing import Any

from geniziz.mailing import outbound
from geniziz.mailing.adapters.base import Adapter, Connection, Person, Pushed

_DATACENTER = re.compile(r"^[0-9a-f]{16,64}-([a-z]{2,4}[0-9]{1,3})$")
_connections: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(10))


class Mailchimp(Adapter):
    name = "mailchimp"
    title = "Mailchimp"
    max_batch = 500
    asynchronous = False
    docs = "https://mailchimp.com/developer/marketing/api/lists/batch-subscribe-or-unsubscribe/"
    list_id_pattern = r"^[0-9a-f]{6,20}$"

    def key_problem(self, api_key: str) -> str | None:
        if not _DATACENTER.match(api_key):
            return "a Mailchimp API key ends with its datacenter, e.g. 0123456789abcdef0123456789abcdef-us6"
        return None

    def base_url(self, api_key: str) -> str:
        match = _DATACENTER.match(api_key)
        return f"https://{match.group(1) if match else 'us1'}.api.mailchimp.com/3.0"

    async def _call(self, conn: Connection, method: str, path: str, **kwargs: Any) -> Any:
        async with _connections[conn.api_key]:
            response = await outbound.request(method, conn.base_url, path, auth=("geniziz", conn.api_key),
                                              headers={"Accept": "application/json"}, **kwargs)
        return response.json()

    async def verify(self, conn: Connection) -> str:
        body = await self._call(conn, "GET", "/", params={"fields": "account_id,account_name,email"})
        return body.get("account_name") or body.get("email") or body.get("account_id") or "Mailchimp account"

    async def audiences(self, conn: Connection) -> list[dict[str, Any]]:
        body = await self._call(conn, "GET", "/lists", params={
            "count": 1000, "fields": "lists.id,lists.name,lists.stats.member_count"})
        return [{"id": item["id"], "name": item.get("name"), "member_count": (item.get("stats") or {}).get("member_count")}
                for item in body.get("lists") or []]

    async def push(self, conn: Connection, list_id: str, people: list[Person], options: dict[str, Any]) -> Pushed:
        status = "pending" if options.get("double_opt_in") else "subscribed"
        members = []
        for person in people:
            merge = {"FNAME": person.first_name, "LNAME": person.last_name, **person.fields}
            members.append({"email_address": person.email, "status": status,
                            "merge_fields": {key: value for key, value in merge.items() if value is not None}})
        body = await self._call(conn, "POST", f"/lists/{list_id}", json={"members": members, "update_existing": True})
        failures = {}
        for error in body.get("errors") or []:
            address = str(error.get("email_address") or "").lower()
            if address:
                failures[address] = str(error.get("error") or error.get("error_code") or "refused")[:500]
        return Pushed(failures=failures)
