"""Statuses and pipelines are plain resources: their routes come from these declarations."""

from geniziz.api.resource import Resource, register
from geniziz.statuses import schemas, service

lead_status = register(Resource(
    name="status/lead", title="Lead status", service=service.LeadStatusService(),
    read_schema=schemas.LeadStatusRead, create_schema=schemas.LeadStatusCreate,
    description="Lead statuses, in the order they were defined. The first is the default for new leads.",
))
opportunity_status = register(Resource(
    name="status/opportunity", title="Opportunity status", service=service.OpportunityStatusService(),
    read_schema=schemas.OpportunityStatusRead, create_schema=schemas.OpportunityStatusCreate,
    update_schema=schemas.OpportunityStatusUpdate,
    description="Opportunity statuses: each has a type (active, won, lost) and belongs to a pipeline.",
))
pipeline = register(Resource(
    name="pipeline", title="Pipeline", service=service.PipelineService(),
    read_schema=schemas.PipelineRead, create_schema=schemas.PipelineCreate,
    description="Opportunity pipelines, each with its statuses.",
))
