"""Identity resources: REST only, never reachable over MCP."""

from geniziz.api.resource import Resource, register
from geniziz.identity import schemas, service

user = register(Resource(
    name="user", title="User", service=service.UserService(), read_schema=schemas.UserRead,
    operations=frozenset({"list", "get"}), mcp=False,
    description="The members of this workspace, with their role.",
))
membership = register(Resource(
    name="membership", title="Membership", service=service.MembershipService(),
    read_schema=schemas.MembershipRead, create_schema=schemas.MembershipCreate,
    update_schema=schemas.MembershipUpdate, mcp=False,
    description="Who belongs to this workspace. Admins invite by email, change roles and remove members "
                "(others get 403). A workspace always keeps at least one admin.",
))
api_key = register(Resource(
    name="api_key", title="API key", service=service.ApiKeyService(), read_schema=schemas.ApiKeyRead,
    operations=frozenset({"list", "get", "delete"}), mcp=False,
    description="Your API keys for this workspace. Secrets are shown once, when a key is created.",
))
