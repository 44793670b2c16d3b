"""Queue names and attributes as SQS accepts them (Amazon SQS API Reference, CreateQueue and
SetQueueAttributes; Developer Guide, "Amazon SQS dead-letter queues")."""

from __future__ import annotations

import json

import pytest

from lamina.domain.queues.attributes import (
    SETTABLE,
    check_name,
    checked,
    parse_queue_arn,
    queue_arn,
    redrive_of,
)
from lamina.errors import AwsError

DLQ = "arn:aws:sqs:us-east-1:111111111111:dead"


def _code(error: AwsError) -> tuple[str, str, int]:
    return error.code, error.headers["x-amzn-query-error"], error.status


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["a", "A", "0", "orders", "my-queue_2", "a" * 80, "-_-"])
def test_standard_names(name: str) -> None:
    check_name(name, False)


@pytest.mark.parametrize(
    "name",
    ["", "a" * 81, "my.queue", "orders.fifo", "my queue", "queue/1", "é", "queue\n", "q:1", "q*"],
)
def test_standard_names_refused(name: str) -> None:
    with pytest.raises(AwsError) as caught:
        check_name(name, False)
    assert _code(caught.value) == ("InvalidParameterValue", "InvalidParameterValue;Sender", 400)


@pytest.mark.parametrize("name", ["a.fifo", "orders.fifo", "my-queue_2.fifo", "a" * 75 + ".fifo"])
def test_fifo_names(name: str) -> None:
    check_name(name, True)


@pytest.mark.parametrize(
    "name",
    [
        "orders",  # no suffix
        ".fifo",  # nothing before it
        "a" * 76 + ".fifo",  # 81 characters
        "orders.FIFO",
        "orders.fifo.fifo",
        "orders.fifo\n",
        "my.orders.fifo",
        "orders_fifo",
    ],
)
def test_fifo_names_refused(name: str) -> None:
    with pytest.raises(AwsError) as caught:
        check_name(name, True)
    assert caught.value.code == "InvalidParameterValue"
    assert ".fifo" in caught.value.message


# --------------------------------------------------------------------------- checked: names


@pytest.mark.parametrize("name", ["Visibility", "visibilitytimeout", "QueueArn", "All", "", "Tags"])
def test_unknown_and_read_only_attribute_names_are_refused(name: str) -> None:
    with pytest.raises(AwsError) as caught:
        checked({name: "1"}, fifo=False, creating=True)
    assert _code(caught.value) == ("InvalidAttributeName", "InvalidAttributeName;Sender", 400)
    assert name in caught.value.message


def test_fifo_queue_is_set_only_when_creating() -> None:
    assert checked({"FifoQueue": "true"}, fifo=True, creating=True) == {"FifoQueue": "true"}
    for fifo in (False, True):
        with pytest.raises(AwsError) as caught:
            checked({"FifoQueue": "true"}, fifo=fifo, creating=False)
        assert caught.value.code == "InvalidAttributeName"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ContentBasedDeduplication", "true"),
        ("DeduplicationScope", "messageGroup"),
        ("FifoThroughputLimit", "perMessageGroupId"),
    ],
)
def test_fifo_only_attributes(name: str, value: str) -> None:
    assert checked({name: value}, fifo=True, creating=True) == {name: value}
    assert checked({name: value}, fifo=True, creating=False) == {name: value}
    for creating in (False, True):
        with pytest.raises(AwsError) as caught:
            checked({name: value}, fifo=False, creating=creating)
        assert _code(caught.value) == ("InvalidAttributeName", "InvalidAttributeName;Sender", 400)


def test_every_settable_attribute_is_known() -> None:
    assert {
        "DelaySeconds",
        "MaximumMessageSize",
        "MessageRetentionPeriod",
        "ReceiveMessageWaitTimeSeconds",
        "VisibilityTimeout",
        "KmsDataKeyReusePeriodSeconds",
        "KmsMasterKeyId",
        "Policy",
        "RedrivePolicy",
        "RedriveAllowPolicy",
        "SqsManagedSseEnabled",
        "FifoQueue",
        "ContentBasedDeduplication",
        "DeduplicationScope",
        "FifoThroughputLimit",
    } == set(SETTABLE)


