"""AWS::Logs::MetricFilter and AWS::CloudWatch::Alarm."""

from __future__ import annotations

from typing import Any

from lamina.deploy.providers.base import Created, ProviderContext
from lamina.errors import AwsError

__all__ = ["AlarmProvider", "MetricFilterProvider"]

_ALARM = (
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
)


class MetricFilterProvider:
    type_name = "AWS::Logs::MetricFilter"
    replaced_by = frozenset({"LogGroupName", "FilterName"})

    @staticmethod
    def _params(name: str, properties: dict[str, Any]) -> dict[str, Any]:
        transformations = [
            {key[:1].lower() + key[1:]: value for key, value in transformation.items()}
            for transformation in properties.get("MetricTransformations") or []
        ]
        return {
            "logGroupName": properties["LogGroupName"],
            "filterName": name,
            "filterPattern": properties.get("FilterPattern", ""),
            "metricTransformations": transformations,
        }

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        name = str(properties.get("FilterName") or context.physical_name(logical_id, 512))
        await context.call("logs", "PutMetricFilter", self._params(name, properties))
        return Created(name, {})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        await context.call("logs", "PutMetricFilter", self._params(physical_id, properties))
        return Created(physical_id, {})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        try:
            await context.call(
                "logs",
                "DeleteMetricFilter",
                {"logGroupName": properties["LogGroupName"], "filterName": physical_id},
            )
        except AwsError as error:
            if error.code != "ResourceNotFoundException":
                raise


class AlarmProvider:
    type_name = "AWS::CloudWatch::Alarm"
    replaced_by = frozenset({"AlarmName"})

    @staticmethod
    def _params(name: str, properties: dict[str, Any]) -> dict[str, Any]:
        return {
            "AlarmName": name,
            **{member: properties[member] for member in _ALARM if member in properties},
        }

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        name = str(properties.get("AlarmName") or context.physical_name(logical_id, 255))
        await context.call("cloudwatch", "PutMetricAlarm", self._params(name, properties))
        return Created(name, {"Arn": f"arn:aws:cloudwatch:{context.region}:{context.account}:alarm:{name}"})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        await context.call("cloudwatch", "PutMetricAlarm", self._params(physical_id, properties))
        return Created(
            physical_id, {"Arn": f"arn:aws:cloudwatch:{context.region}:{context.account}:alarm:{physical_id}"}
        )

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await context.call("cloudwatch", "DeleteAlarms", {"AlarmNames": [physical_id]})
