"""Resources that connect sources to functions: AWS::Lambda::EventSourceMapping, ::Url,
::EventInvokeConfig, AWS::SNS::Subscription, AWS::Events::Rule, AWS::Scheduler::Schedule and
AWS::Logs::SubscriptionFilter."""

from __future__ import annotations

import json
from typing import Any

from lamina.deploy.providers.base import Created, ProviderContext, exists, unless_gone
from lamina.errors import AwsError

__all__ = [
    "EventInvokeConfigProvider",
    "EventSourceMappingProvider",
    "FunctionUrlProvider",
    "RuleProvider",
    "ScheduleProvider",
    "SubscriptionFilterProvider",
    "SubscriptionProvider",
]

_MAPPING = (
    "EventSourceArn",
    "FunctionName",
    "Enabled",
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "FilterCriteria",
    "FunctionResponseTypes",
    "ScalingConfig",
    "StartingPosition",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "BisectBatchOnFunctionError",
    "DestinationConfig",
)
_MAPPING_UPDATABLE = tuple(
    member for member in _MAPPING if member not in ("EventSourceArn", "StartingPosition")
)


class EventSourceMappingProvider:
    type_name = "AWS::Lambda::EventSourceMapping"
    replaced_by = frozenset({"EventSourceArn", "StartingPosition"})

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        params = {member: properties[member] for member in _MAPPING if member in properties}
        mapping = await context.call("lambda", "CreateEventSourceMapping", params)
        return Created(
            mapping["UUID"],
            {"Id": mapping["UUID"], "EventSourceMappingArn": mapping.get("EventSourceMappingArn", "")},
        )

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        params = {member: properties[member] for member in _MAPPING_UPDATABLE if member in properties}
        mapping = await context.call("lambda", "UpdateEventSourceMapping", {"UUID": physical_id, **params})
        return Created(
            physical_id,
            {"Id": physical_id, "EventSourceMappingArn": mapping.get("EventSourceMappingArn", "")},
        )

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await unless_gone(
            context.call("lambda", "DeleteEventSourceMapping", {"UUID": physical_id}),
            "ResourceNotFoundException",
        )


class FunctionUrlProvider:
    type_name = "AWS::Lambda::Url"
    replaced_by = frozenset({"TargetFunctionArn", "Qualifier"})

    @staticmethod
    def _params(properties: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "FunctionName": properties["TargetFunctionArn"],
            "AuthType": properties["AuthType"],
        }
        for source, target in (("Qualifier", "Qualifier"), ("Cors", "Cors"), ("InvokeMode", "InvokeMode")):
            if source in properties:
                params[target] = properties[source]
        return params

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        url = await context.call("lambda", "CreateFunctionUrlConfig", self._params(properties))
        return Created(
            url["FunctionArn"], {"FunctionArn": url["FunctionArn"], "FunctionUrl": url["FunctionUrl"]}
        )

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        url = await context.call("lambda", "UpdateFunctionUrlConfig", self._params(properties))
        return Created(physical_id, {"FunctionArn": url["FunctionArn"], "FunctionUrl": url["FunctionUrl"]})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        params = {"FunctionName": properties["TargetFunctionArn"]}
        if "Qualifier" in properties:
            params["Qualifier"] = properties["Qualifier"]
        await unless_gone(
            context.call("lambda", "DeleteFunctionUrlConfig", params), "ResourceNotFoundException"
        )


class EventInvokeConfigProvider:
    type_name = "AWS::Lambda::EventInvokeConfig"
    replaced_by = frozenset({"FunctionName", "Qualifier"})

    @staticmethod
    def _params(properties: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "FunctionName": properties["FunctionName"],
            "Qualifier": properties["Qualifier"],
        }
        for member in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig"):
            if member in properties:
                params[member] = properties[member]
        return params

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        await context.call("lambda", "PutFunctionEventInvokeConfig", self._params(properties))
        return Created(f"{properties['FunctionName']}:{properties['Qualifier']}", {})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        await context.call("lambda", "PutFunctionEventInvokeConfig", self._params(properties))
        return Created(physical_id, {})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        params = {"FunctionName": properties["FunctionName"], "Qualifier": properties["Qualifier"]}
        await unless_gone(
            context.call("lambda", "DeleteFunctionEventInvokeConfig", params), "ResourceNotFoundException"
        )


class SubscriptionProvider:
    type_name = "AWS::SNS::Subscription"
    replaced_by = frozenset({"TopicArn", "Protocol", "Endpoint"})
    _ATTRIBUTES = (
        "FilterPolicy",
        "FilterPolicyScope",
        "RawMessageDelivery",
        "RedrivePolicy",
        "DeliveryPolicy",
    )

    def _attributes(self, properties: dict[str, Any]) -> dict[str, str]:
        found = {}
        for name in self._ATTRIBUTES:
            if name in properties:
                value = properties[name]
                found[name] = (
                    json.dumps(value)
                    if isinstance(value, (dict, list))
                    else str(value).lower()
                    if isinstance(value, bool)
                    else str(value)
                )
        return found

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        params = {
            "TopicArn": properties["TopicArn"],
            "Protocol": properties["Protocol"],
            "Endpoint": properties.get("Endpoint", ""),
            "Attributes": self._attributes(properties),
            "ReturnSubscriptionArn": True,
        }
        arn = (await context.call("sns", "Subscribe", params))["SubscriptionArn"]
        return Created(arn, {"Arn": arn})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        for name, value in self._attributes(properties).items():
            await context.call(
                "sns",
                "SetSubscriptionAttributes",
                {"SubscriptionArn": physical_id, "AttributeName": name, "AttributeValue": value},
            )
        return Created(physical_id, {"Arn": physical_id})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await unless_gone(
            context.call("sns", "Unsubscribe", {"SubscriptionArn": physical_id}),
            "NotFound",
            "NotFoundException",
        )


