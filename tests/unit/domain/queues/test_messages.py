"""Messages as SQS checks them and the MD5 digests SDKs verify (Developer Guide, "Calculating the MD5
message digest for message attributes"; SendMessage's MessageBody and MessageAttributes rules)."""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Mapping
from typing import Any

import pytest

from lamina.domain.queues.messages import (
    Message,
    attributes_md5,
    body_md5,
    check_body,
    checked_attributes,
    from_record_attributes,
    to_record_attributes,
)
from lamina.errors import AwsError

LIMIT = 262_144


def _reference_md5(attributes: Mapping[str, Mapping[str, Any]]) -> str:
    """The Developer Guide's algorithm, written out independently: sort the attributes by name;
    for each, the name, the data type and the value, each as a 4-byte big-endian length and its
    UTF-8 bytes, with one transport byte (1 for String and Number, 2 for Binary) between the data
    type and the value; MD5 of the whole."""
    encoded = bytearray()
    for name in sorted(attributes, key=lambda text: text.encode("utf-8")):
        attribute = attributes[name]
        data_type = attribute["DataType"]
        for part in (name.encode("utf-8"), data_type.encode("utf-8")):
            encoded += struct.pack("!I", len(part)) + part
        if data_type.startswith("Binary"):
            value = attribute["BinaryValue"]
            raw = value if isinstance(value, bytes) else base64.b64decode(value)
            encoded += b"\x02" + struct.pack("!I", len(raw)) + raw
        else:
            text = attribute["StringValue"].encode("utf-8")
            encoded += b"\x01" + struct.pack("!I", len(text)) + text
    return hashlib.md5(bytes(encoded)).hexdigest()


STRING = {"attribName1": {"DataType": "String", "StringValue": "attribValue 1"}}
NUMBER = {
    "customNumberTypeAttrib": {
        "DataType": "Number.float",
        "StringValue": "4563442423554324324264524243.32543234",
    }
}
BINARY = {
    "binaryAttribute": {
        "DataType": "Binary",
        "BinaryValue": base64.b64encode(b"Hello binary world!").decode(),
    }
}


# --------------------------------------------------------------------------- digests


@pytest.mark.parametrize(
    ("attributes", "digest"),
    [
        # Published digests that SQS returned for these attributes (the examples of the
        # aws-md5-of-message-attributes package, checked against SQS's MD5OfMessageAttributes).
        (STRING, "19e27d4e946b072f3f58da80d94fd778"),
        (NUMBER, "9fe1b90bbd9965bdf77bac517c7d2495"),
        (BINARY, "31a92b15d92f8db860eda32aceb656c3"),
        ({**STRING, **NUMBER, **BINARY}, "c932db14a896c663f83c260297d594ff"),
    ],
)
def test_attributes_md5_matches_known_sqs_digests(attributes: dict[str, Any], digest: str) -> None:
    assert attributes_md5(attributes) == digest
    assert _reference_md5(attributes) == digest
    # Stored binary values are bytes: the same digest.
    assert attributes_md5(checked_attributes(attributes)) == digest


@pytest.mark.parametrize(
    "attributes",
    [
        {"a": {"DataType": "String", "StringValue": "x"}},
        {
            "b": {"DataType": "Number", "StringValue": "-1.5e3"},
            "a": {"DataType": "String.json", "StringValue": "{}"},
        },
        {"name": {"DataType": "String", "StringValue": "é😀\u4e2d"}},
        {"blob": {"DataType": "Binary.gzip", "BinaryValue": bytes(range(256))}},
        {"Z": {"DataType": "String", "StringValue": "1"}, "a": {"DataType": "String", "StringValue": "2"}},
        {f"attr{n}": {"DataType": "Number", "StringValue": str(n)} for n in range(10)},
        {
            "one": {"DataType": "Binary", "BinaryValue": b"\x00"},
            "two": {"DataType": "String", "StringValue": "\x00"[:0] + "two"},
            "three.x": {"DataType": "Number.int", "StringValue": "3"},
        },
    ],
)
def test_attributes_md5_follows_the_documented_algorithm(attributes: dict[str, Any]) -> None:
    assert attributes_md5(attributes) == _reference_md5(attributes)


def test_attributes_md5_depends_on_name_type_and_value_but_not_order() -> None:
    base = {"a": {"DataType": "String", "StringValue": "1"}, "b": {"DataType": "Number", "StringValue": "2"}}
    reordered = {"b": base["b"], "a": base["a"]}
    assert attributes_md5(base) == attributes_md5(reordered)
    variants = [
        {"a": {"DataType": "String", "StringValue": "1"}, "b": {"DataType": "String", "StringValue": "2"}},
        {"a": {"DataType": "String", "StringValue": "1"}, "c": {"DataType": "Number", "StringValue": "2"}},
        {"a": {"DataType": "String", "StringValue": "1"}, "b": {"DataType": "Number", "StringValue": "3"}},
        # Lengths keep parts apart: moving a character from the name to the value changes the digest.
        {"ab": {"DataType": "String", "StringValue": ""}, "b": {"DataType": "Number", "StringValue": "2"}},
    ]
    assert len({attributes_md5(base), *(attributes_md5(variant) for variant in variants)}) == 5


def test_no_attributes_have_no_digest() -> None:
    assert attributes_md5({}) is None


def test_body_md5() -> None:
    assert body_md5("") == "d41d8cd98f00b204e9800998ecf8427e"
    assert body_md5("é") == hashlib.md5("é".encode()).hexdigest()


# --------------------------------------------------------------------------- bodies


