"""Event source mappings (CreateEventSourceMapping and the rest) for SQS queues: what each
setting accepts, the states a mapping goes through, what the API returns, and the SQS event
records a batch is delivered as (Lambda developer guide, "Using Lambda with Amazon SQS")."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lamina.errors import invalid_parameter

CREATING, ENABLING, ENABLED, UPDATING, DISABLING, DISABLED, DELETING = (
    "Creating",
    "Enabling",
    "Enabled",
    "Updating",
    "Disabling",
    "Disabled",
    "Deleting",
)
USER_INITIATED = "USER_INITIATED"
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
DEFAULT_SQS_BATCH_SIZE = 10
MAX_SQS_BATCH_SIZE = 10_000
MAX_BATCHING_WINDOW_SECONDS = 300
MIN_MAXIMUM_CONCURRENCY, MAX_MAXIMUM_CONCURRENCY = 2, 1000


@dataclass(frozen=True, slots=True)
class EventSourceMapping:
    uuid: str
    function_name: str  # the name, with ":qualifier" when the mapping names one
    function_arn: str
    event_source_arn: str
    batch_size: int = DEFAULT_SQS_BATCH_SIZE
    batching_window: int = 0
    enabled: bool = True
    state: str = CREATING
    last_modified: float = 0.0
    filters: tuple[str, ...] = ()  # FilterCriteria patterns, as given
    response_types: tuple[str, ...] = ()
    maximum_concurrency: int | None = None
    mapping_arn: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def settled_state(self) -> str:
        return ENABLED if self.enabled else DISABLED

    def to_output(self) -> dict[str, Any]:
        output: dict[str, Any] = {
            "UUID": self.uuid,
            "BatchSize": self.batch_size,
            "MaximumBatchingWindowInSeconds": self.batching_window,
            "EventSourceArn": self.event_source_arn,
            "FunctionArn": self.function_arn,
            "LastModified": datetime.datetime.fromtimestamp(self.last_modified, datetime.UTC),
            "State": self.state,
            "StateTransitionReason": USER_INITIATED,
            "FunctionResponseTypes": list(self.response_types),
            "EventSourceMappingArn": self.mapping_arn,
        }
        if self.filters:
            output["FilterCriteria"] = {"Filters": [{"Pattern": pattern} for pattern in self.filters]}
        if self.maximum_concurrency is not None:
            output["ScalingConfig"] = {"MaximumConcurrency": self.maximum_concurrency}
        return output

    def to_record(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "function": self.function_name,
            "function_arn": self.function_arn,
            "source": self.event_source_arn,
            "batch": self.batch_size,
            "window": self.batching_window,
            "enabled": self.enabled,
            "state": self.state,
            "modified": self.last_modified,
            "filters": list(self.filters),
            "responses": list(self.response_types),
            "concurrency": self.maximum_concurrency,
            "arn": self.mapping_arn,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> EventSourceMapping:
        return cls(
            str(record["uuid"]),
            str(record["function"]),
            str(record["function_arn"]),
            str(record["source"]),
            int(record["batch"]),
            int(record["window"]),
            bool(record["enabled"]),
            str(record["state"]),
            float(record["modified"]),
            tuple(record.get("filters") or ()),
            tuple(record.get("responses") or ()),
            record.get("concurrency"),
            str(record.get("arn") or ""),
            dict(record.get("tags") or {}),
        )

    def settled(self) -> EventSourceMapping:
        """The state a transition ends in (Creating/Enabling/Updating → Enabled, Disabling → Disabled)."""
        return replace(self, state=self.settled_state)


def check_settings(
    batch_size: int, batching_window: int, response_types: Sequence[str], concurrency: int | None
) -> None:
    """SQS mappings' limits, in Lambda's words."""
    if not 1 <= batch_size <= MAX_SQS_BATCH_SIZE:
        bound = (
            "greater than or equal to 1" if batch_size < 1 else f"less than or equal to {MAX_SQS_BATCH_SIZE}"
        )
        raise invalid_parameter(
            f"1 validation error detected: Value '{batch_size}' at 'batchSize' failed to satisfy constraint: "
            f"Member must have value {bound}"
        )
    if not 0 <= batching_window <= MAX_BATCHING_WINDOW_SECONDS:
        bound = (
            "greater than or equal to 0"
            if batching_window < 0
            else f"less than or equal to {MAX_BATCHING_WINDOW_SECONDS}"
        )
        raise invalid_parameter(
            f"1 validation error detected: Value '{batching_window}' at 'maximumBatchingWindowInSeconds' failed "
            f"to satisfy constraint: Member must have value {bound}"
        )
    if batch_size > 10 and batching_window < 1:
        raise invalid_parameter(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
        )
    for response_type in response_types:
        if response_type != REPORT_BATCH_ITEM_FAILURES:
            raise invalid_parameter(f"Unsupported FunctionResponseType: {response_type}")
    if concurrency is not None and not MIN_MAXIMUM_CONCURRENCY <= concurrency <= MAX_MAXIMUM_CONCURRENCY:
        raise invalid_parameter(
            f"1 validation error detected: Value '{concurrency}' at 'scalingConfig.maximumConcurrency' failed to "
            f"satisfy constraint: Member must have value between {MIN_MAXIMUM_CONCURRENCY} and "
            f"{MAX_MAXIMUM_CONCURRENCY}"
        )


def sqs_record(
    message_id: str,
    receipt_handle: str,
    body: str,
    system_attributes: Mapping[str, str],
    message_attributes: Mapping[str, Mapping[str, Any]],
    md5_of_body: str,
    md5_of_attributes: str | None,
    queue_arn: str,
    region: str,
) -> dict[str, Any]:
    """One message as a Lambda SQS event record: attribute names camel-cased as AWS sends them."""
    attributes: dict[str, dict[str, Any]] = {}
    for name, value in message_attributes.items():
        entry: dict[str, Any] = {
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value.get("DataType"),
        }
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            raw = value["BinaryValue"]
            entry["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
        attributes[name] = entry
    record: dict[str, Any] = {
        "messageId": message_id,
        "receiptHandle": receipt_handle,
        "body": body,
        "attributes": dict(system_attributes),
        "messageAttributes": attributes,
        "md5OfBody": md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if md5_of_attributes is not None:
        record["md5OfMessageAttributes"] = md5_of_attributes
    return record
