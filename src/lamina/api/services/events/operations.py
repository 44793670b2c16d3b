"""The EventBridge operations: decoded params in, the bus service called, the wire output back.
The account is the caller's, the region the one the request was signed for."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from lamina.api.context import OperationResult, RequestContext
from lamina.api.services import paging
from lamina.domain.event_patterns import InvalidPattern, parse_pattern
from lamina.domain.events import errors
from lamina.domain.events.rules import EventBus, bus_arn, bus_name_of, rule_arn
from lamina.sources.events.service import EventBusService

__all__ = ["EventsOperations"]

T = TypeVar("T")
_DEFAULT_PAGE = 100
# Authorises an operation: (IAM action, resource ARN, caller's context); raises AccessDenied.
Authorize = Callable[[str, str, RequestContext], None]


class EventsOperations:
    def __init__(self, service: EventBusService, authorize: Authorize) -> None:
        self._service = service
        self._authorize = authorize

    def _where(self, params: dict[str, Any], context: RequestContext) -> tuple[str, str, str]:
        return context.principal.account, context.region, bus_name_of(params.get("EventBusName"))

    def _rule_arn(self, params: dict[str, Any], context: RequestContext, name: str) -> str:
        account, region, bus = self._where(params, context)
        return rule_arn(region, account, bus, name)

    # rules -------------------------------------------------------------------------------------
    async def put_rule(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region, bus = self._where(params, context)
        self._authorize("events:PutRule", rule_arn(region, account, bus, params["Name"]), context)
        rule = await self._service.put_rule(
            account,
            region,
            bus,
            params["Name"],
            schedule_expression=params.get("ScheduleExpression"),
            event_pattern=params.get("EventPattern"),
            state=params.get("State"),
            description=params.get("Description"),
            role_arn=params.get("RoleArn"),
        )
        if params.get("Tags"):
            await self._service.tag(rule.arn, {tag["Key"]: tag["Value"] for tag in params["Tags"]})
        return OperationResult({"RuleArn": rule.arn})

    async def describe_rule(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region, bus = self._where(params, context)
        self._authorize("events:DescribeRule", self._rule_arn(params, context, params["Name"]), context)
        rule = self._service.rule(account, region, bus, params["Name"])
        return OperationResult({**rule.describe(), "CreatedBy": account})

    async def list_rules(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region, bus = self._where(params, context)
        self._authorize("events:ListRules", rule_arn(region, account, bus, "*"), context)
        rules = self._service.list_rules(account, region, bus, params.get("NamePrefix") or "")
        page, output = _page(rules, params)
        return OperationResult({"Rules": [rule.describe() for rule in page], **output})

    async def delete_rule(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region, bus = self._where(params, context)
        arn = self._rule_arn(params, context, params["Name"])
        self._authorize("events:DeleteRule", arn, context)
        await self._service.delete_rule(account, region, bus, params["Name"], bool(params.get("Force")))
        return OperationResult({})

    async def enable_rule(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return await self._set_state(params, context, True)

    async def disable_rule(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return await self._set_state(params, context, False)

    async def _set_state(
        self, params: dict[str, Any], context: RequestContext, enabled: bool
    ) -> OperationResult:
        account, region, bus = self._where(params, context)
        action = "events:EnableRule" if enabled else "events:DisableRule"
        self._authorize(action, self._rule_arn(params, context, params["Name"]), context)
        await self._service.set_state(account, region, bus, params["Name"], enabled)
        return OperationResult({})

    async def list_rule_names_by_target(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        account, region, bus = self._where(params, context)
        self._authorize("events:ListRuleNamesByTarget", rule_arn(region, account, bus, "*"), context)
        rules = self._service.rules_by_target(account, region, bus, params["TargetArn"])
        page, output = _page(rules, params)
        return OperationResult({"RuleNames": [rule.name for rule in page], **output})

    # targets -----------------------------------------------------------------------------------
    async def put_targets(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region, bus = self._where(params, context)
        self._authorize("events:PutTargets", self._rule_arn(params, context, params["Rule"]), context)
        failed = await self._service.put_targets(account, region, bus, params["Rule"], params["Targets"])
        return OperationResult({"FailedEntryCount": len(failed), "FailedEntries": failed})

    async def remove_targets(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region, bus = self._where(params, context)
        self._authorize("events:RemoveTargets", self._rule_arn(params, context, params["Rule"]), context)
        failed = await self._service.remove_targets(account, region, bus, params["Rule"], params["Ids"])
        return OperationResult({"FailedEntryCount": len(failed), "FailedEntries": failed})

    async def list_targets_by_rule(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region, bus = self._where(params, context)
        self._authorize("events:ListTargetsByRule", self._rule_arn(params, context, params["Rule"]), context)
        rule = self._service.rule(account, region, bus, params["Rule"])
        page, output = _page(list(rule.targets), params)
        return OperationResult({"Targets": [target.wire for target in page], **output})

    # events ------------------------------------------------------------------------------------
    async def put_events(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region = context.principal.account, context.region
        for bus in {bus_name_of(entry.get("EventBusName")) for entry in params["Entries"]}:
            self._authorize("events:PutEvents", bus_arn(region, account, bus), context)
        results = await self._service.put_events(account, region, params["Entries"])
        failed = sum(1 for result in results if "ErrorCode" in result)
        return OperationResult({"FailedEntryCount": failed, "Entries": results})

    async def test_event_pattern(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        try:
            pattern = parse_pattern(params["EventPattern"])
        except InvalidPattern as error:
            raise errors.invalid_pattern(str(error)) from None
        try:
            event = json.loads(params["Event"])
        except ValueError:
            raise errors.validation("Parameter Event is not valid.") from None
        if not isinstance(event, dict):
            raise errors.validation("Parameter Event is not valid.")
        return OperationResult({"Result": pattern.matches(event)})

    # buses -------------------------------------------------------------------------------------
    async def create_event_bus(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region = context.principal.account, context.region
        arn = bus_arn(region, account, params["Name"])
        self._authorize("events:CreateEventBus", arn, context)
        bus = await self._service.create_bus(account, region, params["Name"], params.get("Description"))
        if params.get("Tags"):
            await self._service.tag(bus.arn, {tag["Key"]: tag["Value"] for tag in params["Tags"]})
        output: dict[str, Any] = {"EventBusArn": bus.arn}
        if bus.description is not None:
            output["Description"] = bus.description
        return OperationResult(output)

    async def delete_event_bus(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region = context.principal.account, context.region
        arn = bus_arn(region, account, params["Name"])
        self._authorize("events:DeleteEventBus", arn, context)
        await self._service.delete_bus(account, region, params["Name"])
        return OperationResult({})

    async def describe_event_bus(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region, name = self._where({"EventBusName": params.get("Name")}, context)
        self._authorize("events:DescribeEventBus", bus_arn(region, account, name), context)
        return OperationResult(_bus(self._service.bus(account, region, name)))

    async def list_event_buses(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region = context.principal.account, context.region
        self._authorize("events:ListEventBuses", bus_arn(region, account, "*"), context)
        page, output = _page(self._service.buses(account, region, params.get("NamePrefix") or ""), params)
        return OperationResult({"EventBuses": [_bus(bus) for bus in page], **output})

    # tags --------------------------------------------------------------------------------------
    async def tag_resource(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        self._authorize("events:TagResource", params["ResourceARN"], context)
        await self._service.tag(params["ResourceARN"], {tag["Key"]: tag["Value"] for tag in params["Tags"]})
        return OperationResult({})

    async def untag_resource(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        self._authorize("events:UntagResource", params["ResourceARN"], context)
        await self._service.untag(params["ResourceARN"], params["TagKeys"])
        return OperationResult({})

    async def list_tags_for_resource(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        self._authorize("events:ListTagsForResource", params["ResourceARN"], context)
        tags = await self._service.tags(params["ResourceARN"])
        return OperationResult(
            {"Tags": [{"Key": key, "Value": value} for key, value in sorted(tags.items())]}
        )


def _bus(bus: EventBus) -> dict[str, Any]:
    output: dict[str, Any] = {"Name": bus.name, "Arn": bus.arn}
    if bus.description is not None:
        output["Description"] = bus.description
    if bus.created_at:
        output["CreationTime"] = datetime.fromtimestamp(bus.created_at, UTC)
        output["LastModifiedTime"] = datetime.fromtimestamp(bus.modified_at, UTC)
    return output


def _page(items: Sequence[T], params: dict[str, Any]) -> tuple[list[T], dict[str, Any]]:
    return paging.page(
        items,
        params.get("NextToken"),
        params.get("Limit") or _DEFAULT_PAGE,
        lambda: errors.validation("The NextToken provided is invalid."),
    )
