"""The account overview: concurrency (the account's limit, what is reserved, the most in use over
the last hour), invocations and errors across functions, this month's usage and its cost next to
what AWS Lambda would charge (the billing meter), and the pricing calculator."""

from __future__ import annotations

import time
from typing import Any

from lamina.console import charts
from lamina.console.metrics_reads import function_graphs
from lamina.console.pages.functions import all_functions
from lamina.console.visit import Visit
from lamina.domain.pricing import AWS_PRICES, cost, gb_seconds, invocation_cost
from lamina.errors import AwsError
from lamina.observability.billing import month_of
from lamina.transport.messages import LeanResponse

__all__ = ["calculate", "show"]

_SHOWN_GRAPHS = ("Invocations", "Errors", "ConcurrentExecutions")


def _calculator(form: dict[str, str]) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The monthly cost of the calculator's numbers at AWS's prices, with and without the free
    tier; or what is wrong with them."""
    errors: dict[str, str] = {}
    numbers: dict[str, float] = {}
    for field, label, low, high in (
        ("memory", "Memory (MB)", 128, 10_240),
        ("duration", "Average duration (ms)", 0, 900_000),
        ("invocations", "Invocations a month", 0, 10**12),
    ):
        try:
            numbers[field] = float(form.get(field, ""))
        except ValueError:
            errors[field] = f"{label} must be a number."
            continue
        if not low <= numbers[field] <= high:
            errors[field] = f"{label} must be from {low:,} to {high:,}."
    if errors:
        return None, errors
    requests = int(numbers["invocations"])
    billed_ms = max(1, -(-numbers["duration"] // 1))  # billed in 1 ms steps
    used = gb_seconds(billed_ms * requests, numbers["memory"])
    return {
        "gb_seconds": used,
        "each": invocation_cost(int(numbers["memory"]), numbers["duration"]),
        "total": cost(requests, used, AWS_PRICES, free_tier=False).total,
        "with_free_tier": cost(requests, used, AWS_PRICES, free_tier=True).total,
    }, {}


async def _usage(visit: Visit) -> list[dict[str, Any]] | None:
    reader = visit.parts.month_usage
    if reader is None:
        return None
    month = month_of(time.time())
    rows = []
    for function, (requests, mb_ms) in sorted((await reader(visit.account_id, month)).items()):
        used = gb_seconds(mb_ms, 1)
        rows.append(
            {
                "function": function,
                "requests": requests,
                "gb_seconds": used,
                "cost": cost(requests, used, AWS_PRICES, free_tier=False).total,
            }
        )
    return rows


async def show(visit: Visit, status: int = 200, **values: Any) -> LeanResponse:
    refused = None
    settings: dict[str, Any] = {}
    try:
        settings = await visit.call("lambda", "GetAccountSettings")
    except AwsError as error:
        refused = error
    graphs: list[dict[str, Any]] = []
    peak = None
    usage = None
    usage_refused = None
    if refused is None:
        try:
            timeline, read = await function_graphs(visit, None, "1d")
            for graph, series in read:
                if graph.title in _SHOWN_GRAPHS:
                    graphs.append(
                        {
                            "title": graph.title,
                            "svg": charts.line_chart(graph.title, timeline, series, graph.unit),
                            "total": sum(value or 0 for value in series[0].values),
                        }
                    )
                if graph.title == "ConcurrentExecutions":
                    recent = [value for value in series[0].values[-1:] if value is not None]
                    peak = max(recent, default=0)
        except AwsError:
            graphs = []
        try:  # the usage of the functions the visitor may list, shown to who may read the settings
            listed = {item["FunctionName"] for item in await all_functions(visit)}
            found = await _usage(visit)
            usage = None if found is None else [row for row in found if row["function"] in listed]
        except AwsError as error:
            usage_refused = error
    totals = None
    if usage is not None:
        requests = sum(row["requests"] for row in usage)
        used = sum(row["gb_seconds"] for row in usage)
        totals = {
            "requests": requests,
            "gb_seconds": used,
            "cost": cost(requests, used, AWS_PRICES, free_tier=False).total,
            "with_free_tier": cost(requests, used, AWS_PRICES, free_tier=True).total,
        }
    return visit.page(
        "overview.html",
        status,
        settings=settings,
        refused=refused,
        graphs=graphs,
        peak=peak,
        usage=usage,
        usage_refused=usage_refused,
        totals=totals,
        month=month_of(time.time()),
        prices=AWS_PRICES,
        form=values.pop("form", {"memory": "128", "duration": "100", "invocations": "1000000"}),
        estimate=values.pop("estimate", None),
        errors=values.pop("errors", {}),
        **values,
    )


async def calculate(visit: Visit) -> LeanResponse:
    estimate, errors = _calculator(visit.form)
    return await show(visit, 400 if errors else 200, form=visit.form, estimate=estimate, errors=errors)
