"""The task-specific MCP tools: search, log_activity and complete_task (lead_score: test_lead_score.py)."""

from __future__ import annotations

from tests.conftest import Api
from tests.factories import make_contact, make_lead, make_task
from tests.test_mcp import Mcp


def _hits(result: dict) -> list[tuple[str, str, str, str]]:
    return [(hit["type"], hit["match"], hit["matched_on"], hit[hit["type"]]["id"]) for hit in result["data"]]


def test_search_ranks_exact_matches_first_and_gives_each_contact_its_lead(api: Api) -> None:
    acme = make_lead(api, name="Acme", url="https://www.acme.example/", emails=[{"email": "sales@acme.example"}])
    acme_labs = make_lead(api, name="Acme Labs")
    roadrunner = make_lead(api, name="Roadrunner MegaAcme")
    wile = make_contact(api, lead_id=roadrunner["id"], name="Wile Acme", emails=[{"email": "wile@desert.example"}],
                        phones=[{"phone": "+1 (555) 010-9999"}], urls=[{"url": "https://linkedin.example/in/wile"}])
    mcp = Mcp(api, "read")

    result = mcp.call("search", query="Acme")
    assert _hits(result) == [
        ("lead", "exact", "name", acme["id"]),
        ("lead", "prefix", "name", acme_labs["id"]),
        ("contact", "prefix", "name", wile["id"]),  # a word of the name starts with the query
        ("lead", "partial", "name", roadrunner["id"]),
    ]
    assert result["has_more"] is False and result["query"] == "Acme"
    assert result["data"][0]["lead"] == api.ok("GET", f"/lead/{acme['id']}/")  # records as REST shows them
    contact_hit = result["data"][2]
    assert contact_hit["contact"] == api.ok("GET", f"/contact/{wile['id']}/")
    assert contact_hit["lead"] == {"id": roadrunner["id"], "name": "Roadrunner MegaAcme", "url": None,
                                   "status_id": roadrunner["status_id"]}

    assert _hits(mcp.call("search", query="acme", _limit=2)) == _hits(result)[:2]
    assert mcp.call("search", query="acme", _limit=2)["has_more"] is True
    assert _hits(mcp.call("search", query="SALES@acme.example")) == [("lead", "exact", "email", acme["id"])]
    assert _hits(mcp.call("search", query="http://acme.example")) == [("lead", "exact", "url", acme["id"])]
    assert _hits(mcp.call("search", query="555-010-9999")) == [("contact", "exact", "phone", wile["id"])]
    assert _hits(mcp.call("search", query="0109999")) == [("contact", "partial", "phone", wile["id"])]
    assert _hits(mcp.call("search", query="linkedin.example/in/wile")) == [("contact", "exact", "url", wile["id"])]
    assert _hits(mcp.call("search", query="desert")) == [("contact", "partial", "email", wile["id"])]
    assert mcp.call("search", query="nothing like it")["data"] == []
    mcp.fail("search", "query", query="")
    mcp.fail("search", "_limit", query="acme", _limit=51)


def test_log_activity_logs_a_note_or_a_call_in_one_step(api: Api) -> None:
    lead = make_lead(api)
    contact = make_contact(api, lead_id=lead["id"])
    mcp = Mcp(api, "write_safe")
    note = mcp.call("log_activity", lead_id=lead["id"], note="Wants a demo next week")
    assert note["_type"] == "note" and note["note"] == "Wants a demo next week" and note["user_id"] == api.user_id
    assert api.ok("GET", f"/activity/note/{note['id']}/") == note
    call = mcp.call("log_activity", type="call", contact_id=contact["id"], note="Left a voicemail",
                    fields={"direction": "outbound", "duration": 30, "disposition": "vm-left"})
    assert call["_type"] == "call" and call["lead_id"] == lead["id"] and call["contact_id"] == contact["id"]
    assert (call["duration"], call["disposition"], call["note"]) == (30, "vm-left", "Left a voicemail")
    stream = api.ok("GET", "/activity/", params={"lead_id": lead["id"], "_type": "note,call"})["data"]
    assert {row["id"] for row in stream} == {note["id"], call["id"]}

    mcp.fail("log_activity", "duration", lead_id=lead["id"], type="call", fields={"duration": -1})
    mcp.fail("log_activity", "type", lead_id=lead["id"], type="email", note="x")
    mcp.fail("log_activity", "lead_id", lead_id="lead_" + "0" * 22, note="x")
    assert Mcp(api, "read").fail("log_activity", lead_id=lead["id"], note="x")["error"].startswith("The tool")
    assert len(api.ok("GET", "/activity/", params={"lead_id": lead["id"], "_type": "note,call"})["data"]) == 2


def test_complete_task(api: Api) -> None:
    task = make_task(api)
    mcp = Mcp(api, "write_safe")
    done = mcp.call("complete_task", task_id=task["id"])
    assert done["is_complete"] is True and done["date_completed"] and done == api.ok("GET", f"/task/{task['id']}/")
    assert mcp.call("complete_task", task_id=task["id"], _fields="id,date_completed") == {
        "id": task["id"], "date_completed": done["date_completed"]}  # completing again changes nothing
    completed = api.ok("GET", "/activity/task_completed/", params={"lead_id": task["lead_id"]})["data"]
    assert [row["task_id"] for row in completed] == [task["id"]]
    assert mcp.fail("complete_task", task_id="task_" + "0" * 22)["error"] == "Task not found"
