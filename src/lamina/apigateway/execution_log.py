"""An API request's execution log: the lines API Gateway writes for each step of a method's
execution, which TestInvokeMethod returns as `log` and a stage with logging on sends to the
`API-Gateway-Execution-Logs_<api-id>/<stage>` log group."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

__all__ = ["ExecutionLog"]


def _stamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")


class ExecutionLog:
    """The lines, and what the request's metrics and logs need to know of it: the stage it reached
    (None: none), the stage's logging settings, and how long the integration took."""

    def __init__(self, request_id: str, enabled: bool = True) -> None:
        """`enabled`: whether lines are kept (a stage that logs, TestInvokeMethod); callers skip
        building costly lines (bodies, header maps) when it is off."""
        self.request_id = request_id
        self.enabled = enabled
        self.lines: list[tuple[float, str]] = []
        self.stage: str | None = None
        self.logging_level: str | None = None  # the stage's loggingLevel: INFO, ERROR or OFF
        self.access_log: dict[str, Any] | None = None  # the stage's accessLogSettings
        self.integration_latency_ms: float | None = None
        self.context: dict[str, Any] = {}  # $context variables for the access log

    def add(self, message: str) -> None:
        if self.enabled:
            self.lines.append((time.time(), message))

    def text(self) -> str:
        """TestInvokeMethod's `log`: a heading line, then each line with its time."""
        body = "".join(f"{_stamp(moment)} : {message}\n" for moment, message in self.lines)
        return f"Execution log for request {self.request_id}\n{body}"

    def events(self) -> list[tuple[int, str]]:
        """(milliseconds, message) for a log stream: each line prefixed with the request id."""
        return [(int(moment * 1000), f"({self.request_id}) {message}") for moment, message in self.lines]
