"""Genesy's custom-CRM interface at /genesy, driven over HTTP exactly as Genesy calls it: its paths, its
JSON bodies and the API key in a header (X-API-Key unless the workspace chose another).

Tasks, auth and the header setting here; contacts, companies, associations, activities and users in
test_genesy_prospects.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Api, member_client
from tests.factories import make_contact, make_lead, make_task

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


class Genesy(httpx.Client):
    """Genesy's side of the connection: base URL {server}/genesy, the key in one header, JSON both ways."""

    def __init__(self, api: Api, header: str = "X-API-Key", key: str | None = None) -> None:
        super().__init__(base_url=f"{api.server_url}/genesy", timeout=30, headers={
            header: key or api.key, "Content-Type": "application/json", "Accept": "application/json"})

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        assert response.status_code == status, f"{method} {path} -> {response.status_code}: {response.text}"
        return response.json()

    def error(self, method: str, path: str, status: int, *words: str, **kwargs: Any) -> dict[str, Any]:
        """A failure in Genesy's error shape, whose message mentions each of ``words``."""
        response = self.request(method, path, **kwargs)
        assert response.status_code == status, f"{method} {path} -> {response.status_code}: {response.text}"
        body = response.json()
        assert set(body) == {"error", "message"} and all(isinstance(v, str) and v for v in body.values()), body
        for word in words:
            assert word in body["message"], body
        return body


@pytest.fixture
def genesy(api: Api) -> Iterator[Genesy]:
    client = Genesy(api)
    yield client
    client.close()


def tasks_of(api: Api, lead_id: str) -> list[dict[str, Any]]:
    return api.ok("GET", "/task/", params={"lead_id": lead_id})["data"]


# --- auth and the header setting -------------------------------------------------------------------------
def test_health_needs_a_valid_key_in_the_header(api: Api, genesy: Genesy) -> None:
    assert genesy.ok("GET", "/health") == {"status": "ok"}
    assert genesy.ok("GET", "/health/") == {"status": "ok"}
    with httpx.Client(base_url=f"{api.server_url}/genesy") as anonymous:
        for headers in ({}, {"X-API-Key": "gz_not-a-key"}, {"X-API-Key": ""}, {"X-API-Key": api.key[:-2]}):
            response = anonymous.get("/health", headers=headers)
            assert response.status_code == 401, response.text
            assert set(response.json()) == {"error", "message"}
        # The main API's Basic auth is not how Genesy authenticates.
        assert anonymous.get("/health", auth=(api.key, "")).status_code == 401
        # Every endpoint checks the key, not just /health.
        assert anonymous.post("/tasks", json={"subject": "x"}).status_code == 401
        assert anonymous.post("/tasks/batch", json={"ids": []}).status_code == 401


def test_a_workspace_chooses_the_header(api: Api, other: Api, genesy: Genesy) -> None:
    setting = api.ok("GET", "/integration/genesy/")
    assert setting["api_key_header"] == "X-API-Key" and setting["base_path"] == "/genesy"
    assert setting["base_url"].endswith("/genesy")
    for bad in ("Authorization", "content-type", "Host", "X-Forwarded-For", "Bad Header", "X:Key", ""):
        api.bad("PUT", "/integration/genesy/", "api_key_header", json={"api_key_header": bad})
    api.bad("PUT", "/integration/genesy/", "base_path", json={"api_key_header": "X-Genesy-Key", "base_path": "/x"})
    with member_client(api) as member:
        member.bad("GET", "/integration/genesy/", status=403)
        member.bad("PUT", "/integration/genesy/", status=403, json={"api_key_header": "X-Mine"})

    assert api.ok("PUT", "/integration/genesy/", json={"api_key_header": "X-Genesy-Key"})["api_key_header"] \
        == "X-Genesy-Key"
    assert api.ok("GET", "/integration/genesy/")["api_key_header"] == "X-Genesy-Key"
    for header in ("X-Genesy-Key", "x-genesy-key"):
        with Genesy(api, header) as custom:
            assert custom.ok("GET", "/health") == {"status": "ok"}
            assert custom.ok("POST", "/tasks", 201, json={"subject": "Via the custom header"})["id"]
    # The key is only accepted in the header its workspace chose...
    genesy.error("GET", "/health", 401, "X-Genesy-Key")
    # ...which is that workspace's choice alone.
    with Genesy(other) as others:
        assert others.ok("GET", "/health") == {"status": "ok"}
    with Genesy(other, "X-Genesy-Key") as others:
        others.error("GET", "/health", 401)

    api.ok("PUT", "/integration/genesy/", json={"api_key_header": "X-API-Key"})
    assert genesy.ok("GET", "/health") == {"status": "ok"}


