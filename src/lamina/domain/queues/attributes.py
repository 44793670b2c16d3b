"""Queue attributes: their defaults, what each accepts, and which a queue reports (Amazon SQS API
Reference, CreateQueue and SetQueueAttributes)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from lamina.domain.iam.policy import MalformedPolicy, parse_policy
from lamina.domain.queues import errors
from lamina.errors import AwsError

MAX_MESSAGE_BYTES = 262_144
_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
_INTEGER = re.compile(r"-?[0-9]{1,12}")
_FIFO_NAME = re.compile(r"[A-Za-z0-9_-]{1,75}\.fifo")

# name → (lowest, highest) for the numeric attributes, and their defaults.
_RANGES = {
    "DelaySeconds": (0, 900),
    "MaximumMessageSize": (1024, MAX_MESSAGE_BYTES),
    "MessageRetentionPeriod": (60, 1_209_600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "VisibilityTimeout": (0, 43_200),
    "KmsDataKeyReusePeriodSeconds": (60, 86_400),
}
# What a FIFO queue reports for its own attributes when they were not set.
FIFO_DEFAULTS = {
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}
DEFAULTS = {
    "DelaySeconds": "0",
    "MaximumMessageSize": str(MAX_MESSAGE_BYTES),
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
    "SqsManagedSseEnabled": "true",
}
_BOOLEANS = ("FifoQueue", "ContentBasedDeduplication", "SqsManagedSseEnabled")
_TEXT = ("Policy", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId")
_FIFO_ONLY = ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
SETTABLE = frozenset(_RANGES) | frozenset(_BOOLEANS) | frozenset(_TEXT) | frozenset(_FIFO_ONLY)
# What GetQueueAttributes reports, beyond the settable ones a queue holds.
COMPUTED = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
)


def check_name(name: str, fifo: bool) -> None:
    if fifo:
        if _FIFO_NAME.fullmatch(name) is None:
            raise errors.invalid_parameter(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
                "underscores, must end with .fifo suffix and be 1 to 80 in length."
            )
    elif _NAME.fullmatch(name) is None:
        raise errors.invalid_parameter(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
        )


@dataclass(frozen=True, slots=True)
class RedrivePolicy:
    dead_letter_arn: str
    max_receive_count: int


def redrive_of(attributes: Mapping[str, str]) -> RedrivePolicy | None:
    text = attributes.get("RedrivePolicy")
    if not text:
        return None
    document = json.loads(text)
    return RedrivePolicy(str(document["deadLetterTargetArn"]), int(document["maxReceiveCount"]))


def checked(attributes: Mapping[str, str], *, fifo: bool, creating: bool) -> dict[str, str]:
    """The attributes as stored, each checked as SQS checks it; raises InvalidAttributeName or
    InvalidAttributeValue."""
    result: dict[str, str] = {}
    for name, value in attributes.items():
        if name not in SETTABLE:
            raise errors.invalid_attribute_name(name)
        if name == "FifoQueue" and not creating:
            raise errors.invalid_attribute_name(name)
        if name in _FIFO_ONLY and not fifo:
            raise errors.invalid_attribute_name(name)
        result[name] = _checked_value(name, str(value))
    return result


def _checked_value(name: str, value: str) -> str:
    if name in _RANGES:
        low, high = _RANGES[name]
        if _INTEGER.fullmatch(value) is None or not low <= int(value) <= high:
            raise errors.invalid_attribute_value(name, f"Must be an integer from {low} to {high}.")
        return str(int(value))
    if name in _BOOLEANS:
        if value.lower() not in ("true", "false"):
            raise errors.invalid_attribute_value(name, "Must be true or false.")
        return value.lower()
    if name == "RedrivePolicy" and value:
        return _checked_redrive(value)
    if name == "Policy" and value:
        try:
            parse_policy(json.loads(value), resource_policy=True)
        except (ValueError, MalformedPolicy) as error:
            raise errors.invalid_attribute_value(name, f"Invalid policy: {error}") from None
    if name == "DeduplicationScope" and value not in ("messageGroup", "queue"):
        raise errors.invalid_attribute_value(name, "Must be messageGroup or queue.")
    if name == "FifoThroughputLimit" and value not in ("perQueue", "perMessageGroupId"):
        raise errors.invalid_attribute_value(name, "Must be perQueue or perMessageGroupId.")
    return value


def _checked_redrive(value: str) -> str:
    try:
        document = json.loads(value)
        arn = str(document["deadLetterTargetArn"])
        count = int(document["maxReceiveCount"])
    except (ValueError, KeyError, TypeError, OverflowError):
        raise errors.invalid_attribute_value(
            "RedrivePolicy",
            "Redrive policy is not a valid JSON map with deadLetterTargetArn and maxReceiveCount.",
        ) from None
    if not 1 <= count <= 1000:
        raise errors.invalid_attribute_value(
            "RedrivePolicy", "Value maxReceiveCount must be between 1 and 1000."
        )
    if not arn.startswith("arn:aws:sqs:"):
        raise errors.invalid_attribute_value("RedrivePolicy", "Dead-letter target ARN is not a queue ARN.")
    return json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": count}, separators=(",", ":"))


def queue_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{account_id}:{name}"


def parse_queue_arn(arn: str) -> tuple[str, str, str] | None:
    """(region, account, name) of a queue ARN."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs":
        return None
    return parts[3], parts[4], parts[5]


def bounded(parameter: str, value: int | None, low: int, high: int, reason: str) -> None:
    if value is not None and not low <= value <= high:
        raise errors.invalid_value(parameter, value, reason)


def invalid(message: str) -> AwsError:
    return errors.invalid_parameter(message)
