"""Asynchronous (`Event`) invocations: the queued event, its retry policy, and destination records.

Rules from the Lambda developer guide ("How Lambda handles errors and retries with asynchronous
invocation", "Capturing records of asynchronous invocations"):
- function errors are retried MaximumRetryAttempts times (0–2, default 2), one minute before the
  first retry and two before the second;
- throttles and system errors are retried with exponential backoff (from 1 second up to 5
  minutes) for as long as the event is younger than MaximumEventAgeInSeconds (60–21600, default
  21600);
- an event that succeeds goes to the OnSuccess destination, one that exhausts its retries or
  outlives its maximum age to the OnFailure destination (and the function's dead-letter queue),
  as a record with requestContext, requestPayload, responseContext and responsePayload.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from lamina.domain.functions import format_last_modified

DEFAULT_MAX_RETRY_ATTEMPTS = 2
DEFAULT_MAX_EVENT_AGE_SECONDS = 21_600
FUNCTION_ERROR_RETRY_DELAYS_SECONDS = (60.0, 120.0)
THROTTLE_BACKOFF_FIRST_SECONDS = 1.0
THROTTLE_BACKOFF_MAX_SECONDS = 300.0

SUCCESS = "Success"
RETRIES_EXHAUSTED = "RetriesExhausted"
EVENT_AGE_EXCEEDED = "EventAgeExceeded"
RECURSIVE_LOOP = "RecursiveInvocationDetected"


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    """One accepted Event invocation, stored before the 202 and removed once it is settled."""

    event_id: str  # the request id the caller got
    function_name: str
    qualifier: str | None
    payload: bytes
    enqueued_at_ms: int
    client_context: str | None = None
    trace_id: str | None = None  # carries the recursion lineage of the chain it belongs to
    runs: int = 0  # attempts that ran the function
    postponements: int = 0  # attempts put off by throttling or a platform failure
    next_attempt_at_ms: int = 0

    def to_record(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "function_name": self.function_name,
            "qualifier": self.qualifier,
            "payload": base64.b64encode(self.payload).decode(),
            "enqueued_at_ms": self.enqueued_at_ms,
            "client_context": self.client_context,
            "trace_id": self.trace_id,
            "runs": self.runs,
            "postponements": self.postponements,
            "next_attempt_at_ms": self.next_attempt_at_ms,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> QueuedEvent:
        values = dict(record)
        values["payload"] = base64.b64decode(values["payload"])
        return cls(**values)

    def after_run(self, now_ms: int, retry_delays: tuple[float, ...]) -> QueuedEvent:
        """The event once the function ran for it, due again after the retry delay that run
        calls for (used only if it failed)."""
        delay = retry_delays[min(self.runs, len(retry_delays) - 1)] if retry_delays else 0.0
        return replace(self, runs=self.runs + 1, next_attempt_at_ms=now_ms + int(delay * 1000))

    def postponed(self, now_ms: int, first_backoff: float, max_backoff: float) -> QueuedEvent:
        delay = min(max_backoff, first_backoff * (2**self.postponements))
        return replace(
            self, postponements=self.postponements + 1, next_attempt_at_ms=now_ms + int(delay * 1000)
        )


@dataclass(frozen=True, slots=True)
class EventInvokeConfig:
    """PutFunctionEventInvokeConfig for one function, version or alias ($LATEST when unqualified)."""

    function_name: str
    qualifier: str
    max_retry_attempts: int = DEFAULT_MAX_RETRY_ATTEMPTS
    max_event_age_seconds: int = DEFAULT_MAX_EVENT_AGE_SECONDS
    on_success: str | None = None
    on_failure: str | None = None
    last_modified: float = field(default_factory=lambda: datetime.now(UTC).timestamp())
    # Whether the caller set them (else the defaults apply): AWS returns only the fields that were
    # set. Records from before these flags existed show both, as they always did.
    retries_given: bool = True
    max_age_given: bool = True

    def to_api(self, function_arn: str) -> dict[str, Any]:
        output: dict[str, Any] = {"LastModified": self.last_modified, "FunctionArn": function_arn}
        if self.retries_given:
            output["MaximumRetryAttempts"] = self.max_retry_attempts
        if self.max_age_given:
            output["MaximumEventAgeInSeconds"] = self.max_event_age_seconds
        # Both destinations always, an empty object for one not set, as AWS answers.
        output["DestinationConfig"] = {
            "OnFailure": {"Destination": self.on_failure} if self.on_failure else {},
            "OnSuccess": {"Destination": self.on_success} if self.on_success else {},
        }
        return output

    def to_record(self) -> dict[str, Any]:
        return {
            "function_name": self.function_name,
            "qualifier": self.qualifier,
            "max_retry_attempts": self.max_retry_attempts,
            "max_event_age_seconds": self.max_event_age_seconds,
            "on_success": self.on_success,
            "on_failure": self.on_failure,
            "last_modified": self.last_modified,
            "retries_given": self.retries_given,
            "max_age_given": self.max_age_given,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> EventInvokeConfig:
        return cls(**record)


def default_invoke_config(function_name: str, qualifier: str) -> EventInvokeConfig:
    return EventInvokeConfig(
        function_name, qualifier, last_modified=0.0, retries_given=False, max_age_given=False
    )


def destination_record(
    event: QueuedEvent,
    function_arn: str,
    condition: str,
    *,
    status_code: int | None,
    executed_version: str | None,
    function_error: str | None,
    response_payload: bytes | None,
    now: datetime | None = None,
) -> bytes:
    """The invocation record Lambda sends to a destination, as JSON."""
    moment = now or datetime.now(UTC)
    response_context: dict[str, Any] = {}
    if status_code is not None:
        response_context["statusCode"] = status_code
    if executed_version is not None:
        response_context["executedVersion"] = executed_version
    if function_error is not None:
        response_context["functionError"] = function_error
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": format_last_modified(moment).replace("+0000", "Z"),
        "requestContext": {
            "requestId": event.event_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": event.runs,
        },
        "requestPayload": _json_or_text(event.payload),
        "responseContext": response_context,
    }
    if response_payload is not None:
        record["responsePayload"] = _json_or_text(response_payload)
    return json.dumps(record, separators=(",", ":")).encode()


def _json_or_text(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return data.decode(errors="replace")