def test_errors_use_genesys_shape(genesy: Genesy) -> None:
    genesy.error("GET", "/no-such-endpoint", 404, "/genesy/no-such-endpoint")
    genesy.error("DELETE", "/tasks", 405)
    genesy.error("POST", "/tasks", 400, content="{not json")
    genesy.error("POST", "/tasks", 400, json=["subject"])
    genesy.error("POST", "/tasks", 400, content="subject=x", headers={"Content-Type": "text/plain"})
    # Input no database can store is refused or unknown, never a fault.
    for task_id in ("%00", "%C3%A9t%C3%A9", "x" * 300):
        genesy.error("GET", f"/tasks/{task_id}", 404)
    genesy.error("POST", "/tasks", 400, "subject", json={"subject": "nul\x00"})
    genesy.error("POST", "/tasks", 400, "subject", content='{"subject": "lone \\ud800 surrogate"}')
    genesy.error("POST", "/tasks/batch", 400, "ids", json={"ids": ["task_\x00"]})
    genesy.error("POST", "/contacts", 400, "contacts", json={"contacts": [{"externalId": "e\x00"}]})
    assert genesy.ok("POST", "/tasks/batch", json={"ids": ["x" * 1000, "é"]}) == []


# --- tasks ------------------------------------------------------------------------------------------------
def test_create_task_as_in_the_spec(api: Api, genesy: Genesy) -> None:
    # The spec's curl line, verbatim.
    task = genesy.ok("POST", "/tasks", 201, json={"subject": "Test task", "description": "Testing integration"})
    assert task["id"].startswith("task_") and task["subject"] == "Test task"
    assert task["description"] == "Testing integration" and task["completed"] is False
    assert task["completedAt"] is None and task["ownerId"] == api.user_id
    rest = api.ok("GET", f"/task/{task['id']}/")
    assert rest["text"] == "Test task" and rest["description"] == "Testing integration" and rest["type"] == "to_do"

    # The spec's full example, with Geniziz IDs where it has Genesy's placeholders.
    lead = make_lead(api)
    contact = make_contact(api, lead_id=lead["id"])
    with member_client(api) as member:
        task = genesy.ok("POST", "/tasks", 201, json={
            "subject": "Follow up with John", "description": "Discuss pricing proposal from last meeting",
            "type": "call", "ownerId": member.user_id, "dueDate": "2024-01-15T10:00:00Z",
            "contactId": contact["id"], "companyId": lead["id"]})
    assert task == {**task, "subject": "Follow up with John", "type": "call", "ownerId": member.user_id,
                    "dueDate": "2024-01-15T10:00:00.000Z", "contactId": contact["id"], "companyId": lead["id"],
                    "completed": False, "completedAt": None}
    assert ISO_Z.match(task["createdAt"]) and ISO_Z.match(task["updatedAt"])
    rest = api.ok("GET", f"/task/{task['id']}/")
    assert rest == {**rest, "text": "Follow up with John", "description": "Discuss pricing proposal from last meeting",
                    "type": "call", "assigned_to": member.user_id, "due_date": "2024-01-15T10:00:00.000Z",
                    "lead_id": lead["id"], "contact_id": contact["id"], "is_complete": False}


