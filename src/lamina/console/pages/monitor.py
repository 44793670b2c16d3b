"""The Monitor tab: graphs of Invocations, Duration (p50/p90/p99), Errors, Throttles and
ConcurrentExecutions over a chosen range (GetMetricData), the latest log streams
(DescribeLogStreams, GetLogEvents) and a live tail (FilterLogEvents polled by static/tail.js;
without JavaScript the tail page shows the newest events and reloads on request)."""

from __future__ import annotations

import json
import time
from typing import Any

from lamina.console import charts
from lamina.console.metrics_reads import RANGES, function_graphs
from lamina.console.pages.function_page import describe, tab_page
from lamina.console.visit import SECURITY_HEADERS, Visit
from lamina.errors import AwsError
from lamina.transport.messages import LeanResponse

__all__ = ["show", "stream", "tail", "tail_events", "tail_json"]

TAIL_WINDOW_MS = 10 * 60 * 1000  # the tail page starts with the last ten minutes
MAX_TAIL_EVENTS = 500


def log_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


async def show(visit: Visit, name: str) -> LeanResponse:
    described = await describe(visit, name)
    function = described["Configuration"]["FunctionName"]
    range_key = visit.query.get("range", "3h")
    if range_key not in RANGES:
        range_key = "3h"
    graphs: list[dict[str, Any]] = []
    refused = None
    try:
        timeline, read = await function_graphs(visit, function, range_key)
        graphs = [
            {
                "title": graph.title,
                "unit": graph.unit,
                "svg": charts.line_chart(graph.title, timeline, series, graph.unit),
                "rows": [  # the slots where something was measured
                    (moment, [item.values[index] for item in series])
                    for index, moment in enumerate(timeline)
                    if any(item.values[index] for item in series)
                ],
                "legends": [item.label for item in series],
            }
            for graph, series in read
        ]
    except AwsError as error:
        refused = error
    streams: list[dict[str, Any]] = []
    logs_refused = None
    try:
        answer = await visit.call(
            "logs",
            "DescribeLogStreams",
            {
                "logGroupName": log_group(function),
                "orderBy": "LastEventTime",
                "descending": True,
                "limit": 10,
            },
        )
        streams = answer.get("logStreams") or []
    except AwsError as error:
        if error.code != "ResourceNotFoundException":  # no log group yet: the function never ran
            logs_refused = error
    return await tab_page(
        visit,
        name,
        "monitor",
        200,
        described,
        ranges=RANGES,
        range_key=range_key,
        graphs=graphs,
        refused=refused,
        streams=streams,
        logs_refused=logs_refused,
    )


async def stream(visit: Visit, name: str) -> LeanResponse:
    described = await describe(visit, name)
    function = described["Configuration"]["FunctionName"]
    stream_name = visit.query.get("name", "")
    answer = await visit.call(
        "logs",
        "GetLogEvents",
        {
            "logGroupName": log_group(function),
            "logStreamName": stream_name,
            "startFromHead": False,
            "limit": 500,
        },
    )
    return await tab_page(
        visit,
        name,
        "monitor",
        200,
        described,
        "monitor_stream.html",
        stream=stream_name,
        events=answer.get("events") or [],
    )


async def tail_events(visit: Visit, function: str, since_ms: int) -> list[dict[str, Any]]:
    """Events of the function's log group from `since_ms` on, oldest first."""
    found: list[dict[str, Any]] = []
    token: str | None = None
    while len(found) < MAX_TAIL_EVENTS:
        params: dict[str, Any] = {"logGroupName": log_group(function), "startTime": since_ms, "limit": 1000}
        if token:
            params["nextToken"] = token
        try:
            answer = await visit.call("logs", "FilterLogEvents", params)
        except AwsError as error:
            if error.code == "ResourceNotFoundException":
                return []
            raise
        found += answer.get("events") or []
        token = answer.get("nextToken")
        if not token:
            break
    found.sort(key=lambda event: (event["timestamp"], event.get("eventId", "")))
    return found[-MAX_TAIL_EVENTS:]


async def tail(visit: Visit, name: str) -> LeanResponse:
    described = await describe(visit, name)
    function = described["Configuration"]["FunctionName"]
    events = await tail_events(visit, function, int(time.time() * 1000) - TAIL_WINDOW_MS)
    return await tab_page(
        visit,
        name,
        "monitor",
        200,
        described,
        "monitor_tail.html",
        events=events,
        since=events[-1]["timestamp"] if events else int(time.time() * 1000) - TAIL_WINDOW_MS,
    )


async def tail_json(visit: Visit, name: str) -> LeanResponse:
    """What tail.js polls: the events since `since` (ms), as JSON."""
    described = await describe(visit, name)
    try:
        since = int(visit.query.get("since", "0"))
    except ValueError:
        since = 0
    now_ms = int(time.time() * 1000)
    since = min(max(since, now_ms - TAIL_WINDOW_MS), now_ms)
    events = await tail_events(visit, described["Configuration"]["FunctionName"], since)
    body = json.dumps(
        [
            {
                "id": event.get("eventId"),
                "timestamp": event["timestamp"],
                "stream": event.get("logStreamName"),
                "message": event["message"],
            }
            for event in events
        ]
    ).encode()
    return LeanResponse(200, body, "application/json", SECURITY_HEADERS)