@pytest.mark.parametrize(
    "body",
    ["", "hello", "\t\n\r", " ~", "\u00e9\u4e2d", "\ud7ff", "\ue000", "\ufffd", "\U00010000", "\U0010ffff"],
)
def test_bodies_of_valid_characters_are_accepted(body: str) -> None:
    check_body(body, LIMIT)


@pytest.mark.parametrize(
    "body",
    ["\x00", "a\x01b", "\x08", "\x0b", "\x0c", "\x1f", "\ud800", "\udfff", "\ufffe", "\uffff", "ok\x7f\x00"],
)
def test_bodies_with_invalid_characters_are_refused(body: str) -> None:
    with pytest.raises(AwsError) as caught:
        check_body(body, LIMIT)
    error = caught.value
    assert (error.code, error.headers["x-amzn-query-error"], error.status) == (
        "InvalidMessageContents",
        "InvalidMessageContents;Sender",
        400,
    )


def test_the_body_limit_counts_utf8_bytes() -> None:
    check_body("a" * LIMIT, LIMIT)
    check_body("é" * (LIMIT // 2), LIMIT)
    check_body("x" * 1024, 1024)
    for body, limit in (("a" * (LIMIT + 1), LIMIT), ("é" * (LIMIT // 2) + "a", LIMIT), ("😀" * 257, 1024)):
        with pytest.raises(AwsError) as caught:
            check_body(body, limit)
        assert caught.value.code == "InvalidParameterValue"
        assert caught.value.headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
        assert str(limit) in caught.value.message


# --------------------------------------------------------------------------- message attributes


def test_checked_attributes_keep_values_in_their_stored_form() -> None:
    given: dict[str, dict[str, Any]] = {
        "s": {"DataType": "String", "StringValue": "text"},
        "n": {"DataType": "Number.int", "StringValue": "42"},
        "b": {"DataType": "Binary", "BinaryValue": base64.b64encode(b"\x00\xff").decode()},
        "raw": {"DataType": "Binary.png", "BinaryValue": b"\x89PNG"},
    }
    stored = checked_attributes(given)
    assert stored == {
        "s": {"DataType": "String", "StringValue": "text"},
        "n": {"DataType": "Number.int", "StringValue": "42"},
        "b": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
        "raw": {"DataType": "Binary.png", "BinaryValue": b"\x89PNG"},
    }
    # Records keep binary values as base64, and read them back as bytes.
    record = to_record_attributes(stored)
    assert record["b"] == {"DataType": "Binary", "BinaryValue": "AP8="}
    assert from_record_attributes(record) == stored


def test_at_most_ten_attributes() -> None:
    ten = {f"a{n}": {"DataType": "String", "StringValue": "v"} for n in range(10)}
    assert len(checked_attributes(ten)) == 10
    with pytest.raises(AwsError) as caught:
        checked_attributes({**ten, "a10": {"DataType": "String", "StringValue": "v"}})
    assert caught.value.code == "InvalidParameterValue"
    assert "[11]" in caught.value.message and "[10]" in caught.value.message


@pytest.mark.parametrize(
    "value",
    [
        {"DataType": "Integer", "StringValue": "1"},
        {"DataType": "", "StringValue": "1"},
        {"StringValue": "1"},
        {"DataType": "string", "StringValue": "1"},
        {"DataType": ".String", "StringValue": "1"},
        {"DataType": "String"},
        {"DataType": "String", "StringValue": ""},
        {"DataType": "Number", "StringValue": ""},
        {"DataType": "Binary"},
        {"DataType": "Binary", "StringValue": "text"},
        {"DataType": "Binary", "BinaryValue": b""},  # "a non-empty value"
    ],
)
def test_attributes_without_a_valid_type_or_value_are_refused(value: dict[str, Any]) -> None:
    with pytest.raises(AwsError) as caught:
        checked_attributes({"attr": value})
    assert caught.value.code == "InvalidParameterValue"
    assert caught.value.headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
    assert "attr" in caught.value.message


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a" * 257,
        "has space",
        "slash/name",
        "é",
        ".leading",
        "trailing.",
        "two..dots",
        "AWS.reserved",
        "aws.reserved",
        "Amazon.reserved",
        "AMAZON.reserved",
    ],
)
def test_attribute_names_follow_the_documented_rules(name: str) -> None:
    """Developer Guide, "Message attribute components": A-Z, a-z, 0-9, "_", "-" and "."; up to 256
    characters; not starting with AWS. or Amazon. (any case); no leading, trailing or repeated
    periods."""
    with pytest.raises(AwsError) as caught:
        checked_attributes({name: {"DataType": "String", "StringValue": "v"}})
    assert caught.value.code == "InvalidParameterValue"


def test_attribute_names_at_the_limits_are_accepted() -> None:
    for name in ("a" * 256, "a.b-c_D9", "AWSome", "Amazonian.x"):
        assert name in checked_attributes({name: {"DataType": "String", "StringValue": "v"}})


def test_message_records_round_trip() -> None:
    message = Message(
        "id-1",
        "body",
        {"a": {"DataType": "String", "StringValue": "v"}},
        sent_at=1,
        visible_at=2,
        receive_count=3,
        first_received_at=4,
        receipt="r",
        group_id="g",
        deduplication_id="d",
        sequence_number="0" * 19 + "7",
        sender_id="AIDA",
        trace_header="Root=1",
        dead_letter_source="arn:aws:sqs:us-east-1:111111111111:source",
    )
    assert Message.from_record(message.to_record()) == message
    assert Message.from_record(Message("id-2", "b").to_record()) == Message("id-2", "b")