def test_task_ids_map_onto_geniziz(api: Api, other: Api, genesy: Genesy) -> None:
    lead, second = make_lead(api), make_lead(api)
    contact = make_contact(api, lead_id=lead["id"])
    # contactId alone: the task goes on that contact's lead.
    task = genesy.ok("POST", "/tasks", 201, json={"subject": "a", "contactId": contact["id"]})
    assert (task["contactId"], task["companyId"]) == (contact["id"], lead["id"])
    # contactId may be a lead ID; companyId is a lead ID.
    task = genesy.ok("POST", "/tasks", 201, json={"subject": "b", "contactId": second["id"]})
    assert (task["contactId"], task["companyId"]) == (None, second["id"])
    task = genesy.ok("POST", "/tasks", 201, json={"subject": "c", "companyId": second["id"]})
    assert (task["contactId"], task["companyId"]) == (None, second["id"])
    # ownerId is a user ID or a member's email; empty means the key's user.
    with member_client(api) as member:
        email = api.ok("GET", f"/user/{member.user_id}/")["email"]
        assert genesy.ok("POST", "/tasks", 201, json={"subject": "d", "ownerId": email.upper()})["ownerId"] \
            == member.user_id
    assert genesy.ok("POST", "/tasks", 201, json={"subject": "e", "ownerId": ""})["ownerId"] == api.user_id

    # Unknown or foreign IDs: 400 naming the field, and nothing is created.
    foreign_lead = make_lead(other)
    foreign_contact = make_contact(other, lead_id=foreign_lead["id"])
    before = len(tasks_of(api, lead["id"])) + len(tasks_of(api, second["id"]))
    for body, field in (
        ({"contactId": "cont_00000000000000000000zz"}, "contactId"),
        ({"contactId": foreign_contact["id"]}, "contactId"),
        ({"contactId": foreign_lead["id"]}, "contactId"),
        ({"companyId": foreign_lead["id"]}, "companyId"),
        ({"companyId": contact["id"]}, "companyId"),
        ({"ownerId": "user_00000000000000000000zz"}, "ownerId"),
        ({"ownerId": other.user_id}, "ownerId"),
        ({"ownerId": "nobody@example.com"}, "ownerId"),
        ({"contactId": contact["id"], "companyId": second["id"]}, "contactId"),  # the contact is on another lead
        ({"contactId": lead["id"], "companyId": second["id"]}, "companyId"),
    ):
        genesy.error("POST", "/tasks", 400, field, json={"subject": "never", **body})
    assert len(tasks_of(api, lead["id"])) + len(tasks_of(api, second["id"])) == before
    assert not [t for t in api.ok("GET", "/task/", params={"_limit": 200})["data"] if t["text"] == "never"]


def test_task_validation(api: Api, genesy: Genesy) -> None:
    for body, field in (
        ({}, "subject"), ({"subject": ""}, "subject"), ({"subject": "   "}, "subject"), ({"subject": None}, "subject"),
        ({"subject": 42}, "subject"), ({"subject": "x" * 1001}, "subject"), ({"subject": "x", "description": 5},
                                                                              "description"),
        ({"subject": "x", "dueDate": "tomorrow"}, "dueDate"), ({"subject": "x", "dueDate": "2024-13-40"}, "dueDate"),
        ({"subject": "x", "dueDate": 1705312800}, "dueDate"), ({"subject": "x", "type": 3}, "type"),
        ({"subject": "x", "completed": "yes"}, "completed"), ({"subject": "x", "ownerId": 7}, "ownerId"),
        ({"subject": "x", "contactId": ["a"]}, "contactId"),
    ):
        genesy.error("POST", "/tasks", 400, field, json=body)
    # Unknown fields are ignored; any type Genesy sends is accepted, and kept when it is one of ours.
    task = genesy.ok("POST", "/tasks", 201, json={
        "subject": "Tolerant", "type": "LINKEDIN_MESSAGE", "sequenceId": "seq-1", "priority": {"level": 3},
        "dueDate": "2024-01-15T12:00:00+02:00"})
    assert task["type"] == "to_do" and task["dueDate"] == "2024-01-15T10:00:00.000Z" and "sequenceId" not in task
    assert genesy.ok("POST", "/tasks", 201, json={"subject": "x", "type": "Phone"})["type"] == "call"
    assert genesy.ok("POST", "/tasks", 201, json={"subject": "x", "type": "EMAIL"})["type"] == "email"


