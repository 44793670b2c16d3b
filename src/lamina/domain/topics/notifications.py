"""What SNS delivers (SNS developer guide, "Amazon SNS message and JSON formats"; Lambda developer
guide, "Using Lambda with Amazon SNS"): the notification document queues and HTTP endpoints
receive, the SubscriptionConfirmation, the record a function receives, and the strings that are
signed (signature version 1: SHA1withRSA over the named fields in order).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lamina.domain.topics import errors

__all__ = [
    "Notification",
    "check_message",
    "lambda_event",
    "message_for",
    "notification_document",
    "signed_string",
    "sns_timestamp",
]

MAX_MESSAGE_BYTES = 262_144
MAX_SUBJECT = 100
ATTRIBUTE_TYPES = ("String", "Number", "Binary")


@dataclass(frozen=True, slots=True)
class Notification:
    """One published message, as every subscription is to receive it."""

    message_id: str
    topic_arn: str
    message: str  # for MessageStructure=json: the JSON document of per-protocol messages
    subject: str | None
    attributes: Mapping[str, Mapping[str, Any]]  # name -> {"DataType", "StringValue"|"BinaryValue"}
    timestamp: str
    structured: bool = False
    group_id: str | None = None
    deduplication_id: str | None = None
    sequence_number: str | None = None

    def to_document(self) -> dict[str, Any]:
        """For a delivery kept across a restart (binary attribute values as base64)."""
        return {
            "message_id": self.message_id,
            "topic_arn": self.topic_arn,
            "message": self.message,
            "subject": self.subject,
            "attributes": {name: _storable(value) for name, value in self.attributes.items()},
            "timestamp": self.timestamp,
            "structured": self.structured,
            "group_id": self.group_id,
            "deduplication_id": self.deduplication_id,
            "sequence_number": self.sequence_number,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Notification:
        attributes = {name: _restored(value) for name, value in document.get("attributes", {}).items()}
        return cls(
            document["message_id"],
            document["topic_arn"],
            document["message"],
            document.get("subject"),
            attributes,
            document["timestamp"],
            bool(document.get("structured")),
            document.get("group_id"),
            document.get("deduplication_id"),
            document.get("sequence_number"),
        )


def _storable(value: Mapping[str, Any]) -> dict[str, Any]:
    binary = value.get("BinaryValue")
    if isinstance(binary, bytes | bytearray):
        return {**value, "BinaryValue": base64.b64encode(binary).decode(), "binary": True}
    return dict(value)


def _restored(value: Mapping[str, Any]) -> dict[str, Any]:
    if value.get("binary"):
        restored = {key: item for key, item in value.items() if key != "binary"}
        restored["BinaryValue"] = base64.b64decode(value["BinaryValue"])
        return restored
    return dict(value)


def sns_timestamp(moment: float) -> str:
    """SNS's Timestamp: UTC with milliseconds and a Z."""
    return (
        datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{int(moment * 1000) % 1000:03d}Z"
    )


def check_message(
    message: str | None, subject: str | None, structure: str | None, attributes: Mapping[str, Any]
) -> None:
    """Publish's checks, with SNS's messages."""
    if not message:
        raise errors.invalid("Empty message")
    if len(message.encode()) > MAX_MESSAGE_BYTES:
        raise errors.invalid("Invalid parameter: Message too long")
    if subject is not None and (
        not subject
        or len(subject) > MAX_SUBJECT
        or not subject.isascii()
        or any(c in subject for c in "\r\n")
    ):
        raise errors.invalid_parameter("Subject")
    if structure is not None:
        if structure != "json":
            raise errors.invalid_parameter("MessageStructure")
        try:
            document = json.loads(message)
        except ValueError:
            raise errors.invalid(
                "Invalid parameter: Message Structure - JSON message body failed to parse"
            ) from None
        if not isinstance(document, dict) or "default" not in document:
            raise errors.invalid(
                "Invalid parameter: Message Structure - No default entry in JSON message body"
            )
    for name, value in attributes.items():
        kind = str(value.get("DataType", ""))
        if kind.split(".", 1)[0] not in ATTRIBUTE_TYPES:
            raise errors.invalid_parameter(
                f"MessageAttributes Reason: The message attribute '{name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."
            )
        if kind.startswith("Binary"):
            if value.get("BinaryValue") is None:
                raise errors.invalid_parameter(
                    f"MessageAttributes Reason: The message attribute '{name}' must contain non-empty message attribute value for message attribute type 'Binary'."
                )
        elif not value.get("StringValue"):
            raise errors.invalid_parameter(
                f"MessageAttributes Reason: The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{kind.split('.', 1)[0]}'."
            )
        if kind == "String.Array":
            try:
                if not isinstance(json.loads(value["StringValue"]), list):
                    raise ValueError
            except ValueError:
                raise errors.invalid_parameter(
                    f"MessageAttributes Reason: The message attribute '{name}' has an invalid String.Array value."
                ) from None


