from geniziz.api.resource import Parent, Resource, register
from geniziz.custom.records import CustomizedResource
from geniziz.opportunities import schemas, service

opportunity = register(CustomizedResource(
    name="opportunity", title="Opportunity", service=service.OpportunityService(),
    read_schema=schemas.OpportunityRead, create_schema=schemas.OpportunityCreate,
    update_schema=schemas.OpportunityUpdate, filters=schemas.OpportunityFilters, object_type="opportunity",
    description="Opportunities, newest first. `value` is in cents; `date_won` is set when the opportunity "
                "enters a won status. With line items, `value` is their sum.",
))
line_item = register(Resource(
    name="opportunity/line_item", title="Line item", service=service.LineItemService(),
    read_schema=schemas.LineItemRead, create_schema=schemas.LineItemCreate, filters=schemas.LineItemFilters,
    operations=frozenset({"list", "create", "delete"}), parent=Parent("opportunity", "opportunity_id"),
    description="An opportunity's line items, in the order they were added; their sum sets its value.",
))
