from geniziz.api.resource import Resource, register
from geniziz.leads import schemas, service

lead = register(Resource(
    name="lead", title="Lead", service=service.LeadService(),
    read_schema=schemas.LeadRead, create_schema=schemas.LeadCreate, update_schema=schemas.LeadUpdate,
    filters=schemas.LeadFilters,
    description="Leads, newest first. Each embeds its contacts. Deleting a lead deletes its contacts, "
                "opportunities, tasks and activities.",
))
