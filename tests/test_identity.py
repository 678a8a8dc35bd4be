"""Identity: /me/, users, memberships (admin-only writes), API keys, workspaces."""

from __future__ import annotations

import time

import httpx

from tests.conftest import Api, Server, member_client, new_workspace


def test_me_lists_every_workspace_of_the_caller(server: Server, api: Api) -> None:
    second = api.ok("POST", "/organization/", json={"name": "Second shop"})
    assert second["id"].startswith("orga_") and second["api_key"]["key"].startswith("gz_")
    me = api.ok("GET", "/me/")
    assert {m["organization_id"] for m in me["memberships"]} >= {api.org_id, second["id"]}
    with Api(server.base_url, second["api_key"]["key"]) as in_second:
        me_there = in_second.ok("GET", "/me/")
        assert me_there["id"] == api.user_id and me_there["organization_id"] == second["id"]
        assert in_second.ok("GET", "/lead/")["data"] == []  # a new workspace starts empty...
        assert len(in_second.ok("GET", "/status/lead/")["data"]) == 4  # ...with default statuses


def test_organization_read_and_rename(api: Api, other: Api) -> None:
    assert api.ok("GET", f"/organization/{api.org_id}/")["name"] == "Workspace A"
    assert api.ok("PUT", f"/organization/{api.org_id}/", json={"name": "Renamed"})["name"] == "Renamed"
    api.bad("GET", f"/organization/{other.org_id}/", status=404)
    api.bad("PUT", f"/organization/{api.org_id}/", "name", json={"name": ""})


def test_users_are_the_workspace_members(api: Api, other: Api) -> None:
    member = member_client(api, email="colleague@example.com")
    users = api.ok("GET", "/user/")["data"]
    assert {(u["id"], u["role"]) for u in users} == {(api.user_id, "admin"), (member.user_id, "member")}
    assert api.ok("GET", f"/user/{member.user_id}/")["email"] == "colleague@example.com"
    api.bad("GET", f"/user/{other.user_id}/", status=404)
    api.bad("POST", "/user/", status=405, json={})


def test_memberships_admin_only_and_one_admin_always(api: Api) -> None:
    member = member_client(api)
    memberships = {m["user_id"]: m for m in api.ok("GET", "/membership/")["data"]}
    mine, theirs = memberships[api.user_id], memberships[member.user_id]
    # members read but may not administer
    assert len(member.ok("GET", "/membership/")["data"]) == 2
    member.bad("POST", "/membership/", status=403, json={"email": "x@example.com"})
    member.bad("PUT", f"/membership/{mine['id']}/", status=403, json={"role": "member"})
    member.bad("DELETE", f"/membership/{mine['id']}/", status=403)
    member.bad("POST", "/api_key/", status=403, json={"user_id": api.user_id})
    member.bad("PUT", f"/organization/{api.org_id}/", status=403, json={"name": "Mine now"})
    # validation
    api.bad("POST", "/membership/", "email", json={"email": "nobody"})
    api.bad("POST", "/membership/", "role", json={"email": "ok@example.com", "role": "owner"})
    api.bad("POST", "/membership/", "email", json={"email": member.ok("GET", "/me/")["email"]})
    # the last admin stays
    api.bad("PUT", f"/membership/{mine['id']}/", "role", json={"role": "member"})
    api.bad("DELETE", f"/membership/{mine['id']}/")
    promoted = api.ok("PUT", f"/membership/{theirs['id']}/", json={"role": "admin"})
    assert promoted["role"] == "admin"
    api.ok("PUT", f"/membership/{theirs['id']}/", json={"role": "member"})
    # removing a member revokes their keys for this workspace
    assert api.ok("DELETE", f"/membership/{theirs['id']}/") == {}
    assert [u["id"] for u in api.ok("GET", "/user/")["data"]] == [api.user_id]
    deadline = time.monotonic() + 10  # key lookups are cached for a few seconds
    while member.get("/me/").status_code != 401:
        assert time.monotonic() < deadline, "a removed member's key still works"
        time.sleep(0.5)


def test_api_keys_are_listed_without_secrets_and_deleted_by_their_owner(server: Server, api: Api) -> None:
    created = api.ok("POST", "/api_key/", json={"name": "zapier"})
    assert created["key"].startswith(created["hint"])
    listed = api.ok("GET", "/api_key/")["data"]
    assert {k["name"] for k in listed} == {"zapier", "tests"}
    assert all("key" not in k and "digest" not in k for k in listed)
    member = member_client(api)
    assert [k["name"] for k in member.ok("GET", "/api_key/")["data"]] == ["for tests"]
    member.bad("DELETE", f"/api_key/{created['id']}/", status=404)  # not theirs
    assert api.ok("DELETE", f"/api_key/{created['id']}/") == {}
    api.bad("GET", f"/api_key/{created['id']}/", status=404)


def test_a_fresh_workspace_key_works_right_away(server: Server) -> None:
    client = new_workspace(server, "Fresh")
    try:
        assert httpx.get(f"{server.base_url}/api/v1/me/", auth=(client.key, "")).status_code == 200
    finally:
        client.close()
