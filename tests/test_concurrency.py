"""Concurrent writers: nothing is lost, nothing surfaces as 'database is locked'."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.conftest import Api
from tests.factories import make_lead, make_opportunity


def parallel(calls: list, workers: int = 16) -> list:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_concurrent_partial_updates_to_one_record_all_land(api: Api) -> None:
    lead = make_lead(api)
    fields = {"name": "Renamed", "url": "https://new.example", "description": "Big fish", "industry": "Retail",
              "mrr": 777, "emails": [{"email": "x@new.example"}], "phones": [{"phone": "+15557654321"}],
              "addresses": [{"city": "Lyon"}]}
    responses = parallel([lambda k=k, v=v: api.put(f"/lead/{lead['id']}/", json={k: v}) for k, v in fields.items()] * 3)
    assert [r.status_code for r in responses] == [200] * len(responses), [r.text for r in responses if r.status_code != 200]
    final = api.ok("GET", f"/lead/{lead['id']}/")
    assert final["name"] == "Renamed" and final["url"] == "https://new.example" and final["mrr"] == 777
    assert final["description"] == "Big fish" and final["industry"] == "Retail"
    assert final["emails"][0]["email"] == "x@new.example" and final["addresses"][0]["city"] == "Lyon"


def test_concurrent_line_items_sum_exactly(api: Api) -> None:
    opportunity = make_opportunity(api)
    path = f"/opportunity/{opportunity['id']}/line_item/"
    responses = parallel([lambda i=i: api.post(path, json={"name": f"Item {i}", "unit_price": 100 + i})
                          for i in range(30)])
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201]
    assert api.ok("GET", f"/opportunity/{opportunity['id']}/")["value"] == sum(100 + i for i in range(30))


def test_concurrent_creates_all_persist(api: Api) -> None:
    responses = parallel([lambda i=i: api.post("/lead/", json={"name": f"Burst {i}"}) for i in range(60)])
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201]
    names = {row["name"] for row in api.ok("GET", "/lead/", params={"_limit": 200, "query": "burst"})["data"]}
    assert names == {f"Burst {i}" for i in range(60)}


def test_concurrent_completions_complete_once(api: Api) -> None:
    task = api.create("task", lead_id=make_lead(api)["id"], text="Race")
    responses = parallel([lambda: api.put(f"/task/{task['id']}/", json={"is_complete": True}) for _ in range(10)])
    assert all(r.status_code == 200 for r in responses)
    assert len({r.json()["date_completed"] for r in responses}) == 1