# --------------------------------------------------------------------------- checked: values


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("DelaySeconds", 0, 900),
        ("MaximumMessageSize", 1024, 262_144),
        ("MessageRetentionPeriod", 60, 1_209_600),
        ("ReceiveMessageWaitTimeSeconds", 0, 20),
        ("VisibilityTimeout", 0, 43_200),
        ("KmsDataKeyReusePeriodSeconds", 60, 86_400),
    ],
)
def test_numbers_within_their_range_are_kept_and_outside_it_refused(name: str, low: int, high: int) -> None:
    for value in (low, high, (low + high) // 2):
        assert checked({name: str(value)}, fifo=False, creating=True) == {name: str(value)}
    for value in (low - 1, high + 1):
        with pytest.raises(AwsError) as caught:
            checked({name: str(value)}, fifo=False, creating=True)
        assert _code(caught.value) == ("InvalidAttributeValue", "InvalidAttributeValue;Sender", 400)
        assert name in caught.value.message


def test_numbers_are_stored_in_canonical_form() -> None:
    assert checked({"VisibilityTimeout": "030", "DelaySeconds": "0000"}, fifo=False, creating=True) == {
        "VisibilityTimeout": "30",
        "DelaySeconds": "0",
    }


@pytest.mark.parametrize(
    "value",
    ["", "abc", "1.5", "1e3", " 30", "30 ", "+30", "-", "--5", "0x10", "\u00b2", "\u2460", "3\u00b9"],
)
def test_numbers_that_are_not_integers_are_invalid_values(value: str) -> None:
    """Every malformed number is the caller's InvalidAttributeValue, never an unexpected error
    ("²" and "--5" pass str.isdigit() after lstrip("-") but are not integers to int())."""
    with pytest.raises(AwsError) as caught:
        checked({"VisibilityTimeout": value}, fifo=False, creating=True)
    assert _code(caught.value) == ("InvalidAttributeValue", "InvalidAttributeValue;Sender", 400)


@pytest.mark.parametrize(
    ("value", "stored"), [("true", "true"), ("false", "false"), ("TRUE", "true"), ("False", "false")]
)
def test_booleans_are_stored_lower_case(value: str, stored: str) -> None:
    assert checked({"SqsManagedSseEnabled": value}, fifo=False, creating=True) == {
        "SqsManagedSseEnabled": stored
    }
    assert checked({"ContentBasedDeduplication": value}, fifo=True, creating=False) == {
        "ContentBasedDeduplication": stored
    }


@pytest.mark.parametrize("value", ["", "yes", "1", "0", "t", "truee", " true"])
def test_booleans_refused(value: str) -> None:
    for name, fifo in (
        ("SqsManagedSseEnabled", False),
        ("ContentBasedDeduplication", True),
        ("FifoQueue", True),
    ):
        with pytest.raises(AwsError) as caught:
            checked({name: value}, fifo=fifo, creating=True)
        assert _code(caught.value) == ("InvalidAttributeValue", "InvalidAttributeValue;Sender", 400)


def test_fifo_choices() -> None:
    for scope in ("messageGroup", "queue"):
        assert checked({"DeduplicationScope": scope}, fifo=True, creating=True) == {
            "DeduplicationScope": scope
        }
    for limit in ("perQueue", "perMessageGroupId"):
        assert checked({"FifoThroughputLimit": limit}, fifo=True, creating=True) == {
            "FifoThroughputLimit": limit
        }
    for name, value in (("DeduplicationScope", "group"), ("FifoThroughputLimit", "perqueue")):
        with pytest.raises(AwsError) as caught:
            checked({name: value}, fifo=True, creating=True)
        assert caught.value.code == "InvalidAttributeValue"


def test_policy_must_be_json() -> None:
    policy = '{"Version": "2012-10-17", "Statement": []}'
    assert checked({"Policy": policy}, fifo=False, creating=True) == {"Policy": policy}
    assert checked({"Policy": ""}, fifo=False, creating=False) == {"Policy": ""}  # clears it
    with pytest.raises(AwsError) as caught:
        checked({"Policy": "{not json"}, fifo=False, creating=True)
    assert caught.value.code == "InvalidAttributeValue"


def test_values_given_as_other_types_are_checked_as_text() -> None:
    given: dict[str, object] = {"VisibilityTimeout": 45}
    assert checked(given, fifo=False, creating=True) == {"VisibilityTimeout": "45"}  # type: ignore[arg-type]


# --------------------------------------------------------------------------- redrive policy


def test_redrive_policy_is_normalised() -> None:
    given = json.dumps({"maxReceiveCount": "5", "deadLetterTargetArn": DLQ})
    stored = checked({"RedrivePolicy": given}, fifo=False, creating=True)["RedrivePolicy"]
    assert stored == '{"deadLetterTargetArn":"' + DLQ + '","maxReceiveCount":5}'
    assert json.loads(stored) == {"deadLetterTargetArn": DLQ, "maxReceiveCount": 5}
    policy = redrive_of({"RedrivePolicy": stored})
    assert policy is not None
    assert (policy.dead_letter_arn, policy.max_receive_count) == (DLQ, 5)
    # Spacing and key order do not matter; the bounds are inclusive.
    for count in (1, 1000):
        spaced = f'{{ "deadLetterTargetArn" : "{DLQ}" , "maxReceiveCount" : {count} }}'
        assert json.loads(checked({"RedrivePolicy": spaced}, fifo=False, creating=True)["RedrivePolicy"]) == {
            "deadLetterTargetArn": DLQ,
            "maxReceiveCount": count,
        }


def test_an_empty_redrive_policy_removes_it() -> None:
    assert checked({"RedrivePolicy": ""}, fifo=False, creating=False) == {"RedrivePolicy": ""}
    assert redrive_of({"RedrivePolicy": ""}) is None
    assert redrive_of({}) is None


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        "[]",
        '"text"',
        "5",
        "null",
        json.dumps({"deadLetterTargetArn": DLQ}),
        json.dumps({"maxReceiveCount": 5}),
        json.dumps({"deadLetterTargetArn": DLQ, "maxReceiveCount": 0}),
        json.dumps({"deadLetterTargetArn": DLQ, "maxReceiveCount": 1001}),
        json.dumps({"deadLetterTargetArn": DLQ, "maxReceiveCount": -1}),
        json.dumps({"deadLetterTargetArn": DLQ, "maxReceiveCount": "many"}),
        json.dumps({"deadLetterTargetArn": DLQ, "maxReceiveCount": None}),
        json.dumps({"deadLetterTargetArn": "arn:aws:sns:us-east-1:111111111111:topic", "maxReceiveCount": 3}),
        json.dumps({"deadLetterTargetArn": "dead", "maxReceiveCount": 3}),
        json.dumps({"deadLetterTargetArn": None, "maxReceiveCount": 3}),
        '{"deadLetterTargetArn": "' + DLQ + '", "maxReceiveCount": NaN}',
        '{"deadLetterTargetArn": "' + DLQ + '", "maxReceiveCount": 1e400}',  # infinity to json
    ],
)
def test_redrive_policy_refused(value: str) -> None:
    with pytest.raises(AwsError) as caught:
        checked({"RedrivePolicy": value}, fifo=False, creating=True)
    assert _code(caught.value) == ("InvalidAttributeValue", "InvalidAttributeValue;Sender", 400)
    assert "RedrivePolicy" in caught.value.message


# --------------------------------------------------------------------------- ARNs


def test_queue_arns_round_trip() -> None:
    arn = queue_arn("eu-west-1", "111111111111", "orders.fifo")
    assert arn == "arn:aws:sqs:eu-west-1:111111111111:orders.fifo"
    assert parse_queue_arn(arn) == ("eu-west-1", "111111111111", "orders.fifo")


@pytest.mark.parametrize(
    "arn",
    [
        "",
        "orders",
        "arn:aws:sns:us-east-1:111111111111:orders",
        "arn:aws:sqs:us-east-1:111111111111",
        "arn:aws:sqs:us-east-1:111111111111:orders:extra",
        "urn:aws:sqs:us-east-1:111111111111:orders",
    ],
)
def test_parse_queue_arn_refuses_other_arns(arn: str) -> None:
    assert parse_queue_arn(arn) is None
