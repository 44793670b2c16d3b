"""Metric filters: log events matching a pattern become metric datapoints (CloudWatch Logs:
PutMetricFilter, DescribeMetricFilters, DeleteMetricFilter, TestMetricFilter) — the classic
"count the lines that say `error: invalid`".

A transformation's metricValue is a number or a field the pattern reads (`$.latency` in JSON
events, `$bytes` in space-delimited ones); its dimensions map names to such fields. A batch of
appended events in which nothing matched records defaultValue, when there is one. Datapoints carry
the events' own timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lamina.domain.log_patterns import FilterPattern
from lamina.domain.metrics.series import MetricKey
from lamina.errors import AwsError
from lamina.observability.logs.names import encode_token, invalid, token_offset
from lamina.observability.logs.service import DEFAULT_DESCRIBE_LIMIT, LogsService, compile_filter, not_found
from lamina.observability.metrics.recorder import MetricRecorder

MAX_FILTERS_PER_GROUP = 100
METRIC_FILTER_OPERATIONS = (
    "PutMetricFilter",
    "DescribeMetricFilters",
    "DeleteMetricFilter",
    "TestMetricFilter",
)


@dataclass(frozen=True, slots=True)
class _Transformation:
    name: str
    namespace: str
    value: str
    default: float | None
    dimensions: dict[str, str]
    unit: str | None


@dataclass(frozen=True, slots=True)
class _Filter:
    pattern: FilterPattern
    transformations: tuple[_Transformation, ...]


def _transformations(specs: list[dict[str, Any]]) -> tuple[_Transformation, ...]:
    return tuple(
        _Transformation(
            spec["metricName"],
            spec["metricNamespace"],
            spec["metricValue"],
            spec.get("defaultValue"),
            dict(spec.get("dimensions") or {}),
            spec.get("unit"),
        )
        for spec in specs
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class MetricFilters:
    def __init__(self, logs: LogsService, recorder: MetricRecorder) -> None:
        self._logs = logs
        self._recorder = recorder
        self._filters: dict[str, dict[str, _Filter]] = {}
        logs.on_group_deleted(self._forget_group)

    def restore(self) -> None:
        store = self._logs.store
        for group in store.list_groups():
            info = store.group_info(group)
            if info is not None and info.metric_filters:
                self._filters[group] = {
                    name: _Filter(
                        compile_filter(spec["filterPattern"]), _transformations(spec["metricTransformations"])
                    )
                    for name, spec in info.metric_filters.items()
                }
        self._retap()

    def _retap(self) -> None:
        self._logs.set_tap(
            "metric-filters", frozenset(group for group, filters in self._filters.items() if filters)
        )

    def _forget_group(self, group: str) -> None:
        if self._filters.pop(group, None) is not None:
            self._retap()

    # API -----------------------------------------------------------------------------------
    async def put_metric_filter(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        group, name = params["logGroupName"], params["filterName"]
        info = self._logs.group_info(group)
        pattern = compile_filter(params["filterPattern"])
        specs = params["metricTransformations"]
        for spec in specs:
            if spec.get("dimensions") and spec.get("defaultValue") is not None:
                raise invalid("A metric transformation with dimensions cannot have a default value.")
            if spec["metricNamespace"].startswith("AWS/"):
                raise invalid(f"Invalid metric namespace: {spec['metricNamespace']}")
        if name not in info.metric_filters and len(info.metric_filters) >= MAX_FILTERS_PER_GROUP:
            raise AwsError("LimitExceededException", "Resource limit exceeded.", 400)
        info.metric_filters[name] = {
            "filterPattern": params["filterPattern"],
            "metricTransformations": specs,
            "creationTime": self._logs.now_ms(),
        }
        self._logs.store.update_group(group, info)
        self._filters.setdefault(group, {})[name] = _Filter(pattern, _transformations(specs))
        self._retap()
        return {}

    async def describe_metric_filters(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        # Listing every group reads the logs folder: in a thread (group records are in memory).
        groups = [params["logGroupName"]] if params.get("logGroupName") else await self._logs.store.groups()
        if params.get("logGroupName"):
            self._logs.group_info(params["logGroupName"])
        prefix = params.get("filterNamePrefix") or ""
        metric_name, namespace = params.get("metricName"), params.get("metricNamespace")
        if (metric_name is None) != (namespace is None):
            raise invalid("metricName and metricNamespace must be given together.")
        rows = []
        for group in groups:
            info = self._logs.store.group_info(group)
            for name, spec in sorted((info.metric_filters if info else {}).items()):
                if not name.startswith(prefix):
                    continue
                if metric_name is not None and not any(
                    item["metricName"] == metric_name and item["metricNamespace"] == namespace
                    for item in spec["metricTransformations"]
                ):
                    continue
                rows.append(
                    {
                        "filterName": name,
                        "filterPattern": spec["filterPattern"],
                        "metricTransformations": spec["metricTransformations"],
                        "creationTime": spec["creationTime"],
                        "logGroupName": group,
                    }
                )
        start = token_offset(params.get("nextToken"))
        limit = params.get("limit") or DEFAULT_DESCRIBE_LIMIT
        output: dict[str, Any] = {"metricFilters": rows[start : start + limit]}
        if start + limit < len(rows):
            output["nextToken"] = encode_token(start + limit)
        return output

    async def delete_metric_filter(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        group, name = params["logGroupName"], params["filterName"]
        info = self._logs.group_info(group)
        if info.metric_filters.pop(name, None) is None:
            raise not_found("The specified metric filter does not exist.")
        self._logs.store.update_group(group, info)
        self._filters.get(group, {}).pop(name, None)
        self._retap()
        return {}

    async def test_metric_filter(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        pattern = compile_filter(params["filterPattern"])
        matches = []
        for number, message in enumerate(params["logEventMessages"], start=1):
            if pattern.matches(message):
                matches.append({"eventNumber": number, "eventMessage": message, "extractedValues": {}})
        return {"matches": matches}

    # applying ------------------------------------------------------------------------------
    def apply(self, appended: list[tuple[str, str, list[tuple[int, str]]]]) -> int:
        """Record the datapoints of what was appended to filtered groups; returns how many."""
        recorded = 0
        for group, _, events in appended:
            for log_filter in list(self._filters.get(group, {}).values()):
                matched = False
                for timestamp, message in events:
                    if not log_filter.pattern.matches(message):
                        continue
                    matched = True
                    for transformation in log_filter.transformations:
                        recorded += self._record(log_filter.pattern, transformation, message, timestamp)
                if not matched:
                    for transformation in log_filter.transformations:
                        if transformation.default is not None and events:
                            key = MetricKey(transformation.namespace, transformation.name)
                            self._recorder.record(
                                key,
                                transformation.default,
                                unit=transformation.unit,
                                timestamp=events[-1][0] / 1000,
                            )
                            recorded += 1
        return recorded

    def _record(
        self, pattern: FilterPattern, transformation: _Transformation, message: str, timestamp: int
    ) -> int:
        text = transformation.value
        value = _number(pattern.value(message, text)) if text.startswith("$") else _number(text)
        if value is None:
            return 0
        dimensions = []
        for name, selector in transformation.dimensions.items():
            found = pattern.value(message, selector) if selector.startswith("$") else selector
            if found is None:
                return 0
            dimensions.append((name, str(found)))
        key = MetricKey(transformation.namespace, transformation.name, tuple(sorted(dimensions)))
        self._recorder.record(key, value, unit=transformation.unit, timestamp=timestamp / 1000)
        return 1
