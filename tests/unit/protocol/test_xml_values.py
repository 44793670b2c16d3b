"""XML documents of the rest-xml protocol, with botocore as the oracle: what `encode_document`
writes, botocore's RestXMLParser must read back; what botocore's RestXMLSerializer writes,
`decode_document` must read back. A small rest-xml model below has every kind of member (wrapped
and flattened lists, maps, blobs, timestamps, custom element names)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.model import ServiceModel, Shape
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from hypothesis import given
from hypothesis import strategies as st

from lamina.errors import AwsError
from lamina.protocol.model import load_service_model
from lamina.protocol.xml_values import MAX_DOCUMENT_BYTES, decode_document, encode_document, escape

NAMESPACE = "https://example.com/doc/2024-01-01/"
MODEL = ServiceModel(
    {
        "metadata": {
            "protocol": "rest-xml",
            "apiVersion": "2024-01-01",
            "endpointPrefix": "things",
            "serviceId": "Things",
            "xmlNamespace": NAMESPACE,
        },
        "operations": {
            "PutThing": {
                "name": "PutThing",
                "http": {"method": "PUT", "requestUri": "/thing"},
                "input": {"shape": "PutThingRequest"},
                "output": {"shape": "Thing"},
            }
        },
        "shapes": {
            "PutThingRequest": {
                "type": "structure",
                "members": {
                    "Thing": {"shape": "Thing", "locationName": "Thing", "xmlNamespace": {"uri": NAMESPACE}}
                },
                "payload": "Thing",
            },
            "Thing": {
                "type": "structure",
                "members": {
                    "Name": {"shape": "String"},
                    "Count": {"shape": "Integer"},
                    "Size": {"shape": "Long"},
                    "Ratio": {"shape": "Double"},
                    "Enabled": {"shape": "Boolean"},
                    "When": {"shape": "Timestamp"},
                    "Data": {"shape": "Blob"},
                    "Tags": {"shape": "TagList"},
                    "Items": {"shape": "ItemList", "locationName": "Item"},
                    "Strings": {"shape": "StringList"},
                    "Labels": {"shape": "LabelMap"},
                    "Attributes": {"shape": "AttributeMap", "locationName": "Attribute"},
                    "Nested": {"shape": "Nested", "locationName": "NestedThing"},
                },
            },
            "Nested": {
                "type": "structure",
                "members": {"Inner": {"shape": "String"}, "Deep": {"shape": "TagList"}},
            },
            "Tag": {
                "type": "structure",
                "members": {"Key": {"shape": "String"}, "Value": {"shape": "String"}},
            },
            "TagList": {"type": "list", "member": {"shape": "Tag", "locationName": "Tag"}},
            "ItemList": {"type": "list", "member": {"shape": "String"}, "flattened": True},
            "StringList": {"type": "list", "member": {"shape": "String"}},
            "LabelMap": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "String"}},
            "AttributeMap": {
                "type": "map",
                "key": {"shape": "String", "locationName": "Name"},
                "value": {"shape": "Integer", "locationName": "Val"},
            },
            "String": {"type": "string"},
            "Integer": {"type": "integer"},
            "Long": {"type": "long"},
            "Double": {"type": "double"},
            "Boolean": {"type": "boolean"},
            "Timestamp": {"type": "timestamp"},
            "Blob": {"type": "blob"},
        },
    },
    service_name="things",
)
OPERATION = MODEL.operation_model("PutThing")
THING: Shape = OPERATION.output_shape
WHEN = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
MALFORMED = "MalformedXML"

SAMPLE: dict[str, Any] = {
    "Name": "a & b < c > d \"quoted\" 'single' é 😀",
    "Count": -3,
    "Size": 2**40,
    "Ratio": 0.25,
    "Enabled": False,
    "When": WHEN,
    "Data": b"\x00\xff binary",
    "Tags": [{"Key": "k1", "Value": "v1"}, {"Key": "k2", "Value": ""}],
    "Items": ["one", "two", "three"],
    "Strings": ["x", "y"],
    "Labels": {"team": "core", "env": "prod"},
    "Attributes": {"a": 1, "b": 2},
    "Nested": {"Inner": "deep", "Deep": [{"Key": "n", "Value": "m"}]},
}


def botocore_parses(body: bytes) -> dict[str, Any]:
    parsed = create_parser("rest-xml").parse({"headers": {}, "status_code": 200, "body": body}, THING)
    parsed.pop("ResponseMetadata", None)
    return dict(parsed)


def botocore_serializes(value: dict[str, Any]) -> bytes:
    body = create_serializer("rest-xml").serialize_to_request({"Thing": value}, OPERATION)["body"]
    assert isinstance(body, bytes)
    return body


def test_encoded_document_has_declaration_root_and_namespace() -> None:
    document = encode_document("ThingResult", THING, {"Name": "n"}, NAMESPACE)
    assert document == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<ThingResult xmlns="https://example.com/doc/2024-01-01/"><Name>n</Name></ThingResult>'
    )


def test_encoded_document_without_namespace() -> None:
    assert b"<ThingResult><Count>1</Count></ThingResult>" in encode_document(
        "ThingResult", THING, {"Count": 1}, ""
    )


def test_botocore_reads_every_kind_of_member_we_write() -> None:
    assert botocore_parses(encode_document("ThingResult", THING, SAMPLE, NAMESPACE)) == SAMPLE


def test_we_read_every_kind_of_member_botocore_writes() -> None:
    assert decode_document(THING, botocore_serializes(SAMPLE)) == SAMPLE


def test_encode_decode_round_trip() -> None:
    assert decode_document(THING, encode_document("X", THING, SAMPLE, NAMESPACE)) == SAMPLE


def test_none_members_are_left_out() -> None:
    document = encode_document("X", THING, {"Name": None, "Count": 0, "Enabled": True}, "")
    assert b"<Name>" not in document
    assert decode_document(THING, document) == {"Count": 0, "Enabled": True}


def test_carriage_return_survives_xml_end_of_line_normalisation() -> None:
    value = {"Name": "line1\r\nline2\rline3"}
    document = encode_document("X", THING, value, "")
    assert botocore_parses(document) == value
    assert decode_document(THING, document) == value


def test_characters_xml_cannot_hold_become_replacement_characters() -> None:
    document = encode_document("X", THING, {"Name": "a\x00b\x1fc\ud800d\ufffe"}, "")
    assert botocore_parses(document) == {"Name": "a\ufffdb\ufffdc\ufffdd\ufffd"}


def test_escape_is_safe_in_attributes_and_text() -> None:
    assert escape('<a href="x">&</a>') == "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"


# Text XML 1.0 can carry (§2.2 Char); anything else is replaced, tested above.
XML_FORBIDDEN = "".join(map(chr, [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF]))
text_values = st.text(st.characters(codec="utf-8", exclude_characters=XML_FORBIDDEN), max_size=40)
moments = st.datetimes(
    min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(9000, 1, 1), timezones=st.just(dt.UTC)
).map(
    lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000)
)  # milliseconds on the wire


@given(
    name=text_values,
    items=st.lists(text_values, min_size=1, max_size=5),
    labels=st.dictionaries(text_values, text_values, max_size=5),
    count=st.integers(min_value=-(2**31), max_value=2**31 - 1),
    ratio=st.floats(allow_nan=False, allow_infinity=False),
    data=st.binary(max_size=40),
    when=moments,
    tags=st.lists(st.fixed_dictionaries({"Key": text_values, "Value": text_values}), max_size=4),
)
def test_any_value_survives_both_directions(
    name: str,
    items: list[str],
    labels: dict[str, str],
    count: int,
    ratio: float,
    data: bytes,
    when: dt.datetime,
    tags: list[dict[str, str]],
) -> None:
    value: dict[str, Any] = {
        "Name": name,
        "Items": items,
        "Labels": labels,
        "Count": count,
        "Ratio": ratio,
        "Data": data,
        "When": when,
        "Tags": tags,
    }
    document = encode_document("X", THING, value, NAMESPACE)
    assert decode_document(THING, document) == value
    assert botocore_parses(document) == value
    # botocore writes a CR as it is, which XML end-of-line handling turns into LF (S3 reads it so too).
    texts = [name, *items, *labels, *labels.values(), *(text for tag in tags for text in tag.values())]
    if not any("\r" in text for text in texts):
        assert decode_document(THING, botocore_serializes(value)) == value


def test_decoding_ignores_namespaces_and_the_root_name() -> None:
    document = (
        b'<p:Anything xmlns:p="urn:x" xmlns="urn:y"><p:Name>n</p:Name><Count>4</Count>'
        b"<Tags><p:Tag><Key>k</Key><Value>v</Value></p:Tag></Tags></p:Anything>"
    )
    assert decode_document(THING, document) == {"Name": "n", "Count": 4, "Tags": [{"Key": "k", "Value": "v"}]}


def test_decoding_ignores_unknown_elements() -> None:
    assert decode_document(THING, b"<X><Unknown>1</Unknown><Name>n</Name></X>") == {"Name": "n"}


def test_decoding_reads_xml_attribute_members() -> None:
    # S3's Grantee carries its type as `xsi:type`, an attribute (what botocore writes for PutBucketAcl).
    s3 = load_service_model("s3")
    operation = s3.operation_model("PutBucketAcl")
    policy = {
        "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": "abc"}, "Permission": "READ"}],
        "Owner": {"ID": "abc"},
    }
    body = create_serializer("rest-xml").serialize_to_request(
        {"Bucket": "b", "AccessControlPolicy": policy}, operation
    )["body"]
    shape = operation.input_shape.members["AccessControlPolicy"]
    assert decode_document(shape, body) == policy


def test_encoding_writes_xml_attribute_members_as_attributes() -> None:
    # GetBucketAcl's answer: botocore reads the Grantee's `xsi:type` from an attribute.
    shape = load_service_model("s3").operation_model("GetBucketAcl").output_shape
    policy = {
        "Owner": {"ID": "abc"},
        "Grants": [{"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}}],
    }
    document = encode_document(
        "AccessControlPolicy", shape, policy, "http://s3.amazonaws.com/doc/2006-03-01/"
    )
    parsed = create_parser("rest-xml").parse({"headers": {}, "status_code": 200, "body": document}, shape)
    parsed.pop("ResponseMetadata", None)
    assert parsed == policy


# --------------------------------------------------------------------------- refusals


def assert_malformed(body: bytes) -> None:
    with pytest.raises(AwsError) as raised:
        decode_document(THING, body)
    assert (raised.value.code, raised.value.status) == (MALFORMED, 400)


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE X [<!ENTITY e "expanded">]><X><Name>&e;</Name></X>',
        b'<?xml version="1.0"?><!doctype X [<!entity e "expanded">]><X><Name>&e;</Name></X>',
        b'<!DOCTYPE X SYSTEM "file:///etc/passwd"><X><Name>n</Name></X>',
        # A "billion laughs" document: refused before any expansion.
        b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<X><Name>&lol2;</Name></X>",
    ],
)
def test_doctype_and_entities_are_refused(body: bytes) -> None:
    assert_malformed(body)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_doctype_is_refused_in_any_encoding(encoding: str) -> None:
    text = f'<?xml version="1.0" encoding="{encoding.upper()}"?>'
    text += '<!DOCTYPE X [<!ENTITY e "expanded">]><X><Name>&e;</Name></X>'
    body = text.encode(encoding)
    if encoding != "utf-16":
        body = "\ufeff".encode(encoding) + body
    assert_malformed(body)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<X><Name>n</X>",
        b"<X><Name>n</Name>",
        b"<X></X><Y></Y>",
        b"<X><Count>many</Count></X>",
        b"<X><Count>1.5</Count></X>",
        b"<X><Ratio>fast</Ratio></X>",
        b"<X><Enabled>yes</Enabled></X>",
        b"<X><When>yesterday</When></X>",
        b"<X><Data>!!not base64!!</Data></X>",
        b"<X><Name>\xff\xfe</Name></X>",
    ],
)
def test_malformed_documents_are_refused(body: bytes) -> None:
    assert_malformed(body)


def test_oversized_document_is_refused() -> None:
    padding = b"a" * MAX_DOCUMENT_BYTES
    assert_malformed(b"<X><Name>" + padding + b"</Name></X>")


def test_boolean_and_number_text_is_trimmed() -> None:
    assert decode_document(THING, b"<X><Enabled> TRUE </Enabled><Count>\n 7 \n</Count></X>") == {
        "Enabled": True,
        "Count": 7,
    }


def test_timestamp_without_zone_is_utc() -> None:
    assert decode_document(THING, b"<X><When>2024-01-02T03:04:05</When></X>") == {"When": WHEN}
    assert decode_document(THING, b"<X><When>2024-01-02T04:04:05+01:00</When></X>")["When"] == WHEN
