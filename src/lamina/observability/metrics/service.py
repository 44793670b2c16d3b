"""The CloudWatch metrics API of one account (CloudWatch API reference): PutMetricData,
GetMetricStatistics, GetMetricData with metric math, ListMetrics."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable
from typing import Any

from lamina.domain.metrics.aggregate import BASIC_STATISTICS, percentile_of
from lamina.domain.metrics.expressions import ExpressionError, evaluate
from lamina.domain.metrics.series import MetricKey, dimensions_of
from lamina.errors import AwsError
from lamina.observability.logs.names import encode_token, token_offset
from lamina.observability.metrics.recorder import MetricRecorder

MAX_DATAPOINTS = 1440
# GetMetricData's MaxDatapoints default (CloudWatch API reference): the most points one call answers.
METRIC_DATA_POINTS = 100_800
MAX_METRIC_DATA_POINTS = 100_800
LIST_PAGE = 500
PAST_LIMIT_SECONDS = 14 * 86_400
FUTURE_LIMIT_SECONDS = 2 * 3600
RECENTLY_ACTIVE_SECONDS = 3 * 3600

METRIC_OPERATIONS = ("PutMetricData", "GetMetricStatistics", "GetMetricData", "ListMetrics")


def invalid_value(message: str) -> AwsError:
    return AwsError("InvalidParameterValue", message, 400)


def invalid_next_token() -> AwsError:
    return AwsError(
        "InvalidNextToken", "The service couldn't process your request because the NextToken is invalid.", 400
    )


def invalid_combination(message: str) -> AwsError:
    return AwsError("InvalidParameterCombination", message, 400)


def missing(message: str) -> AwsError:
    return AwsError("MissingParameter", message, 400)


def epoch(value: Any) -> float:
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=datetime.UTC)
        return moment.timestamp()
    return float(value)


def check_period(period: int, name: str = "Period") -> None:
    if period < 60 or period % 60:
        raise invalid_value(f"The parameter {name} must be a multiple of 60.")


class MetricsService:
    def __init__(self, recorder: MetricRecorder) -> None:
        self.recorder = recorder

    # PutMetricData -------------------------------------------------------------------------
    async def put_metric_data(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        namespace = params["Namespace"]
        if namespace.startswith("AWS/"):
            raise invalid_value(f"The value {namespace} for parameter Namespace is invalid.")
        data = params.get("MetricData") or []
        if not data:
            raise missing("The parameter MetricData is required.")
        now = self.recorder.clock.now()
        prepared = []
        for index, datum in enumerate(data, start=1):
            where = f"MetricData.member.{index}"
            moment = epoch(datum["Timestamp"]) if datum.get("Timestamp") is not None else now
            if moment < now - PAST_LIMIT_SECONDS or moment > now + FUTURE_LIMIT_SECONDS:
                raise invalid_value(
                    f"The parameter {where}.Timestamp must specify a time no more than two weeks in the past "
                    "or two hours in the future."
                )
            prepared.append((datum, moment, where))
        for datum, moment, where in prepared:
            self._record_datum(namespace, datum, moment, where)
        return {}

    def _record_datum(self, namespace: str, datum: dict[str, Any], moment: float, where: str) -> None:
        key = MetricKey(namespace, datum["MetricName"], dimensions_of(datum.get("Dimensions")))
        unit = datum.get("Unit")
        given = [name for name in ("Value", "StatisticValues", "Values") if datum.get(name) is not None]
        if len(given) > 1:
            raise invalid_combination(
                f"The parameters {where}.{given[0]} and {where}.{given[1]} are mutually exclusive."
            )
        if datum.get("Value") is not None:
            self.recorder.record(key, _finite(datum["Value"], f"{where}.Value"), unit=unit, timestamp=moment)
        elif datum.get("StatisticValues") is not None:
            stats = datum["StatisticValues"]
            self.recorder.record_statistics(
                key,
                _finite(stats["SampleCount"], f"{where}.StatisticValues.SampleCount"),
                _finite(stats["Sum"], f"{where}.StatisticValues.Sum"),
                _finite(stats["Minimum"], f"{where}.StatisticValues.Minimum"),
                _finite(stats["Maximum"], f"{where}.StatisticValues.Maximum"),
                unit=unit,
                timestamp=moment,
            )
        elif datum.get("Values") is not None:
            values = datum["Values"]
            counts = datum.get("Counts") or [1.0] * len(values)
            if len(counts) != len(values):
                raise invalid_combination(
                    f"The parameters {where}.Values and {where}.Counts must be of the same size."
                )
            for value, count in zip(values, counts, strict=True):
                self.recorder.record(
                    key, _finite(value, f"{where}.Values"), unit=unit, timestamp=moment, count=count
                )
        else:
            raise missing(f"The parameter {where}.Value is required.")

    # GetMetricStatistics -------------------------------------------------------------------
    async def get_metric_statistics(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        statistics = params.get("Statistics") or []
        extended = params.get("ExtendedStatistics") or []
        if not statistics and not extended:
            raise missing("Must specify either Statistics or ExtendedStatistics.")
        if statistics and extended:
            raise invalid_combination(
                "The parameters Statistics and ExtendedStatistics are mutually exclusive."
            )
        for name in extended:
            if percentile_of(name) is None:
                raise invalid_value(f"The value {name} for parameter ExtendedStatistics is not supported.")
        period = params["Period"]
        check_period(period)
        start, end = int(epoch(params["StartTime"])), int(epoch(params["EndTime"]))
        if end <= start:
            raise invalid_value("The parameter StartTime must be less than the parameter EndTime.")
        requested = math.ceil((end - start) / period)
        if requested > MAX_DATAPOINTS:
            raise invalid_combination(
                f"You have requested up to {requested:,} datapoints, which exceeds the limit of {MAX_DATAPOINTS:,}. "
                "You may reduce the datapoints requested by increasing Period, or decreasing the time range."
            )
        key = MetricKey(params["Namespace"], params["MetricName"], dimensions_of(params.get("Dimensions")))
        aggregates = await self.recorder.read(key, period, start, end)
        unit = params.get("Unit") or await self._unit(key) or "None"
        datapoints = []
        for begin in sorted(aggregates):
            aggregate = aggregates[begin]
            point: dict[str, Any] = {
                "Timestamp": datetime.datetime.fromtimestamp(begin, datetime.UTC),
                "Unit": unit,
            }
            for name in statistics:
                point[name] = aggregate.statistic(name)
            if extended:
                point["ExtendedStatistics"] = {name: aggregate.statistic(name) for name in extended}
            datapoints.append(point)
        return {"Label": params["MetricName"], "Datapoints": datapoints}

    async def _unit(self, key: MetricKey) -> str | None:
        for listed in await self.recorder.metrics(key.namespace, key.name):
            if listed.key == key:
                return listed.unit
        return None

    # GetMetricData -------------------------------------------------------------------------
    async def get_metric_data(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        queries = params["MetricDataQueries"]
        start, end = int(epoch(params["StartTime"])), int(epoch(params["EndTime"]))
        if end <= start:
            raise invalid_value("The parameter StartTime must be less than the parameter EndTime.")
        ids = [query["Id"] for query in queries]
        if len(set(ids)) != len(ids):
            raise invalid_value("The values for parameter id in MetricDataQueries are not unique.")
        series: dict[str, dict[int, float]] = {}
        stat_ids: list[str] = []
        periods: list[int] = []
        for query in queries:
            stat = query.get("MetricStat")
            if (stat is None) == (query.get("Expression") is None):
                raise invalid_value(
                    f"The query {query['Id']} must contain exactly one of MetricStat and Expression."
                )
            if stat is None:
                continue
            check_period(stat["Period"], "MetricStat.Period")
            periods.append(stat["Period"])
            metric = stat["Metric"]
            key = MetricKey(
                metric["Namespace"], metric["MetricName"], dimensions_of(metric.get("Dimensions"))
            )
            if stat["Stat"] not in BASIC_STATISTICS and percentile_of(stat["Stat"]) is None:
                raise invalid_value(f"The value {stat['Stat']} for parameter Stat is not supported.")
            aggregates = await self.recorder.read(key, stat["Period"], start, end)
            series[query["Id"]] = {
                begin: value
                for begin, aggregate in aggregates.items()
                if (value := aggregate.statistic(stat["Stat"])) is not None
            }
            stat_ids.append(query["Id"])
        default_period = min(periods) if periods else 60
        ascending = params.get("ScanBy") == "TimestampAscending"
        partial: set[str] = set()
        for query in queries:
            expression = query.get("Expression")
            if expression is None:
                continue
            period = query.get("Period") or default_period
            first = start - start % period
            # An expression is evaluated at every period of the range: at most MaxDatapoints of
            # them (the newest, or the oldest with TimestampAscending), as GetMetricData answers
            # at most that many, marking the result PartialData.
            limit = params.get("MaxDatapoints") or METRIC_DATA_POINTS
            count = -(-(end - first) // period)
            last = end
            if count > limit:
                partial.add(query["Id"])
                if ascending:
                    last = first + limit * period
                else:
                    first += (count - limit) * period
            timestamps = list(range(first, last, period))
            try:
                series[query["Id"]] = evaluate(expression, series, stat_ids, timestamps)
            except ExpressionError as error:
                raise invalid_value(f"Error in expression {query['Id']}: {error}") from None
        results = []
        for query in queries:
            if query.get("ReturnData") is False:
                continue
            points = sorted(series.get(query["Id"], {}).items(), reverse=not ascending)
            label = query.get("Label") or (
                query["MetricStat"]["Metric"]["MetricName"] if query.get("MetricStat") else query["Id"]
            )
            results.append(
                {
                    "Id": query["Id"],
                    "Label": label,
                    "Timestamps": [
                        datetime.datetime.fromtimestamp(stamp, datetime.UTC) for stamp, _ in points
                    ],
                    "Values": [value for _, value in points],
                    "StatusCode": "PartialData" if query["Id"] in partial else "Complete",
                }
            )
        return {"MetricDataResults": results, "Messages": []}

    # ListMetrics ---------------------------------------------------------------------------
    async def list_metrics(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        listed = await self.recorder.metrics(params.get("Namespace"), params.get("MetricName"))
        filters = params.get("Dimensions") or []
        recent = params.get("RecentlyActive") == "PT3H"
        now = self.recorder.clock.now()
        keys = sorted(
            (
                item.key
                for item in listed
                if _matches_filters(item.key, filters)
                and (not recent or item.last_seen >= now - RECENTLY_ACTIVE_SECONDS)
            ),
            key=lambda key: (key.namespace, key.name, key.dimensions),
        )
        start = token_offset(params.get("NextToken"), invalid_next_token)
        page = keys[start : start + LIST_PAGE]
        output: dict[str, Any] = {
            "Metrics": [
                {"Namespace": key.namespace, "MetricName": key.name, "Dimensions": key.dimension_list()}
                for key in page
            ]
        }
        if start + LIST_PAGE < len(keys):
            output["NextToken"] = encode_token(start + LIST_PAGE)
        return output


def _matches_filters(key: MetricKey, filters: Iterable[dict[str, Any]]) -> bool:
    dimensions = dict(key.dimensions)
    for item in filters:
        if item["Name"] not in dimensions:
            return False
        if item.get("Value") is not None and dimensions[item["Name"]] != item["Value"]:
            return False
    return True


def _finite(value: Any, where: str) -> float:
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise invalid_value(f"The value {value} for parameter {where} is invalid.")
    return number
