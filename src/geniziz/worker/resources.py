"""Background jobs: REST only (admins), never reachable over MCP."""

from geniziz.api.resource import Resource, register
from geniziz.worker import jobs as _jobs  # noqa: F401 - the worker's own job kinds
from geniziz.worker import schemas
from geniziz.worker.service import JobService

job = register(Resource(
    name="job", title="Job", service=JobService(), read_schema=schemas.JobRead, filters=schemas.JobFilters,
    operations=frozenset({"list", "get"}), mcp=False,
    description="The workspace's background jobs (admins only): queued, running, succeeded, or failed with "
                "the last error after its retries.",
))
