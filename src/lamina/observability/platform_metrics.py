"""`GET /metrics`: the platform's own state in Prometheus's text format (version 0.0.4), for
operators rather than function owners: environments by state, cold starts, invocations and
throttles, async queue depth, memory budget, and how long metric and billing writes take."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lamina.execution.environment import InvocationResult
from lamina.execution.invocation import InvocationInput


class PlatformCounters:
    """An InvocationObserver counting what the platform did (all accounts together)."""

    def __init__(self) -> None:
        self.invocations = {"success": 0, "error": 0}
        self.cold_starts = 0
        self.throttles = 0
        self.flush_seconds_sum = 0.0
        self.flush_count = 0

    def invoked(self, invocation: InvocationInput, result: InvocationResult, concurrency: int) -> None:
        self.invocations["error" if result.function_error else "success"] += 1
        if result.report.init_duration_ms is not None:
            self.cold_starts += 1

    def throttled(self, invocation: InvocationInput) -> None:
        self.throttles += 1

    def async_event(self, kind: str, function_name: str, qualifier: str | None, value: float = 1.0) -> None:
        return None

    def store_flushed(self, seconds: float) -> None:
        self.flush_seconds_sum += seconds
        self.flush_count += 1

    def to_record(self) -> dict[str, Any]:
        return {
            "invocations": dict(self.invocations),
            "cold_starts": self.cold_starts,
            "throttles": self.throttles,
            "flush_seconds_sum": self.flush_seconds_sum,
            "flush_count": self.flush_count,
        }

    def add(self, record: dict[str, Any]) -> None:
        """Another worker's counts added to these (`GET /metrics` sums every worker's)."""
        for outcome, count in record["invocations"].items():
            self.invocations[outcome] = self.invocations.get(outcome, 0) + int(count)
        self.cold_starts += int(record["cold_starts"])
        self.throttles += int(record["throttles"])
        self.flush_seconds_sum += float(record["flush_seconds_sum"])
        self.flush_count += int(record["flush_count"])


@dataclass(slots=True)
class Gauges:
    """What the pools and queues hold now."""

    environments: dict[str, int] = field(default_factory=dict)  # by state
    async_backlog: int = 0
    memory_used_mb: int = 0
    memory_budget_mb: int = 0
    accounts: int = 0
    log_records_dropped: int = 0  # since start: lines past a function's log budget
    log_bytes_dropped: int = 0

    def add(self, record: dict[str, Any]) -> None:
        """Another worker's gauges added to these; accounts are the same ones, counted once."""
        for state, count in record["environments"].items():
            self.environments[state] = self.environments.get(state, 0) + int(count)
        self.async_backlog += int(record["async_backlog"])
        self.memory_used_mb += int(record["memory_used_mb"])
        self.memory_budget_mb += int(record["memory_budget_mb"])
        self.log_records_dropped += int(record["log_records_dropped"])
        self.log_bytes_dropped += int(record["log_bytes_dropped"])


def _metric(name: str, kind: str, help_text: str, samples: Iterable[tuple[str, float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines.extend(f"{name}{labels} {value:g}" for labels, value in samples)
    return lines


def render(counters: PlatformCounters, gauges: Gauges) -> str:
    lines: list[str] = []
    lines += _metric(
        "lamina_environments",
        "gauge",
        "Execution environments by state.",
        ((f'{{state="{state}"}}', count) for state, count in sorted(gauges.environments.items())),
    )
    lines += _metric(
        "lamina_invocations_total",
        "counter",
        "Finished invocations by outcome.",
        ((f'{{outcome="{outcome}"}}', count) for outcome, count in sorted(counters.invocations.items())),
    )
    lines += _metric(
        "lamina_cold_starts_total",
        "counter",
        "Invocations that started an environment.",
        [("", counters.cold_starts)],
    )
    lines += _metric(
        "lamina_throttles_total", "counter", "Invocations refused with 429.", [("", counters.throttles)]
    )
    lines += _metric(
        "lamina_async_queue_depth",
        "gauge",
        "Accepted Event invocations not yet settled.",
        [("", gauges.async_backlog)],
    )
    lines += _metric(
        "lamina_memory_budget_used_megabytes",
        "gauge",
        "Memory charged to environments.",
        [("", gauges.memory_used_mb)],
    )
    lines += _metric(
        "lamina_memory_budget_megabytes", "gauge", "The memory budget.", [("", gauges.memory_budget_mb)]
    )
    lines += _metric("lamina_accounts", "gauge", "Accounts served.", [("", gauges.accounts)])
    lines += _metric(
        "lamina_log_records_dropped_total",
        "counter",
        "Function log lines dropped past their log budget (execution/log_budget.py).",
        [("", gauges.log_records_dropped)],
    )
    lines += _metric(
        "lamina_log_bytes_dropped_total",
        "counter",
        "Bytes of the function log lines dropped past their log budget.",
        [("", gauges.log_bytes_dropped)],
    )
    lines += _metric(
        "lamina_store_flush_seconds",
        "summary",
        "Time to write buffered metrics and billing to their stores.",
        [("_sum", counters.flush_seconds_sum), ("_count", counters.flush_count)],
    )
    return "\n".join(lines) + "\n"  # summary samples come out as name_sum / name_count


def render_nodes(agents: list[dict[str, Any]]) -> str:
    """`--cluster`: each node's environments and memory, labelled with its node id."""
    lines: list[str] = []
    for name, field_name, help_text in (
        ("lamina_node_environments", "environments", "Execution environments on a cluster node."),
        (
            "lamina_node_busy_environments",
            "busyEnvironments",
            "Busy or starting environments on a cluster node.",
        ),
        ("lamina_node_memory_used_megabytes", "memoryUsedMb", "Memory budget in use on a cluster node."),
        (
            "lamina_node_invocations_in_flight",
            "inFlight",
            "Invocations the gateway has sent to a node's agent.",
        ),
    ):
        lines.extend(
            _metric(
                name,
                "gauge",
                help_text,
                (
                    (f'{{node="{agent["nodeId"]}"}}', float(agent.get(field_name) or 0))
                    for agent in agents
                    if agent.get("ready")
                ),
            )
        )
    return "\n".join(lines) + "\n" if lines else ""
