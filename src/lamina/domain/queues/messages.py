"""Messages as SQS keeps and reports them, and the MD5 digests SDKs check (botocore verifies
`MD5OfMessageBody` and `MD5OfMessageAttributes` of every send and receive)."""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lamina.domain.queues import errors

# What a message body may contain (XML 1.0's characters, as SQS documents).
_INVALID_BODY = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TRANSPORT = {"String": 1, "Number": 1, "Binary": 2}


@dataclass(frozen=True, slots=True)
class Message:
    """A stored message. `visible_at` (epoch ms) moves forward when the message is received or
    delayed; `receipt` names its current reception (None until received)."""

    message_id: str
    body: str
    attributes: Mapping[str, Any] = field(default_factory=dict)  # MessageAttributes, wire form
    sent_at: int = 0  # ms
    visible_at: int = 0  # ms
    receive_count: int = 0
    first_received_at: int | None = None
    receipt: str | None = None
    group_id: str | None = None
    deduplication_id: str | None = None
    sequence_number: str | None = None
    sender_id: str = ""
    trace_header: str | None = None
    dead_letter_source: str | None = None  # the ARN a redrive moved it from

    def system_attributes(self) -> dict[str, str]:
        """Every system attribute the message has, as ReceiveMessage and SQS events name them."""
        values = {
            "SenderId": self.sender_id,
            "SentTimestamp": str(self.sent_at),
            "ApproximateReceiveCount": str(self.receive_count),
            "ApproximateFirstReceiveTimestamp": str(self.first_received_at or self.sent_at),
        }
        if self.group_id is not None:
            values["MessageGroupId"] = self.group_id
            if self.deduplication_id is not None:
                values["MessageDeduplicationId"] = self.deduplication_id
            if self.sequence_number is not None:
                values["SequenceNumber"] = self.sequence_number
        if self.trace_header:
            values["AWSTraceHeader"] = self.trace_header
        if self.dead_letter_source:
            values["DeadLetterQueueSourceArn"] = self.dead_letter_source
        return values

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.message_id,
            "body": self.body,
            "attributes": dict(self.attributes),
            "sent": self.sent_at,
            "visible": self.visible_at,
            "count": self.receive_count,
            "first": self.first_received_at,
            "receipt": self.receipt,
            "group": self.group_id,
            "dedup": self.deduplication_id,
            "sequence": self.sequence_number,
            "sender": self.sender_id,
            "trace": self.trace_header,
            "source": self.dead_letter_source,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Message:
        return cls(
            str(record["id"]),
            str(record["body"]),
            dict(record.get("attributes") or {}),
            int(record.get("sent") or 0),
            int(record.get("visible") or 0),
            int(record.get("count") or 0),
            record.get("first"),
            record.get("receipt"),
            record.get("group"),
            record.get("dedup"),
            record.get("sequence"),
            str(record.get("sender") or ""),
            record.get("trace"),
            record.get("source"),
        )


def check_body(body: str, limit: int) -> None:
    if _INVALID_BODY.search(body):
        raise errors.invalid_message_contents()
    if len(body.encode("utf-8")) > limit:
        raise errors.invalid_parameter(
            f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
        )


def body_md5(body: str) -> str:
    return hashlib.md5(body.encode("utf-8")).hexdigest()


def attributes_md5(attributes: Mapping[str, Mapping[str, Any]]) -> str | None:
    """SQS's digest of message attributes: for each name in order, the name, the data type, a
    transport byte (1 for String/Number, 2 for Binary) and the value, each length-prefixed."""
    if not attributes:
        return None
    digest = hashlib.md5()
    for name in sorted(attributes):
        value = attributes[name]
        data_type = str(value.get("DataType", ""))
        _update(digest, name.encode())
        _update(digest, data_type.encode())
        base_type = data_type.split(".", 1)[0]
        if base_type == "Binary":
            digest.update(b"\x02")
            raw = value.get("BinaryValue", b"")
            _update(digest, raw if isinstance(raw, bytes) else base64.b64decode(raw))
        else:
            digest.update(b"\x01")
            _update(digest, str(value.get("StringValue", "")).encode())
    return digest.hexdigest()


def _update(digest: Any, data: bytes) -> None:
    digest.update(struct.pack(">I", len(data)))
    digest.update(data)


def checked_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """MessageAttributes as stored: at most 10, each with a DataType of String, Number or Binary
    (maybe with a custom suffix) and the value that type needs."""
    if len(attributes) > 10:
        raise errors.invalid_parameter(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum [10]."
        )
    stored: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        check_attribute_name(name)
        data_type = str(value.get("DataType") or "")
        base = data_type.split(".", 1)[0]
        if base not in _TRANSPORT:
            raise errors.invalid_parameter(
                f"The type of message (user) attribute '{name}' is invalid. You must use only the following "
                "supported type prefixes: Binary, Number, String."
            )
        if base == "Binary":
            raw = value.get("BinaryValue")
            if not raw:
                raise errors.invalid_parameter(
                    f"The message (user) attribute '{name}' must contain a non-empty value of type '{base}'."
                )
            stored[name] = {
                "DataType": data_type,
                "BinaryValue": raw if isinstance(raw, bytes) else base64.b64decode(raw),
            }
        else:
            text = value.get("StringValue")
            if text is None or text == "":
                raise errors.invalid_parameter(
                    f"The message (user) attribute '{name}' must contain a non-empty value of type '{base}'."
                )
            stored[name] = {"DataType": data_type, "StringValue": str(text)}
    return stored


_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")


def check_attribute_name(name: str) -> None:
    """Message attribute names (SQS developer guide, "Message attribute components"): A-Z, a-z,
    0-9, `_`, `-` and `.`, at most 256 characters, not starting with `AWS.` or `Amazon.` in any
    case, and no leading, trailing or doubled period."""
    lowered = name.lower()
    if (
        _ATTRIBUTE_NAME.fullmatch(name) is None
        or lowered.startswith(("aws.", "amazon."))
        or name.startswith(".")
        or name.endswith(".")
        or ".." in name
    ):
        raise errors.invalid_parameter(f"Message (user) attribute name '{name}' is invalid.")


def to_record_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Message attributes in a JSON-safe form (binary values base64)."""
    return {
        name: {
            key: base64.b64encode(item).decode() if isinstance(item, bytes) else item
            for key, item in value.items()
        }
        for name, value in attributes.items()
    }


def from_record_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        name: {key: base64.b64decode(item) if key == "BinaryValue" else item for key, item in value.items()}
        for name, value in attributes.items()
    }
