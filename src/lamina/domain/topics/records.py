"""Topics and subscriptions as SNS defines them (SNS API reference: CreateTopic, Subscribe,
GetTopicAttributes, GetSubscriptionAttributes), their checks and their documents for the store.

A topic's ARN is `arn:aws:sns:REGION:ACCOUNT:NAME`; a subscription's is the topic's followed by
`:ID`. Subscriptions to functions and queues are confirmed at once; HTTP(S) endpoints confirm by
the handshake (a SubscriptionConfirmation with a token, then ConfirmSubscription).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from lamina.domain.event_patterns import InvalidPattern, parse_pattern
from lamina.domain.topics import errors

__all__ = [
    "DELIVERED_PROTOCOLS",
    "Subscription",
    "Topic",
    "check_endpoint",
    "check_subscription_attribute",
    "check_topic_attribute",
    "check_topic_name",
    "default_topic_policy",
    "parse_topic_arn",
    "topic_arn",
]

_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
_FIFO_NAME = re.compile(r"[A-Za-z0-9_-]{1,251}\.fifo")
_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_.-]+)")
PROTOCOLS = frozenset(
    ("http", "https", "email", "email-json", "sms", "sqs", "application", "lambda", "firehose")
)
DELIVERED_PROTOCOLS = frozenset(("http", "https", "sqs", "lambda"))
TOPIC_ATTRIBUTES = frozenset(
    (
        "DeliveryPolicy",
        "DisplayName",
        "Policy",
        "KmsMasterKeyId",
        "TracingConfig",
        "SignatureVersion",
        "FifoTopic",
        "ContentBasedDeduplication",
        "ArchivePolicy",
        "DataProtectionPolicy",
        "FifoThroughputScope",
    )
)
SUBSCRIPTION_ATTRIBUTES = frozenset(
    (
        "DeliveryPolicy",
        "FilterPolicy",
        "FilterPolicyScope",
        "RawMessageDelivery",
        "RedrivePolicy",
        "SubscriptionRoleArn",
        "ReplayPolicy",
    )
)
DEFAULT_DELIVERY_POLICY = {
    "http": {
        "defaultHealthyRetryPolicy": {
            "minDelayTarget": 20,
            "maxDelayTarget": 20,
            "numRetries": 3,
            "numMaxDelayRetries": 0,
            "numNoDelayRetries": 0,
            "numMinDelayRetries": 0,
            "backoffFunction": "linear",
        },
        "disableSubscriptionOverrides": False,
        "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"},
    }
}


def topic_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:sns:{region}:{account}:{name}"


def parse_topic_arn(arn: str) -> tuple[str, str, str] | None:
    """(region, account, name) of a topic ARN; None when it is not one."""
    match = _TOPIC_ARN.fullmatch(arn)
    return (match.group(1), match.group(2), match.group(3)) if match else None


def default_topic_policy(arn: str, account: str) -> str:
    """The policy GetTopicAttributes shows for a topic nobody set one on (SNS's own default)."""
    return json.dumps(
        {
            "Version": "2008-10-17",
            "Id": "__default_policy_ID",
            "Statement": [
                {
                    "Sid": "__default_statement_ID",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": [
                        "SNS:GetTopicAttributes",
                        "SNS:SetTopicAttributes",
                        "SNS:AddPermission",
                        "SNS:RemovePermission",
                        "SNS:DeleteTopic",
                        "SNS:Subscribe",
                        "SNS:ListSubscriptionsByTopic",
                        "SNS:Publish",
                    ],
                    "Resource": arn,
                    "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
                }
            ],
        },
        separators=(",", ":"),
    )


def check_topic_name(name: str, attributes: dict[str, str]) -> None:
    fifo = attributes.get("FifoTopic", "false").lower() == "true"
    if fifo and not _FIFO_NAME.fullmatch(name):
        raise errors.invalid_parameter("Topic Name", "FIFO topic names must end in .fifo")
    if not fifo and not _TOPIC_NAME.fullmatch(name):
        raise errors.invalid_parameter("Topic Name")


def check_topic_attribute(name: str, value: str) -> None:
    if name not in TOPIC_ATTRIBUTES:
        raise errors.invalid_parameter("AttributeName")
    if name in ("Policy", "DeliveryPolicy", "DataProtectionPolicy", "ArchivePolicy") and value:
        try:
            json.loads(value)
        except ValueError:
            raise errors.invalid_parameter(f"Attributes Reason: {name}: failed to parse JSON") from None
    if name in ("FifoTopic", "ContentBasedDeduplication") and value.lower() not in ("true", "false"):
        raise errors.invalid_parameter(f"Attributes Reason: {name}: must be true or false")


