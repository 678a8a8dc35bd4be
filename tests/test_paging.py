"""Keyset paging (`_before`): the next page starts after the previous page's last ID, so a deep page costs
what the first costs. It must give exactly the rows `_skip` gives, combine with filters and nested routes,
stay inside the caller's workspace, and refuse what it cannot do."""

from __future__ import annotations

from tests.conftest import Api
from tests.factories import make_contact, make_lead


def walk(api: Api, path: str, limit: int, **params: object) -> list[list[str]]:
    """Every page of a list, each fetched with `_before` = the previous page's last ID (bounded)."""
    pages: list[list[str]] = []
    before = None
    for _ in range(100):
        page = api.ok("GET", path, params={"_limit": limit, **params, **({"_before": before} if before else {})})
        ids = [row["id"] for row in page["data"]]
        pages.append(ids)
        if not page["has_more"]:
            return pages
        before = ids[-1]
    raise AssertionError("more than 100 pages")


def test_before_pages_exactly_like_skip(api: Api) -> None:
    leads = [make_lead(api, name=f"Keyset {i}")["id"] for i in range(7)]
    by_key = walk(api, "/lead/", 3)
    by_skip = [[row["id"] for row in api.ok("GET", "/lead/", params={"_limit": 3, "_skip": skip})["data"]]
               for skip in (0, 3, 6)]
    assert by_key == by_skip == [leads[6:3:-1], leads[3:0:-1], leads[:1]]
    # The last page says there is no more; a page after the oldest row is empty.
    assert api.ok("GET", "/lead/", params={"_before": leads[0]}) == {"data": [], "has_more": False}
    # `_before` and `_skip` combine: skip within the rows older than the key.
    assert [r["id"] for r in api.ok("GET", "/lead/", params={"_before": leads[5], "_skip": 1, "_limit": 2})["data"]] \
        == [leads[3], leads[2]]


def test_before_combines_with_filters_and_nested_lists(api: Api) -> None:
    lead = make_lead(api, name="Keyset parent")
    contacts = [make_contact(api, lead_id=lead["id"], name=f"Keyset person {i}")["id"] for i in range(5)]
    make_contact(api, name="Keyset elsewhere")  # another lead's contact: filtered out
    pages = walk(api, "/contact/", 2, lead_id=lead["id"])
    assert [cid for page in pages for cid in page] == contacts[::-1]
    found = walk(api, "/lead/", 1, query="keyset parent")
    assert found == [[lead["id"]]]


def test_before_stays_in_the_workspace(api: Api, other: Api) -> None:
    mine = [make_lead(api, name=f"Mine {i}")["id"] for i in range(3)]
    theirs = make_lead(other, name="Theirs")["id"]  # newer than all of mine
    page = api.ok("GET", "/lead/", params={"_before": theirs, "_limit": 200})
    assert theirs not in [row["id"] for row in page["data"]]
    assert [row["id"] for row in page["data"]][:3] == mine[::-1]


def test_before_is_validated_and_only_where_lists_are_newest_first_by_id(api: Api) -> None:
    api.bad("GET", "/lead/", "_before", params={"_before": ""})
    api.bad("GET", "/lead/", "_before", params={"_before": "x" * 41})
    api.bad("GET", "/lead/", "_before", params={"_before": "lead_\x00"})
    api.bad("GET", "/lead/", "_before", params={"_before": "lead_'--"})
    # A well-formed key that names no record still pages by order: older than it, nothing here.
    assert api.ok("GET", "/lead/", params={"_before": "lead_" + "0" * 22})["data"] == []
    # Statuses keep their defined order, not newest first: `_before` is not theirs to take.
    api.bad("GET", "/status/lead/", "_before", params={"_before": "stat_0"})
    spec = api.get("/openapi.json").json()
    names = {p["name"] for p in spec["paths"]["/api/v1/lead/"]["get"]["parameters"]}
    assert {"_before", "_skip", "_limit"} <= names
