"""Imports and exports, declared once for REST, OpenAPI and MCP."""

from geniziz.api.resource import Resource, register
from geniziz.flows import schemas
from geniziz.flows.imports import ImportService

data_import = register(Resource(
    name="import", title="Import", service=ImportService(), read_schema=schemas.ImportRead,
    create_schema=schemas.ImportCreate, filters=schemas.ImportFilters,
    operations=frozenset({"list", "get", "create", "delete"}),
    description="Imports of leads and contacts from CSV or JSON lines, run as background jobs: follow "
                "processed_rows and status; rows that failed are at /import/{id}/errors/.",
))
