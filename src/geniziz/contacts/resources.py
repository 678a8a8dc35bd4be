from geniziz.api.resource import register
from geniziz.custom.records import CustomizedResource
from geniziz.contacts import schemas, service

contact = register(CustomizedResource(
    name="contact", title="Contact", service=service.ContactService(),
    read_schema=schemas.ContactRead, create_schema=schemas.ContactCreate, update_schema=schemas.ContactUpdate,
    filters=schemas.ContactFilters, object_type="contact",
    description="Contacts, newest first. Phones are stored in E.164 and also returned formatted.",
))
