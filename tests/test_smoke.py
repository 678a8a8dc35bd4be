from tests.conftest import Api


def test_me(api: Api) -> None:
    me = api.ok("GET", "/me/")
    assert me["organization_id"] == api.org_id
    assert me["role"] == "admin"
