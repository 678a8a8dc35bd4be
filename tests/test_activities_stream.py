"""The unified stream (order, filters, paging, _fields), the activities the system writes (exactly one
per event, in the same transaction), and isolation between workspaces."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.conftest import Api, member_client
from tests.factories import generated, make_activity, make_contact, make_lead, make_opportunity, make_task


def ids(rows: list[dict]) -> list[str]:
    return [row["id"] for row in rows]


def stream(api: Api, **params: object) -> list[dict]:
    return api.ok("GET", "/activity/", params={"_limit": 200, **params})["data"]


def parallel(calls: list, workers: int = 8) -> list:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_the_stream_is_newest_first_by_when_it_happened(api: Api) -> None:
    lead = make_lead(api)
    late = make_activity(api, "call", lead_id=lead["id"], activity_at="2020-03-01T10:00:00Z")
    early = make_activity(api, "note", lead_id=lead["id"], activity_at="2020-01-01T10:00:00Z")
    tie_a = make_activity(api, "email", lead_id=lead["id"], activity_at="2020-02-01T10:00:00Z")
    tie_b = make_activity(api, "sms", lead_id=lead["id"], activity_at="2020-02-01T10:00:00Z")
    meeting = make_activity(api, "meeting", lead_id=lead["id"], starts_at="2020-02-15T10:00:00+02:00")
    created = generated(api, "created", lead["id"])[0]  # now: after all of these
    rows = stream(api, lead_id=lead["id"])
    # When it happened decides; among equals the later-created comes first (IDs are time-ordered).
    assert ids(rows) == [created["id"], late["id"], meeting["id"], tie_b["id"], tie_a["id"], early["id"]]
    assert [row["_type"] for row in rows] == ["created", "call", "meeting", "sms", "email", "note"]
    # Each item is the record as its own type shows it.
    for row in rows[1:]:
        assert api.ok("GET", f"/activity/{row['_type']}/{row['id']}/") == row
    assert rows[0] == created

    # Paging walks it exactly once, with has_more telling whether anything is left.
    seen = []
    for skip in range(0, 6, 4):
        page = api.ok("GET", "/activity/", params={"lead_id": lead["id"], "_limit": 4, "_skip": skip})
        seen += ids(page["data"])
        assert page["has_more"] is (skip == 0)
    assert seen == ids(rows)
    assert api.ok("GET", "/activity/", params={"lead_id": lead["id"], "_skip": 6}) == {"data": [], "has_more": False}
    assert api.ok("GET", "/activity/", params={"lead_id": lead["id"], "_limit": 6})["has_more"] is False
    typed = api.ok("GET", "/activity/email/", params={"lead_id": lead["id"]})["data"]
    assert ids(typed) == [tie_a["id"]]


def test_stream_filters(api: Api) -> None:
    lead, other_lead = make_lead(api), make_lead(api)
    contact = make_contact(api, lead_id=lead["id"])
    member = member_client(api)
    note = make_activity(api, "note", lead_id=lead["id"], activity_at="2026-01-10T00:00:00Z")
    call = make_activity(api, "call", contact_id=contact["id"], activity_at="2026-01-20T00:00:00Z")
    theirs = member.create("activity/sms", lead_id=lead["id"], text="hi", activity_at="2026-01-30T00:00:00Z")
    elsewhere = make_activity(api, "note", lead_id=other_lead["id"], activity_at="2026-01-15T00:00:00Z")
    everyone = ids(stream(api))
    assert set(ids([note, call, theirs, elsewhere])) <= set(everyone)

    assert ids(stream(api, contact_id=contact["id"], _type="call")) == [call["id"]]
    assert ids(stream(api, user_id=member.user_id)) == [theirs["id"]]
    assert ids(stream(api, lead_id=lead["id"], _type="note,call")) == [call["id"], note["id"]]
    assert ids(api.ok("GET", "/activity/", params=[("lead_id", lead["id"]), ("_type", "note"), ("_type", "sms")])[
        "data"]) == [theirs["id"], note["id"]]
    assert {row["_type"] for row in stream(api, lead_id=lead["id"], _type="created")} == {"created"}
    window = {"activity_at__gte": "2026-01-15T00:00:00Z", "activity_at__lte": "2026-01-20T00:00:00Z"}
    assert ids(stream(api, **window)) == [call["id"], elsewhere["id"]]  # both ends included
    assert ids(stream(api, activity_at__gte="2026-01-15T01:00:00+01:00", _type="note")) == [elsewhere["id"]]
    assert stream(api, lead_id="lead_" + "0" * 22) == []
    assert stream(api, lead_id="garbage") == []

    api.bad("GET", "/activity/", "_type", params={"_type": "note,tweet"})
    api.bad("GET", "/activity/", "activity_at__gte", params={"activity_at__gte": "last week"})
    api.bad("GET", "/activity/", "type", params={"type": "note"})  # the filter is _type
    api.bad("GET", "/activity/", "_limit", params={"_limit": 201})
    api.bad("GET", "/activity/call/", "status", params={"status": "exploded"})
    assert ids(api.ok("GET", "/activity/call/", params={"direction": "outbound", "status": "completed"})["data"]) == [
        call["id"]]


def test_stream_fields_span_every_type(api: Api) -> None:
    lead = make_lead(api)
    make_activity(api, "note", lead_id=lead["id"], note="n", activity_at="2026-01-01T00:00:00Z")
    make_activity(api, "call", lead_id=lead["id"], duration=7, activity_at="2026-01-02T00:00:00Z")
    rows = api.ok("GET", "/activity/", params={"lead_id": lead["id"], "_fields": "_type,note,duration",
                                                 "_type": "note,call"})["data"]
    assert rows == [{"_type": "call", "note": None, "duration": 7}, {"_type": "note", "note": "n"}]
    api.bad("GET", "/activity/", "_fields", params={"_fields": "id,nope"})
    api.bad("GET", "/activity/note/", "_fields", params={"_fields": "duration"})  # not a note field
    response = api.get("/activity/", params={"lead_id": lead["id"]})
    assert int(response.headers["ratelimit-limit"]) > 0 and "ratelimit-remaining" in response.headers


def test_generated_activities_appear_exactly_once_per_event(api: Api) -> None:
    lead = make_lead(api)
    created = generated(api, "created", lead["id"])
    assert len(created) == 1
    assert {k: created[0][k] for k in ("object_type", "object_id", "source", "user_id", "lead_id", "contact_id")} == {
        "object_type": "lead", "object_id": lead["id"], "source": "api", "user_id": api.user_id,
        "lead_id": lead["id"], "contact_id": None}
    contact = make_contact(api, lead_id=lead["id"])
    by_contact = [a for a in generated(api, "created", lead["id"]) if a["object_type"] == "contact"]
    assert len(by_contact) == 1 and by_contact[0]["contact_id"] == by_contact[0]["object_id"] == contact["id"]
    own_lead = make_contact(api, name="Walk-in")  # a contact without a lead gets one of its own: two events
    assert sorted(a["object_type"] for a in generated(api, "created", own_lead["lead_id"])) == ["contact", "lead"]

    statuses = api.ok("GET", "/status/lead/")["data"]
    api.ok("PUT", f"/lead/{lead['id']}/", json={"status_id": statuses[1]["id"]})
    api.ok("PUT", f"/lead/{lead['id']}/", json={"status_id": statuses[1]["id"]})  # no change: no activity
    api.ok("PUT", f"/lead/{lead['id']}/", json={"name": "Renamed"})
    api.ok("PUT", f"/lead/{lead['id']}/", json={"status_id": statuses[2]["id"]})
    changes = generated(api, "status_change/lead", lead["id"])
    assert [(c["old_status_id"], c["new_status_id"]) for c in changes] == [
        (statuses[1]["id"], statuses[2]["id"]), (statuses[0]["id"], statuses[1]["id"])]
    assert changes[0]["old_status_label"] == statuses[1]["label"]
    assert changes[0]["new_status_label"] == statuses[2]["label"] and changes[0]["user_id"] == api.user_id

    opportunity_statuses = {s["type"]: s for s in api.ok("GET", "/status/opportunity/")["data"]}
    opportunity = make_opportunity(api, lead_id=lead["id"], contact_id=contact["id"])
    assert generated(api, "status_change/opportunity", lead["id"]) == []  # creating is not a change
    won = opportunity_statuses["won"]
    api.ok("PUT", f"/opportunity/{opportunity['id']}/", json={"status_id": won["id"]})
    api.ok("PUT", f"/opportunity/{opportunity['id']}/", json={"status_id": won["id"], "note": "signed"})
    [change] = generated(api, "status_change/opportunity", lead["id"])
    assert change["opportunity_id"] == opportunity["id"] and change["contact_id"] == contact["id"]
    assert (change["old_status_id"], change["new_status_id"], change["new_status_label"]) == (
        opportunity["status_id"], won["id"], won["label"])

    task = make_task(api, lead_id=lead["id"])
    path = f"/task/{task['id']}/"
    api.ok("PUT", path, json={"is_complete": True})
    api.ok("PUT", path, json={"is_complete": True})  # already complete: not a second completion
    assert len(generated(api, "task_completed", lead["id"])) == 1
    api.ok("PUT", path, json={"is_complete": False})
    api.ok("PUT", path, json={"is_complete": True})
    completions = generated(api, "task_completed", lead["id"])
    assert len(completions) == 2 and {c["task_id"] for c in completions} == {task["id"]}
    assert completions[0]["task_text"] == task["text"]
    born_done = make_task(api, lead_id=lead["id"], is_complete=True)
    assert born_done["id"] in {c["task_id"] for c in generated(api, "task_completed", lead["id"])}

    types = [row["_type"] for row in stream(api, lead_id=lead["id"])]
    assert types.count("status_change/lead") == 2 and types.count("status_change/opportunity") == 1
    assert types.count("task_completed") == 3 and types.count("created") == 2


def test_a_task_without_a_lead_completes_onto_the_workspace_stream(api: Api) -> None:
    task = api.create("task", text="Research the market")
    assert task["lead_id"] is None
    api.ok("PUT", f"/task/{task['id']}/", json={"is_complete": True})
    [completion] = [a for a in api.ok("GET", "/activity/task_completed/")["data"] if a["task_id"] == task["id"]]
    assert completion["lead_id"] is None and completion["contact_id"] is None
    assert completion["id"] in ids(stream(api, _type="task_completed"))


def test_concurrent_events_write_one_activity_each(api: Api) -> None:
    lead = make_lead(api)
    task = make_task(api, lead_id=lead["id"])
    target = api.ok("GET", "/status/lead/")["data"][-1]["id"]
    responses = parallel([lambda: api.put(f"/task/{task['id']}/", json={"is_complete": True})] * 8
                         + [lambda: api.put(f"/lead/{lead['id']}/", json={"status_id": target})] * 8)
    assert [r.status_code for r in responses] == [200] * 16, [r.text for r in responses if r.status_code != 200]
    assert len(generated(api, "task_completed", lead["id"])) == 1
    assert len(generated(api, "status_change/lead", lead["id"])) == 1

    first = make_activity(api, "email", lead_id=lead["id"])
    replies = parallel([lambda: api.post("/activity/email/", json={"lead_id": lead["id"],
                                                                    "thread_id": first["thread_id"]})] * 12)
    assert all(r.status_code == 201 for r in replies), [r.text for r in replies if r.status_code != 201]
    thread = api.ok("GET", f"/activity/emailthread/{first['thread_id']}/")
    assert thread["n_emails"] == 13 and len(thread["emails"]) == 13


def test_workspaces_never_see_each_others_activities(api: Api, other: Api) -> None:
    lead = make_lead(api)
    contact = make_contact(api, lead_id=lead["id"])
    note = make_activity(api, "note", contact_id=contact["id"])
    kind = api.create("custom_activity_type", name="Site visit")
    theirs = make_lead(other)
    assert not set(ids(stream(api))) & set(ids(stream(other)))
    assert stream(other, lead_id=lead["id"]) == []
    assert stream(other, user_id=api.user_id) == []
    other.bad("GET", f"/activity/note/{note['id']}/", status=404)
    other.bad("PUT", f"/activity/note/{note['id']}/", status=404, json={"note": "mine now"})
    for body, field in [({"lead_id": lead["id"]}, "lead_id"),
                        ({"lead_id": theirs["id"], "contact_id": contact["id"]}, "contact_id"),
                        ({"lead_id": theirs["id"], "user_id": api.user_id}, "user_id")]:
        other.bad("POST", "/activity/note/", field, json={"note": "x", **body})
    other.bad("POST", "/activity/custom/", "custom_activity_type_id",
              json={"lead_id": theirs["id"], "custom_activity_type_id": kind["id"]})
    mine = make_activity(other, "note", lead_id=theirs["id"])
    other.bad("PUT", f"/activity/note/{mine['id']}/", "lead_id", json={"lead_id": lead["id"]})
    assert api.ok("GET", f"/activity/note/{note['id']}/") == note
    assert ids(stream(other, lead_id=theirs["id"], _type="note")) == [mine["id"]]
