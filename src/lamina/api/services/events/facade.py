"""The EventBridge API's door: the json protocol from botocore's `events` model, each operation
authorised as `events:<Operation>` on the rule or bus it names (AccessDeniedException, as
EventBridge answers)."""

from __future__ import annotations

from lamina.api.services.events.operations import EventsOperations
from lamina.api.services.service import ServiceFacade, caller_checks, snake_case
from lamina.identity.authorizer import Authorizer
from lamina.protocol.json_rpc import JsonRpcProtocol
from lamina.protocol.model import load_service_model
from lamina.sources.events.service import EventBusService

__all__ = ["OPERATIONS", "build_events_facade"]

OPERATIONS = (
    "PutRule",
    "DescribeRule",
    "ListRules",
    "DeleteRule",
    "EnableRule",
    "DisableRule",
    "ListRuleNamesByTarget",
    "PutTargets",
    "RemoveTargets",
    "ListTargetsByRule",
    "PutEvents",
    "TestEventPattern",
    "CreateEventBus",
    "DeleteEventBus",
    "DescribeEventBus",
    "ListEventBuses",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
)


def build_events_facade(service: EventBusService, authorizer: Authorizer) -> ServiceFacade:
    authorize = caller_checks(authorizer, "AccessDeniedException")
    operations = EventsOperations(service, authorize)
    table = {name: getattr(operations, snake_case(name)) for name in OPERATIONS}
    return ServiceFacade(JsonRpcProtocol(load_service_model("events")), table)
