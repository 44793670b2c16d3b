"""XML responses never carry characters XML 1.0 forbids: botocore's parser reads every response,
whatever text a value held (docs/compatibility.md, "Characters XML cannot carry")."""

from __future__ import annotations

import datetime

from botocore import parsers

from lamina.errors import AwsError
from lamina.protocol.model import create_protocol, load_service_model
from lamina.protocol.query import escape

IAM = load_service_model("iam")
PROTOCOL = create_protocol(IAM)
FORBIDDEN = "".join(map(chr, [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF, 0xD800]))


def test_forbidden_characters_become_the_replacement_character() -> None:
    assert escape("a" + FORBIDDEN + "b") == "a" + "\ufffd" * len(FORBIDDEN) + "b"
    assert escape("tab\tnew\nline\rend <&>") == "tab\tnew\nline&#13;end &lt;&amp;&gt;"


def test_a_value_with_control_characters_reads_back_with_botocore() -> None:
    description = "line one\r\nbell\x07 nul\x00 tab\t done"
    output = {
        "Role": {
            "Path": "/",
            "RoleName": "r",
            "RoleId": "AROA1",
            "Arn": "arn:aws:iam::1:role/r",
            "CreateDate": datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC),
            "Description": description,
        }
    }
    response = PROTOCOL.serialize(IAM.operation_model("GetRole"), output, request_id="rid")
    parser = parsers.create_parser("query")
    result = parser.parse(
        {"body": response.body, "headers": dict(response.headers), "status_code": 200},
        IAM.operation_model("GetRole").output_shape,
    )
    assert result["Role"]["Description"] == "line one\r\nbell\ufffd nul\ufffd tab\t done"


def test_an_error_message_with_control_characters_reads_back() -> None:
    response = PROTOCOL.serialize_error(AwsError("ValidationError", "bad name: x\x01y", 400), "rid")
    result = parsers.create_parser("query").parse(
        {"body": response.body, "headers": dict(response.headers), "status_code": 400}, None
    )
    assert result["Error"]["Message"] == "bad name: x\ufffdy"
