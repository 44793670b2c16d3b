"""The platform lines Lambda writes around every invocation, byte for byte as AWS prints them.

Lambda developer guide, "Lambda function logs": START, END and the tab-separated REPORT line
(REPORT ends with a tab; `Init Duration` appears on cold starts only; a failed run appends
`Status` and `Error Type`). Since August 2025 AWS bills the init phase of on-demand ZIP functions,
so Billed Duration = ceil(duration + init duration) in 1 ms steps.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime


def log_stream_name(version: str, now: datetime | None = None) -> str:
    """`2024/01/31/[$LATEST]0123456789abcdef0123456789abcdef`, one per execution environment."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y/%m/%d}/[{version}]{secrets.token_hex(16)}"


def start_line(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def billed_duration_ms(duration_ms: float, init_duration_ms: float | None) -> int:
    return max(1, math.ceil(duration_ms + (init_duration_ms or 0.0)))


@dataclass(frozen=True, slots=True)
class Report:
    request_id: str
    duration_ms: float
    memory_size_mb: int
    max_memory_used_mb: int
    init_duration_ms: float | None = None
    status: str | None = None  # "timeout" | "error" | None for success
    error_type: str | None = None

    @property
    def billed_duration_ms(self) -> int:
        return billed_duration_ms(self.duration_ms, self.init_duration_ms)

    def line(self) -> str:
        fields = [
            f"REPORT RequestId: {self.request_id}",
            f"Duration: {self.duration_ms:.2f} ms",
            f"Billed Duration: {self.billed_duration_ms} ms",
            f"Memory Size: {self.memory_size_mb} MB",
            f"Max Memory Used: {self.max_memory_used_mb} MB",
        ]
        if self.init_duration_ms is not None:
            fields.append(f"Init Duration: {self.init_duration_ms:.2f} ms")
        if self.status is not None:
            fields.append(f"Status: {self.status}")
        if self.error_type is not None:
            fields.append(f"Error Type: {self.error_type}")
        return "\t".join(fields) + "\t"


def timeout_message(request_id: str, timeout_s: float) -> str:
    """AWS: `RequestId: … Error: Task timed out after 3.00 seconds` (errorType Sandbox.Timedout)."""
    return f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"
