from geniziz.api.resource import Resource, register
from geniziz.tasks import schemas, service

task = register(Resource(
    name="task", title="Task", service=service.TaskService(),
    read_schema=schemas.TaskRead, create_schema=schemas.TaskCreate, update_schema=schemas.TaskUpdate,
    filters=schemas.TaskFilters,
    description="Tasks, newest first. Setting is_complete to true records date_completed once.",
))
