"""The EventBridge Scheduler API's door: rest-json from botocore's `scheduler` model, each
operation authorised as `scheduler:<Operation>` on the schedule or group it names."""

from __future__ import annotations

from lamina.api.services.scheduler.operations import SchedulerOperations
from lamina.api.services.service import ServiceFacade, caller_checks, snake_case
from lamina.identity.authorizer import Authorizer
from lamina.protocol.model import create_protocol, load_service_model
from lamina.sources.schedules.service import SchedulerService

__all__ = ["OPERATIONS", "build_scheduler_facade"]

OPERATIONS = (
    "CreateSchedule",
    "GetSchedule",
    "UpdateSchedule",
    "DeleteSchedule",
    "ListSchedules",
    "CreateScheduleGroup",
    "GetScheduleGroup",
    "DeleteScheduleGroup",
    "ListScheduleGroups",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
)


def build_scheduler_facade(service: SchedulerService, authorizer: Authorizer) -> ServiceFacade:
    authorize = caller_checks(authorizer, "AccessDeniedException")
    operations = SchedulerOperations(service, authorize)
    table = {name: getattr(operations, snake_case(name)) for name in OPERATIONS}
    return ServiceFacade(create_protocol(load_service_model("scheduler")), table)