class RuleProvider:
    type_name = "AWS::Events::Rule"
    replaced_by = frozenset({"Name", "EventBusName"})

    async def _put(
        self, context: ProviderContext, name: str, properties: dict[str, Any], previous: dict[str, Any]
    ) -> Created:
        params: dict[str, Any] = {"Name": name, "State": properties.get("State", "ENABLED")}
        for member in ("ScheduleExpression", "Description", "EventBusName", "RoleArn"):
            if member in properties:
                params[member] = properties[member]
        if "EventPattern" in properties:
            pattern = properties["EventPattern"]
            params["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        rule = await context.call("events", "PutRule", params)
        bus = {"EventBusName": properties["EventBusName"]} if "EventBusName" in properties else {}
        old_ids = {target["Id"] for target in previous.get("Targets") or []} - {
            target["Id"] for target in properties.get("Targets") or []
        }
        if old_ids:
            await context.call("events", "RemoveTargets", {"Rule": name, "Ids": sorted(old_ids), **bus})
        if properties.get("Targets"):
            answer = await context.call(
                "events", "PutTargets", {"Rule": name, "Targets": properties["Targets"], **bus}
            )
            if answer.get("FailedEntryCount"):
                raise AwsError("ValidationException", json.dumps(answer.get("FailedEntries")), 400)
        return Created(
            name if "EventBusName" not in properties else f"{properties['EventBusName']}|{name}",
            {"Arn": rule["RuleArn"]},
        )

    async def made_by(
        self, context: ProviderContext, logical_id: str, properties: dict[str, Any]
    ) -> str | None:
        if properties.get("Name"):
            return None
        name = context.physical_name(logical_id, 64)
        bus = {"EventBusName": properties["EventBusName"]} if "EventBusName" in properties else {}
        found = await exists(
            context.call("events", "DescribeRule", {"Name": name, **bus}), "ResourceNotFoundException"
        )
        if not found:
            return None
        return name if not bus else f"{properties['EventBusName']}|{name}"

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        return await self._put(
            context, str(properties.get("Name") or context.physical_name(logical_id, 64)), properties, {}
        )

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        return await self._put(context, physical_id.rpartition("|")[2], properties, previous)

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        bus, _, name = physical_id.rpartition("|")
        extra = {"EventBusName": bus} if bus else {}
        ids = [target["Id"] for target in properties.get("Targets") or []]
        if ids:
            await unless_gone(
                context.call("events", "RemoveTargets", {"Rule": name, "Ids": ids, **extra}),
                "ResourceNotFoundException",
            )
        await unless_gone(
            context.call("events", "DeleteRule", {"Name": name, **extra}), "ResourceNotFoundException"
        )


class ScheduleProvider:
    type_name = "AWS::Scheduler::Schedule"
    replaced_by = frozenset({"Name", "GroupName"})
    _MEMBERS = (
        "ScheduleExpression",
        "ScheduleExpressionTimezone",
        "FlexibleTimeWindow",
        "Target",
        "State",
        "Description",
        "StartDate",
        "EndDate",
        "GroupName",
        "KmsKeyArn",
    )

    def _params(self, name: str, properties: dict[str, Any]) -> dict[str, Any]:
        return {
            "Name": name,
            **{member: properties[member] for member in self._MEMBERS if member in properties},
        }

    async def made_by(
        self, context: ProviderContext, logical_id: str, properties: dict[str, Any]
    ) -> str | None:
        if properties.get("Name"):
            return None
        name = context.physical_name(logical_id, 64)
        group = {"GroupName": properties["GroupName"]} if "GroupName" in properties else {}
        found = await exists(
            context.call("scheduler", "GetSchedule", {"Name": name, **group}), "ResourceNotFoundException"
        )
        return name if found else None

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        name = str(properties.get("Name") or context.physical_name(logical_id, 64))
        arn = (await context.call("scheduler", "CreateSchedule", self._params(name, properties)))[
            "ScheduleArn"
        ]
        return Created(name, {"Arn": arn})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        arn = (await context.call("scheduler", "UpdateSchedule", self._params(physical_id, properties)))[
            "ScheduleArn"
        ]
        return Created(physical_id, {"Arn": arn})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        params = {
            "Name": physical_id,
            **({"GroupName": properties["GroupName"]} if "GroupName" in properties else {}),
        }
        await unless_gone(context.call("scheduler", "DeleteSchedule", params), "ResourceNotFoundException")


class SubscriptionFilterProvider:
    type_name = "AWS::Logs::SubscriptionFilter"
    replaced_by = frozenset({"LogGroupName", "FilterName"})

    def _params(self, name: str, properties: dict[str, Any]) -> dict[str, Any]:
        params = {
            "logGroupName": properties["LogGroupName"],
            "filterName": name,
            "filterPattern": properties.get("FilterPattern", ""),
            "destinationArn": properties["DestinationArn"],
        }
        if "RoleArn" in properties:
            params["roleArn"] = properties["RoleArn"]
        if "Distribution" in properties:
            params["distribution"] = properties["Distribution"]
        return params

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        name = str(properties.get("FilterName") or context.physical_name(logical_id, 512))
        await context.call("logs", "PutSubscriptionFilter", self._params(name, properties))
        return Created(name, {})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        await context.call("logs", "PutSubscriptionFilter", self._params(physical_id, properties))
        return Created(physical_id, {})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        params = {"logGroupName": properties["LogGroupName"], "filterName": physical_id}
        await unless_gone(
            context.call("logs", "DeleteSubscriptionFilter", params), "ResourceNotFoundException"
        )