def message_for(notification: Notification, protocol: str) -> str:
    """The message a subscription of `protocol` receives (MessageStructure=json: its own entry, or
    `default`)."""
    if not notification.structured:
        return notification.message
    document = json.loads(notification.message)
    return str(document.get(protocol, document["default"]))


def _attributes_document(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        name: {
            "Type": str(value["DataType"]),
            "Value": str(
                value.get("StringValue")
                if value.get("StringValue") is not None
                else _binary_text(value.get("BinaryValue"))
            ),
        }
        for name, value in attributes.items()
    }


def _binary_text(value: Any) -> str:
    return base64.b64encode(value).decode() if isinstance(value, bytes | bytearray) else str(value)


def signed_string(document: Mapping[str, Any]) -> str:
    """The text SNS signs (version 1) for a notification or a confirmation document."""
    if document["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{name}\n{document[name]}\n" for name in names if document.get(name) is not None)


def notification_document(
    notification: Notification, protocol: str, unsubscribe_url: str, signing_cert_url: str
) -> dict[str, Any]:
    """The JSON document queues (not raw) and HTTP endpoints receive; `Signature` is added by the
    caller over `signed_string`."""
    document: dict[str, Any] = {"Type": "Notification", "MessageId": notification.message_id}
    if notification.sequence_number is not None:
        document["SequenceNumber"] = notification.sequence_number
    document["TopicArn"] = notification.topic_arn
    if notification.subject is not None:
        document["Subject"] = notification.subject
    document["Message"] = message_for(notification, protocol)
    document["Timestamp"] = notification.timestamp
    document["SignatureVersion"] = "1"
    document["SigningCertURL"] = signing_cert_url
    document["UnsubscribeURL"] = unsubscribe_url
    if notification.attributes:
        document["MessageAttributes"] = _attributes_document(notification.attributes)
    return document


def lambda_event(
    notification: Notification,
    subscription_arn: str,
    signature: str,
    unsubscribe_url: str,
    signing_cert_url: str,
) -> dict[str, Any]:
    """The event a subscribed function receives: one record, its `Sns` the notification with
    Lambda's spellings (`SigningCertUrl`, `UnsubscribeUrl`) and `Subject` null when absent."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": notification.message_id,
                    "TopicArn": notification.topic_arn,
                    "Subject": notification.subject,
                    "Message": message_for(notification, "lambda"),
                    "Timestamp": notification.timestamp,
                    "SignatureVersion": "1",
                    "Signature": signature,
                    "SigningCertUrl": signing_cert_url,
                    "UnsubscribeUrl": unsubscribe_url,
                    "MessageAttributes": _attributes_document(notification.attributes),
                },
            }
        ]
    }


def confirmation_document(
    message_id: str, topic_arn: str, token: str, subscribe_url: str, timestamp: str, signing_cert_url: str
) -> dict[str, Any]:
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": message_id,
        "Token": token,
        "TopicArn": topic_arn,
        "Message": f"You have chosen to subscribe to the topic {topic_arn}.\nTo confirm the subscription, "
        "visit the SubscribeURL included in this message.",
        "SubscribeURL": subscribe_url,
        "Timestamp": timestamp,
        "SignatureVersion": "1",
        "SigningCertURL": signing_cert_url,
    }
