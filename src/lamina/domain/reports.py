"""The platform lines Lambda writes around every invocation, byte for byte as AWS prints them.

Lambda developer guide, "Lambda function logs": START, END and the tab-separated REPORT line
(REPORT ends with a tab; `Init Duration` appears on cold starts only; a failed run appends
`Status` and `Error Type`). Since August 2025 AWS bills the init phase of on-demand ZIP functions,
so Billed Duration = ceil(duration + init duration) in 1 ms steps.
"""

from __future__ import annotations

import json
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
    # Beyond AWS, only on the lines of functions that use them: the CPUs LAMINA_CPUS chose, and
    # the most GPU memory the environment's processes held.
    cpus: float | None = None
    gpu_memory_used_mb: int | None = None

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
        if self.cpus is not None:
            fields.append(f"CPUs: {self.cpus:g}")
        if self.gpu_memory_used_mb is not None:
            fields.append(f"GPU Memory Used: {self.gpu_memory_used_mb} MB")
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


# --- JSON log format (LoggingConfig LogFormat=JSON) ---------------------------------------------------
# Lambda developer guide, "Configuring JSON and plain text log formats": with JSON, the platform's
# lines become `{"time", "type": "platform.…", "record"}` objects, all at INFO level, so a
# SystemLogLevel of WARN leaves them out.
_SYSTEM_LEVELS = {"DEBUG": 10, "INFO": 20, "WARN": 30}


def system_info_logged(system_log_level: str | None) -> bool:
    return _SYSTEM_LEVELS.get(system_log_level or "INFO", 20) <= _SYSTEM_LEVELS["INFO"]


def iso_time(moment: datetime | None = None) -> str:
    at = (moment or datetime.now(UTC)).astimezone(UTC)
    return f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond // 1000:03d}Z"


def platform_event(kind: str, record: dict[str, object]) -> str:
    return json.dumps(
        {"time": iso_time(), "type": f"platform.{kind}", "record": record}, separators=(",", ":")
    )


def init_start_record(runtime: str, initialization_type: str = "on-demand") -> dict[str, object]:
    return {"initializationType": initialization_type, "phase": "init", "runtimeVersion": f"lamina:{runtime}"}


def start_record(request_id: str, version: str) -> dict[str, object]:
    return {"requestId": request_id, "version": version}


def runtime_done_record(report: Report) -> dict[str, object]:
    record: dict[str, object] = {
        "requestId": report.request_id,
        "status": report.status or "success",
        "metrics": {"durationMs": round(report.duration_ms, 3)},
    }
    if report.error_type is not None:
        record["errorType"] = report.error_type
    return record


def report_record(report: Report) -> dict[str, object]:
    metrics: dict[str, object] = {
        "durationMs": round(report.duration_ms, 3),
        "billedDurationMs": report.billed_duration_ms,
        "memorySizeMB": report.memory_size_mb,
        "maxMemoryUsedMB": report.max_memory_used_mb,
    }
    if report.init_duration_ms is not None:
        metrics["initDurationMs"] = round(report.init_duration_ms, 3)
    if report.cpus is not None:
        metrics["cpus"] = report.cpus
    if report.gpu_memory_used_mb is not None:
        metrics["gpuMemoryUsedMB"] = report.gpu_memory_used_mb
    record: dict[str, object] = {
        "requestId": report.request_id,
        "metrics": metrics,
        "status": report.status or "success",
    }
    if report.error_type is not None:
        record["errorType"] = report.error_type
    return record
