"""SQS event source mappings: the settings' limits in Lambda's words, the stored record, the states a
transition settles in, what the API returns, and the SQS event records a batch is delivered as."""

from __future__ import annotations

import base64
import datetime
from typing import Any

import pytest

from lamina.domain.event_sources import (
    CREATING,
    DISABLED,
    DISABLING,
    ENABLED,
    ENABLING,
    UPDATING,
    EventSourceMapping,
    check_settings,
    sqs_record,
)
from lamina.errors import AwsError

QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:jobs"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:f"
MAPPING_ARN = "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:u-1"


def refusal(
    batch_size: int = 10,
    window: int = 0,
    response_types: tuple[str, ...] = (),
    concurrency: int | None = None,
) -> AwsError:
    with pytest.raises(AwsError) as raised:
        check_settings(batch_size, window, response_types, concurrency)
    assert (raised.value.code, raised.value.status) == ("InvalidParameterValueException", 400)
    return raised.value


# --------------------------------------------------------------------------- check_settings


def test_settings_within_the_limits_pass() -> None:
    check_settings(1, 0, (), None)
    check_settings(10, 0, (), None)
    check_settings(11, 1, (), None)
    check_settings(10_000, 300, ("ReportBatchItemFailures",), 1000)
    check_settings(10, 0, ["ReportBatchItemFailures"], 2)


def test_batch_size_is_at_most_10000() -> None:
    error = refusal(batch_size=10_001, window=1)
    assert error.message == (
        "1 validation error detected: Value '10001' at 'batchSize' failed to satisfy constraint: "
        "Member must have value less than or equal to 10000"
    )


def test_batch_size_is_at_least_1_in_awss_words() -> None:
    # A value under the minimum names the minimum (AWS's model validation), not the maximum.
    for size in (0, -1):
        error = refusal(batch_size=size)
        assert error.message == (
            f"1 validation error detected: Value '{size}' at 'batchSize' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1"
        )


def test_batching_window_is_at_most_300_seconds() -> None:
    error = refusal(window=301)
    assert error.message == (
        "1 validation error detected: Value '301' at 'maximumBatchingWindowInSeconds' failed "
        "to satisfy constraint: Member must have value less than or equal to 300"
    )


def test_batching_window_is_at_least_0_in_awss_words() -> None:
    error = refusal(window=-1)
    assert error.message == (
        "1 validation error detected: Value '-1' at 'maximumBatchingWindowInSeconds' failed "
        "to satisfy constraint: Member must have value greater than or equal to 0"
    )


def test_a_batch_over_10_needs_a_batching_window() -> None:
    error = refusal(batch_size=11, window=0)
    assert error.message == (
        "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
    )
    check_settings(11, 1, (), None)


def test_only_report_batch_item_failures_is_a_response_type() -> None:
    error = refusal(response_types=("ReportBatchItemFailures", "Other"))
    assert error.message == "Unsupported FunctionResponseType: Other"
    assert refusal(response_types=("reportbatchitemfailures",)).message.endswith("reportbatchitemfailures")


def test_maximum_concurrency_is_between_2_and_1000() -> None:
    for concurrency in (0, 1, 1001):
        error = refusal(concurrency=concurrency)
        assert error.message == (
            f"1 validation error detected: Value '{concurrency}' at 'scalingConfig.maximumConcurrency' "
            "failed to satisfy constraint: Member must have value between 2 and 1000"
        )
    check_settings(10, 0, (), 2)
    check_settings(10, 0, (), 1000)


# --------------------------------------------------------------------------- the mapping


def full_mapping(**changes: Any) -> EventSourceMapping:
    values: dict[str, Any] = {
        "uuid": "u-1",
        "function_name": "f:live",
        "function_arn": FUNCTION_ARN + ":live",
        "event_source_arn": QUEUE_ARN,
        "batch_size": 100,
        "batching_window": 5,
        "enabled": False,
        "state": DISABLING,
        "last_modified": 1_700_000_000.25,
        "filters": ('{"body": {"a": ["x"]}}', '{"body": {"b": [1]}}'),
        "response_types": ("ReportBatchItemFailures",),
        "maximum_concurrency": 7,
        "mapping_arn": MAPPING_ARN,
        "tags": {"team": "blue"},
    }
    values.update(changes)
    return EventSourceMapping(**values)


def test_defaults() -> None:
    mapping = EventSourceMapping("u", "f", FUNCTION_ARN, QUEUE_ARN)
    assert (mapping.batch_size, mapping.batching_window, mapping.enabled, mapping.state) == (
        10,
        0,
        True,
        CREATING,
    )
    assert (mapping.filters, mapping.response_types, mapping.maximum_concurrency, mapping.tags) == (
        (),
        (),
        None,
        {},
    )


