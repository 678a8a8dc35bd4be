from geniziz.api.resource import Resource, register
from geniziz.contacts import schemas, service

contact = register(Resource(
    name="contact", title="Contact", service=service.ContactService(),
    read_schema=schemas.ContactRead, create_schema=schemas.ContactCreate, update_schema=schemas.ContactUpdate,
    filters=schemas.ContactFilters,
    description="Contacts, newest first. Phones are stored in E.164 and also returned formatted.",
))
