"""A record's write checks its custom values against the definitions its own transaction sees, and takes
its default status from there, though the definitions come from a per-process copy (custom/definitions.py,
``for_write``): a change made by another process binds the next write at once, not after a TTL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import Api, Server, start_server, stop_server
from tests.factories import make_lead


def test_another_process_change_binds_the_next_write_at_once(api: Api, server: Server, tmp_path: Path) -> None:
    # The second process keeps its key lookups (and so what its reads know of the version) for a minute:
    # only the write's own reading of the version can tell it of a change.
    second = start_server(server.database_url, tmp_path / "second.log", GENIZIZ_AUTH_CACHE_SECONDS="60")
    try:
        with Api(second.base_url, api.key) as far:
            tier = api.create("custom_field/lead", name="Tier", type="choices", choices=["gold", "silver"])["id"]
            # The second process's writes keep a copy of this version's definitions.
            for _ in range(2):
                assert far.create("lead", name="Warm", custom={"Tier": "gold"})["custom"] == {"Tier": "gold"}
            far.ok("POST", "/lead/", json={"name": "Warm", f"custom.{tier}": "silver"})  # the same field, by ID
            api.ok("DELETE", f"/lead/{api.ok('GET', '/lead/?_limit=1')['data'][0]['id']}/")  # silver: no one holds it

            # Choices changed by the first process: the second one's next write checks the new ones.
            api.ok("PUT", f"/custom_field/lead/{tier}/", json={"choices": ["gold", "bronze"]})
            far.bad("POST", "/lead/", f"custom.{tier}", json={"name": "Old choice", f"custom.{tier}": "silver"})
            assert far.create("lead", name="New choice", custom={"Tier": "bronze"})["custom"] == {"Tier": "bronze"}

            # Renamed: the second process's write answers with the new name, and takes values by it.
            api.ok("PUT", f"/custom_field/lead/{tier}/", json={"name": "Level"})
            created = far.create("lead", name="Renamed", custom={"Level": "gold"})
            assert created["custom"] == {"Level": "gold"} and created[f"custom.{tier}"] == "gold"
            far.bad("POST", "/lead/", "custom.Tier", json={"name": "Old name", "custom": {"Tier": "gold"}})

            # A new required field binds it at once; a deleted field is refused at once.
            region = api.create("custom_field/lead", name="Region", type="text", required=True)["id"]
            far.bad("POST", "/lead/", f"custom.{region}", json={"name": "No region"})
            api.ok("DELETE", f"/custom_field/lead/{tier}/")
            far.bad("POST", "/lead/", f"custom.{tier}",
                    json={"name": "Deleted field", f"custom.{tier}": "gold", f"custom.{region}": "eu"})
            assert far.create("lead", name="Now", custom={"Region": "eu"})["custom"] == {"Region": "eu"}

            # The default status: the first one as the write's transaction sees it.
            first, second_status = [s["id"] for s in api.ok("GET", "/status/lead/")["data"]][:2]
            used = {lead["status_id"] for lead in api.ok("GET", "/lead/?_limit=100")["data"]}
            assert used == {first}
            for lead in api.ok("GET", "/lead/?_limit=100")["data"]:
                api.ok("PUT", f"/lead/{lead['id']}/", json={"status_id": second_status})
            api.ok("DELETE", f"/status/lead/{first}/")
            assert far.create("lead", name="Default status", custom={"Region": "eu"})["status_id"] == second_status
            opportunity = far.create("opportunity", lead_id=make_lead(api, custom={"Region": "eu"})["id"], value=1)
            assert opportunity["status_id"] == api.ok("GET", "/status/opportunity/")["data"][0]["id"]
    finally:
        stop_server(second)
    assert "Unhandled error" not in second.log()


def test_a_transaction_that_changed_definitions_writes_by_them_and_keeps_no_copy_of_them(api: Api,
                                                                                        server: Server) -> None:
    """In process, on the test server's database: definitions this transaction changed (uncommitted) are the
    ones its writes use, and they never become this process's copy (a rollback would leave it wrong)."""
    import asyncio

    from sqlalchemy import select

    from geniziz.api.auth import Principal
    from geniziz.api.context import Ctx
    from geniziz.app import load_domains
    from geniziz.custom import definitions
    from geniziz.custom.models import CustomField
    from geniziz.db import Database

    load_domains()
    size = api.create("custom_field/lead", name="Size", type="number")["id"]
    first = api.ok("GET", "/status/lead/")["data"][0]["id"]

    async def required_flags(db: Database, *, change: bool) -> tuple[list[bool], list[bool], Any]:
        async with db.unit(api.org_id, write=True) as session:
            ctx = Ctx(session, Principal(api.org_id, api.user_id, "admin", "key"))
            found, statuses = await definitions.for_write(ctx, ["lead", "contact"])
            assert statuses["lead"] == first and found["contact"] == []
            before = [f.required for f in found["lead"]]
            if change:
                (await session.scalars(select(CustomField).where(CustomField.id == size))).one().required = True
            found, _ = await definitions.for_write(ctx, ["lead"])
            after = [f.required for f in found["lead"]]
            copy = definitions._cache.get(api.org_id)
            await session.rollback()
        return before, after, copy

    async def main() -> None:
        db = Database(server.database_url, pool_size=2)
        try:
            *flags, kept = await required_flags(db, change=False)  # the second from the copy the first kept
            assert flags == [[False], [False]] and kept is not None
            *flags, copy = await required_flags(db, change=True)
            assert flags == [[False], [True]]  # its own change
            assert copy is kept  # not kept as a copy: it was rolled back
            *flags, _ = await required_flags(db, change=False)
            assert flags == [[False], [False]]
        finally:
            await db.dispose()

    asyncio.run(main())