def test_get_and_update_a_task(api: Api, other: Api, genesy: Genesy) -> None:
    lead = make_lead(api)
    task = genesy.ok("POST", "/tasks", 201, json={"subject": "Call back", "companyId": lead["id"],
                                                     "dueDate": "2024-01-15T10:00:00Z"})
    got = genesy.ok("GET", f"/tasks/{task['id']}")
    assert got == task and got["completedAt"] is None
    assert genesy.ok("GET", f"/tasks/{task['id']}/") == task

    done = genesy.ok("PATCH", f"/tasks/{task['id']}", json={"completed": True})
    assert done["id"] == task["id"] and done["completed"] is True and ISO_Z.match(done["completedAt"])
    rest = api.ok("GET", f"/task/{task['id']}/")
    assert rest["is_complete"] is True and rest["date_completed"] == done["completedAt"]
    # Completing it again changes nothing; reopening clears completedAt.
    assert genesy.ok("PATCH", f"/tasks/{task['id']}", json={"completed": True})["completedAt"] == done["completedAt"]
    reopened = genesy.ok("PATCH", f"/tasks/{task['id']}/", json={"completed": False})
    assert reopened["completed"] is False and reopened["completedAt"] is None

    # The other task fields too; what is not sent stays.
    with member_client(api) as member:
        changed = genesy.ok("PATCH", f"/tasks/{task['id']}", json={
            "subject": "Call back, again", "type": "meeting", "ownerId": member.user_id, "dueDate": None,
            "description": "Bring the contract", "unknown": True})
    assert changed == {**changed, "subject": "Call back, again", "type": "meeting", "ownerId": member.user_id,
                       "dueDate": None, "description": "Bring the contract", "companyId": lead["id"]}
    for body, field in (({"subject": None}, "subject"), ({"subject": ""}, "subject"),
                        ({"completed": None}, "completed"), ({"completed": "true"}, "completed"),
                        ({"dueDate": "soon"}, "dueDate"), ({"contactId": "cont_00000000000000000000zz"}, "contactId")):
        genesy.error("PATCH", f"/tasks/{task['id']}", 400, field, json=body)
    assert genesy.ok("GET", f"/tasks/{task['id']}") == changed

    # Unknown tasks and another workspace's tasks are 404s, in Genesy's words.
    theirs = make_task(other)
    for task_id in (theirs["id"], "task_00000000000000000000zz", "task-xyz"):
        body = genesy.error("GET", f"/tasks/{task_id}", 404, task_id)
        assert body == {"error": "Task not found", "message": f"No task exists with ID: {task_id}"}
        genesy.error("PATCH", f"/tasks/{task_id}", 404, task_id, json={"completed": True})
    assert api.ok("GET", f"/task/{task['id']}/")["is_complete"] is False
    assert other.ok("GET", f"/task/{theirs['id']}/")["is_complete"] is False


def test_completion_shows_on_both_sides_and_in_the_timeline(api: Api, genesy: Genesy) -> None:
    lead = make_lead(api)
    contact = make_contact(api, lead_id=lead["id"])
    from_genesy = genesy.ok("POST", "/tasks", 201, json={"subject": "From Genesy", "contactId": contact["id"]})
    from_rest = make_task(api, lead_id=lead["id"], text="From Geniziz")

    # Completed in Genesy: visible through /api/v1/task/.
    genesy.ok("PATCH", f"/tasks/{from_genesy['id']}", json={"completed": True})
    assert api.ok("GET", f"/task/{from_genesy['id']}/")["is_complete"] is True
    # Completed in Geniziz: visible to Genesy.
    rest = api.ok("PUT", f"/task/{from_rest['id']}/", json={"is_complete": True})
    seen = genesy.ok("GET", f"/tasks/{from_rest['id']}")
    assert seen["completed"] is True and seen["completedAt"] == rest["date_completed"]

    # Each completion records one task_completed activity, whichever side completed it.
    genesy.ok("PATCH", f"/tasks/{from_genesy['id']}", json={"completed": True})
    activities = api.ok("GET", "/activity/task_completed/", params={"lead_id": lead["id"]})["data"]
    assert sorted(a["task_id"] for a in activities) == sorted([from_genesy["id"], from_rest["id"]])
    mine = next(a for a in activities if a["task_id"] == from_genesy["id"])
    assert mine["contact_id"] == contact["id"] and mine["task_text"] == "From Genesy"