def check_subscription_attribute(name: str, value: str) -> None:
    if name not in SUBSCRIPTION_ATTRIBUTES:
        raise errors.invalid_parameter("AttributeName")
    if name == "FilterPolicy" and value:
        try:
            document = json.loads(value)
            if not isinstance(document, dict):
                raise InvalidPattern("a filter policy is a JSON object")
            parse_pattern(value)
        except (ValueError, InvalidPattern) as error:
            raise errors.invalid(f"Invalid parameter: FilterPolicy: {error}") from None
    if name == "FilterPolicyScope" and value not in ("MessageAttributes", "MessageBody"):
        raise errors.invalid(
            "Invalid parameter: FilterPolicyScope: Invalid value ["
            + value
            + "]. Please use either MessageBody or MessageAttributes"
        )
    if name == "RawMessageDelivery" and value.lower() not in ("true", "false"):
        raise errors.invalid_parameter(
            "Attributes Reason: RawMessageDelivery: Invalid value [" + value + "]. Must be true or false."
        )
    if name == "RedrivePolicy" and value:
        try:
            target = json.loads(value)["deadLetterTargetArn"]
        except (ValueError, KeyError, TypeError):
            raise errors.invalid("Invalid parameter: RedrivePolicy: deadLetterTargetArn is missing") from None
        if not str(target).startswith("arn:aws:sqs:"):
            raise errors.invalid(
                "Invalid parameter: RedrivePolicy: deadLetterTargetArn is not an SQS queue ARN"
            )


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    account: str
    region: str
    attributes: dict[str, str] = field(default_factory=dict)  # as set (settable attributes only)

    @property
    def arn(self) -> str:
        return topic_arn(self.region, self.account, self.name)

    @property
    def fifo(self) -> bool:
        return self.attributes.get("FifoTopic", "false").lower() == "true"

    def to_document(self) -> dict[str, Any]:
        return {"attributes": self.attributes}

    def with_attribute(self, name: str, value: str) -> Topic:
        return replace(self, attributes={**self.attributes, name: value})


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    topic_arn: str
    protocol: str
    endpoint: str
    owner: str  # the subscriber's account
    attributes: dict[str, str] = field(default_factory=dict)
    confirmed: bool = True
    token: str | None = None  # while pending confirmation
    authenticated_unsubscribe: bool = False  # its UnsubscribeURL does not work (signed calls only)

    @property
    def arn(self) -> str:
        return f"{self.topic_arn}:{self.id}"

    @property
    def raw(self) -> bool:
        return self.attributes.get("RawMessageDelivery", "false").lower() == "true"

    @property
    def dead_letter_arn(self) -> str | None:
        policy = self.attributes.get("RedrivePolicy")
        return json.loads(policy).get("deadLetterTargetArn") if policy else None

    def to_document(self) -> dict[str, Any]:
        return {
            "topic_arn": self.topic_arn,
            "protocol": self.protocol,
            "endpoint": self.endpoint,
            "owner": self.owner,
            "attributes": self.attributes,
            "confirmed": self.confirmed,
            "token": self.token,
            "authenticated_unsubscribe": self.authenticated_unsubscribe,
        }

    @classmethod
    def from_document(cls, subscription_id: str, document: dict[str, Any]) -> Subscription:
        return cls(
            subscription_id,
            document["topic_arn"],
            document["protocol"],
            document["endpoint"],
            document["owner"],
            document.get("attributes", {}),
            document.get("confirmed", True),
            document.get("token"),
            document.get("authenticated_unsubscribe", False),
        )

    def described(self) -> dict[str, str]:
        """GetSubscriptionAttributes' Attributes."""
        return {
            "SubscriptionArn": self.arn,
            "TopicArn": self.topic_arn,
            "Owner": self.owner,
            "Protocol": self.protocol,
            "Endpoint": self.endpoint,
            "PendingConfirmation": "false" if self.confirmed else "true",
            "ConfirmationWasAuthenticated": "true"
            if self.protocol in ("lambda", "sqs") or self.authenticated_unsubscribe
            else "false",
            "RawMessageDelivery": self.attributes.get("RawMessageDelivery", "false"),
            **{name: value for name, value in self.attributes.items() if name != "RawMessageDelivery"},
            **(
                {"FilterPolicyScope": self.attributes.get("FilterPolicyScope", "MessageAttributes")}
                if "FilterPolicy" in self.attributes
                else {}
            ),
        }


def check_endpoint(protocol: str, endpoint: str) -> None:
    """Subscribe's checks of Protocol and Endpoint."""
    if protocol not in PROTOCOLS:
        raise errors.invalid(
            f"Invalid parameter: Amazon SNS does not support this protocol string: {protocol}"
        )
    ok = {
        "http": endpoint.startswith("http://"),
        "https": endpoint.startswith("https://"),
        "lambda": endpoint.startswith("arn:aws:lambda:"),
        "sqs": endpoint.startswith("arn:aws:sqs:"),
        "email": "@" in endpoint,
        "email-json": "@" in endpoint,
    }.get(protocol, bool(endpoint))
    if not ok:
        raise errors.invalid_parameter("Endpoint")
