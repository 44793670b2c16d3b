"""What the console reads from CloudWatch (GetMetricData, as the signed-in identity, so a user
without cloudwatch:GetMetricData sees no graphs rather than someone else's numbers): each
function's invocations per hour of the last day, and a function's graphs over a chosen range."""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from typing import Any

from lamina.console.charts import Series
from lamina.console.visit import Visit

__all__ = ["GRAPHS", "RANGES", "Graph", "function_graphs", "invocations_by_function"]

NAMESPACE = "AWS/Lambda"
MAX_QUERIES = 500  # GetMetricData's limit per call
# The Monitor tab's ranges: (label, seconds, period)
RANGES = {
    "1h": ("1 hour", 3600, 60),
    "3h": ("3 hours", 3 * 3600, 300),
    "12h": ("12 hours", 12 * 3600, 900),
    "1d": ("1 day", 86400, 3600),
    "1w": ("1 week", 7 * 86400, 6 * 3600),
}


@dataclass(frozen=True, slots=True)
class Graph:
    title: str
    unit: str
    lines: tuple[tuple[str, str, str], ...]  # (legend, metric, statistic)


GRAPHS = (
    Graph("Invocations", "Count", (("Invocations", "Invocations", "Sum"),)),
    Graph(
        "Duration",
        "Milliseconds",
        (("p50", "Duration", "p50"), ("p90", "Duration", "p90"), ("p99", "Duration", "p99")),
    ),
    Graph("Errors", "Count", (("Errors", "Errors", "Sum"),)),
    Graph("Throttles", "Count", (("Throttles", "Throttles", "Sum"),)),
    Graph("ConcurrentExecutions", "Count", (("Maximum", "ConcurrentExecutions", "Maximum"),)),
)


def _timeline(end: float, seconds: int, period: int) -> list[float]:
    last = end - end % period
    return [last - period * step for step in range(seconds // period - 1, -1, -1)]


def _query(query_id: str, metric: str, stat: str, function: str | None, period: int) -> dict[str, Any]:
    dimensions = [{"Name": "FunctionName", "Value": function}] if function is not None else []
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dimensions},
            "Period": period,
            "Stat": stat,
        },
        "ReturnData": True,
    }


async def _read(
    visit: Visit, queries: list[dict[str, Any]], timeline: list[float], period: int
) -> dict[str, list[float | None]]:
    """{query id: a value per timeline slot (None where nothing was measured)}."""
    slots = {int(moment): index for index, moment in enumerate(timeline)}
    found: dict[str, list[float | None]] = {query["Id"]: [None] * len(timeline) for query in queries}
    start = datetime.datetime.fromtimestamp(timeline[0], datetime.UTC)
    end = datetime.datetime.fromtimestamp(timeline[-1] + period, datetime.UTC)
    for first in range(0, len(queries), MAX_QUERIES):
        token: str | None = None
        while True:
            params: dict[str, Any] = {
                "MetricDataQueries": queries[first : first + MAX_QUERIES],
                "StartTime": start,
                "EndTime": end,
            }
            if token:
                params["NextToken"] = token
            answer = await visit.call("cloudwatch", "GetMetricData", params)
            for result in answer.get("MetricDataResults") or []:
                values = found[result["Id"]]
                for stamp, value in zip(
                    result.get("Timestamps") or [], result.get("Values") or [], strict=False
                ):
                    slot = slots.get(int(stamp.timestamp()))
                    if slot is not None:
                        values[slot] = float(value)
            token = answer.get("NextToken")
            if not token:
                break
    return found


async def invocations_by_function(visit: Visit, names: list[str]) -> dict[str, list[float | None]]:
    """Invocations per hour over the last 24 hours, by function."""
    timeline = _timeline(time.time(), 86400, 3600)
    queries = [_query(f"f{index}", "Invocations", "Sum", name, 3600) for index, name in enumerate(names)]
    if not queries:
        return {}
    read = await _read(visit, queries, timeline, 3600)
    return {name: read[f"f{index}"] for index, name in enumerate(names)}


async def function_graphs(
    visit: Visit, function: str | None, range_key: str
) -> tuple[list[float], list[tuple[Graph, list[Series]]]]:
    """The Monitor graphs of `function` (None: the account) over `range_key` (one of RANGES)."""
    _, seconds, period = RANGES[range_key]
    timeline = _timeline(time.time(), seconds, period)
    queries = [
        _query(f"g{graph_index}l{line_index}", metric, stat, function, period)
        for graph_index, graph in enumerate(GRAPHS)
        for line_index, (_, metric, stat) in enumerate(graph.lines)
    ]
    read = await _read(visit, queries, timeline, period)
    graphs = [
        (
            graph,
            [
                Series(legend, _zero_counts(read[f"g{graph_index}l{line_index}"], stat))
                for line_index, (legend, _, stat) in enumerate(graph.lines)
            ],
        )
        for graph_index, graph in enumerate(GRAPHS)
    ]
    return timeline, graphs


def _zero_counts(values: list[float | None], stat: str) -> list[float | None]:
    """A count with nothing measured is 0 (the graph's line touches the axis); a duration stays
    unknown."""
    return [0.0 if value is None and stat == "Sum" else value for value in values]
