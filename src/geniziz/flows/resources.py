"""Imports and exports, declared once for REST, OpenAPI and MCP."""

from geniziz.api.resource import Resource, register
from geniziz.flows import schemas
from geniziz.flows.bulk import BulkActionService
from geniziz.flows.exports import ExportService
from geniziz.flows.imports import ImportService

data_import = register(Resource(
    name="import", title="Import", service=ImportService(), read_schema=schemas.ImportRead,
    create_schema=schemas.ImportCreate, filters=schemas.ImportFilters,
    operations=frozenset({"list", "get", "create", "delete"}),
    description="Imports of leads and contacts from CSV or JSON lines, run as background jobs: follow "
                "processed_rows and status; rows that failed are at /import/{id}/errors/.",
))

data_export = register(Resource(
    name="export", title="Export", service=ExportService(), read_schema=schemas.ExportRead,
    create_schema=schemas.ExportCreate, operations=frozenset({"list", "get", "create", "delete"}),
    description="Exports of leads, contacts or opportunities (filtered like their lists) as CSV or JSON lines, "
                "written by a background job; download_url once it has succeeded.",
))

bulk_action = register(Resource(
    name="bulk_action", title="Bulk action", service=BulkActionService(), read_schema=schemas.BulkActionRead,
    create_schema=schemas.BulkActionCreate, operations=frozenset({"list", "get", "create"}),
    description="Set fields on, or delete, many leads, contacts, opportunities or tasks, or enrol many contacts "
                "(or leads' contacts) in a sequence (by filters or IDs) in a background job; each record changes "
                "as a single PUT, DELETE or enrolment would. Follow processed and status.",
))