# --- batches ----------------------------------------------------------------------------------------------
def test_get_tasks_in_a_batch(api: Api, other: Api, genesy: Genesy) -> None:
    lead = make_lead(api)
    mine = [genesy.ok("POST", "/tasks", 201, json={"subject": f"T{i}", "companyId": lead["id"]}) for i in range(3)]
    theirs = make_task(other)
    ids = [t["id"] for t in mine]

    assert genesy.ok("POST", "/tasks/batch", json={"ids": []}) == []
    # The spec's curl line: unknown IDs are simply left out.
    assert genesy.ok("POST", "/tasks/batch", json={"ids": ["task-id-1", "task-id-2"]}) == []
    got = genesy.ok("POST", "/tasks/batch", json={"ids": [ids[2], "task-unknown", ids[0], theirs["id"], ids[2]]})
    assert [t["id"] for t in got] == [ids[2], ids[0]]  # asked order, each once, other workspaces left out
    assert got[1] == genesy.ok("GET", f"/tasks/{ids[0]}")
    # At least 100 IDs per batch: the documented limit is 200.
    assert len(genesy.ok("POST", "/tasks/batch/", json={"ids": ids + [f"task_{i}" for i in range(197)]})) == 3
    genesy.error("POST", "/tasks/batch", 400, "ids", json={"ids": ids + [f"task_{i}" for i in range(198)]})
    for body in ({}, {"ids": "task_x"}, {"ids": [1, 2]}, {"ids": [None]}, {"ids": {"a": 1}}, {"id": ids}):
        genesy.error("POST", "/tasks/batch", 400, "ids", json=body)


def test_complete_tasks_in_a_batch(api: Api, other: Api, genesy: Genesy) -> None:
    lead = make_lead(api)
    ids = [genesy.ok("POST", "/tasks", 201, json={"subject": f"T{i}", "companyId": lead["id"]})["id"]
           for i in range(3)]
    theirs = make_task(other)

    # An invalid body changes nothing.
    for body, field in (({"ids": ids}, "completed"), ({"ids": ids, "completed": "true"}, "completed"),
                        ({"ids": [*ids, 5], "completed": True}, "ids"), ({"completed": True}, "ids")):
        genesy.error("PATCH", "/tasks/batch", 400, field, json=body)
    assert not any(t["is_complete"] for t in tasks_of(api, lead["id"]))

    # The spec's request; unknown and foreign IDs are left out, duplicates answered once.
    done = genesy.ok("PATCH", "/tasks/batch", json={
        "ids": [ids[0], ids[1], "task-id-1", theirs["id"], ids[0]], "completed": True, "note": "ignored"})
    assert [t["id"] for t in done] == ids[:2]
    assert all(t["completed"] and ISO_Z.match(t["completedAt"]) for t in done)
    assert {t["id"]: t["is_complete"] for t in tasks_of(api, lead["id"])} == {ids[0]: True, ids[1]: True,
                                                                                 ids[2]: False}
    assert other.ok("GET", f"/task/{theirs['id']}/")["is_complete"] is False
    assert genesy.ok("PATCH", "/tasks/batch", json={"ids": [], "completed": True}) == []

    # Reopening works the same way.
    reopened = genesy.ok("PATCH", "/tasks/batch/", json={"ids": ids, "completed": False})
    assert [(t["id"], t["completed"], t["completedAt"]) for t in reopened] == [(i, False, None) for i in ids]
    assert len(api.ok("GET", "/activity/task_completed/", params={"lead_id": lead["id"]})["data"]) == 2
