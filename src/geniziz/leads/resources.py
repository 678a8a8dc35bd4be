from geniziz.api.resource import register
from geniziz.custom.records import CustomizedResource
from geniziz.leads import schemas, service

lead = register(CustomizedResource(
    name="lead", title="Lead", service=service.LeadService(),
    read_schema=schemas.LeadRead, create_schema=schemas.LeadCreate, update_schema=schemas.LeadUpdate,
    filters=schemas.LeadFilters, object_type="lead", nested={"contacts": "contact"},
    embeds_custom_objects=True,
    description="Leads, newest first. Each embeds its contacts. Deleting a lead deletes its contacts, "
                "opportunities, tasks and activities. `_fields=...,custom_objects` also embeds its custom object "
                "instances.",
))