def test_record_round_trip() -> None:
    for mapping in (full_mapping(), EventSourceMapping("u", "f", FUNCTION_ARN, QUEUE_ARN)):
        record = mapping.to_record()
        assert EventSourceMapping.from_record(record) == mapping
        # The record is plain data (it goes to the metadata store as JSON).
        assert all(not isinstance(value, tuple) for value in record.values())


def test_from_record_tolerates_missing_optional_fields() -> None:
    record = full_mapping().to_record()
    for key in ("filters", "responses", "concurrency", "arn", "tags"):
        del record[key]
    restored = EventSourceMapping.from_record(record)
    assert (restored.filters, restored.response_types, restored.maximum_concurrency) == ((), (), None)
    assert (restored.mapping_arn, restored.tags) == ("", {})


def test_settled_states() -> None:
    for state in (CREATING, ENABLING, UPDATING):
        assert full_mapping(state=state, enabled=True).settled().state == ENABLED
    for state in (DISABLING, UPDATING, CREATING):
        assert full_mapping(state=state, enabled=False).settled().state == DISABLED
    assert full_mapping(state=ENABLED, enabled=True).settled().state == ENABLED
    settled = full_mapping(state=DISABLING).settled()
    assert settled == full_mapping(state=DISABLED)


def test_output_with_every_setting() -> None:
    output = full_mapping().to_output()
    assert output == {
        "UUID": "u-1",
        "BatchSize": 100,
        "MaximumBatchingWindowInSeconds": 5,
        "EventSourceArn": QUEUE_ARN,
        "FunctionArn": FUNCTION_ARN + ":live",
        "LastModified": datetime.datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=datetime.UTC),
        "State": DISABLING,
        "StateTransitionReason": "USER_INITIATED",
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "EventSourceMappingArn": MAPPING_ARN,
        "FilterCriteria": {
            "Filters": [{"Pattern": '{"body": {"a": ["x"]}}'}, {"Pattern": '{"body": {"b": [1]}}'}]
        },
        "ScalingConfig": {"MaximumConcurrency": 7},
    }


def test_output_leaves_out_filter_criteria_and_scaling_config_when_not_set() -> None:
    output = full_mapping(filters=(), maximum_concurrency=None, response_types=()).to_output()
    assert "FilterCriteria" not in output
    assert "ScalingConfig" not in output
    assert output["FunctionResponseTypes"] == []
    assert output["LastModified"].tzinfo is datetime.UTC


# --------------------------------------------------------------------------- SQS event records


def test_an_sqs_record_has_awss_field_names() -> None:
    record = sqs_record(
        "059f36b4-87a3-44ab-83d2-661975830a7d",
        "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "Test message.",
        {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1545082649183",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185",
        },
        {},
        "e4e68fb7bd0e697a0ae8f1bb342846b3",
        None,
        QUEUE_ARN,
        "us-east-1",
    )
    assert record == {
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": "Test message.",
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1545082649183",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185",
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }
    assert "md5OfMessageAttributes" not in record


def test_message_attributes_are_camel_cased_with_binary_values_in_base64() -> None:
    record = sqs_record(
        "m",
        "h",
        "b",
        {},
        {
            "Author": {"DataType": "String", "StringValue": "alice"},
            "Count": {"DataType": "Number", "StringValue": "3"},
            "Blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
            "Encoded": {"DataType": "Binary.custom", "BinaryValue": "AAH/"},
        },
        "md5-body",
        "md5-attributes",
        QUEUE_ARN,
        "eu-west-1",
    )
    assert record["md5OfMessageAttributes"] == "md5-attributes"
    assert record["awsRegion"] == "eu-west-1"
    assert record["messageAttributes"] == {
        "Author": {
            "stringValue": "alice",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "Count": {
            "stringValue": "3",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Number",
        },
        "Blob": {
            "binaryValue": base64.b64encode(b"\x00\x01\xff").decode(),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
        "Encoded": {
            "binaryValue": "AAH/",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary.custom",
        },
    }


def test_a_record_copies_the_attributes_it_is_given() -> None:
    system = {"ApproximateReceiveCount": "1"}
    record = sqs_record("m", "h", "b", system, {}, "md5", None, QUEUE_ARN, "us-east-1")
    system["ApproximateReceiveCount"] = "2"
    assert record["attributes"] == {"ApproximateReceiveCount": "1"}
