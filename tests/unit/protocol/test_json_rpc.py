"""The json protocol against botocore itself: its serializer writes the requests we parse, its parser
reads the responses and errors we write."""

from __future__ import annotations

from typing import Any

import pytest
from botocore import parsers, serialize

from lamina.errors import AwsError
from lamina.protocol.http import HttpRequest, HttpResponse
from lamina.protocol.model import create_protocol, load_service_model

LOGS = load_service_model("logs")
PROTOCOL = create_protocol(LOGS, json_options={"validation_error_code": "InvalidParameterException"})


def wire_request(operation: str, params: dict[str, Any]) -> HttpRequest:
    serialized = serialize.create_serializer("json").serialize_to_request(
        params, LOGS.operation_model(operation)
    )
    headers = {name.lower(): value for name, value in serialized["headers"].items()}
    return HttpRequest(serialized["method"], serialized["url_path"], [], headers, serialized["body"])


def parsed(response: HttpResponse, operation: str) -> dict[str, Any]:
    parser = parsers.create_parser("json")
    shape = LOGS.operation_model(operation).output_shape
    return parser.parse(  # type: ignore[no-any-return]
        {"body": response.body, "headers": dict(response.headers), "status_code": response.status}, shape
    )


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("CreateLogGroup", {"logGroupName": "/aws/lambda/f", "tags": {"team": "a"}}),
        (
            "PutLogEvents",
            {
                "logGroupName": "g",
                "logStreamName": "s",
                "logEvents": [{"timestamp": 1700000000000, "message": "héllo\n"}],
            },
        ),
        ("FilterLogEvents", {"logGroupName": "g", "filterPattern": '{ $.a = "b" }', "limit": 5}),
        ("DescribeLogStreams", {"logGroupName": "g", "orderBy": "LastEventTime", "descending": True}),
    ],
)
def test_botocore_requests_decode_to_their_params(operation: str, params: dict[str, Any]) -> None:
    request = wire_request(operation, params)
    matched = PROTOCOL.match_request(request)
    assert matched is not None
    assert matched[0].name == operation
    assert PROTOCOL.parse(matched[0], matched[1], request) == params


def test_requests_naming_no_known_target_match_nothing() -> None:
    request = wire_request("CreateLogGroup", {"logGroupName": "g"})
    other = HttpRequest("POST", "/", [], {**request.headers, "x-amz-target": "Logs_20140328.Nope"}, b"{}")
    assert PROTOCOL.match_request(other) is None
    assert PROTOCOL.match_request(HttpRequest("GET", "/", [], dict(request.headers), b"")) is None


def test_model_violations_are_reported_with_the_configured_code() -> None:
    request = wire_request("CreateLogGroup", {"logGroupName": "bad name!"})
    operation, labels = PROTOCOL.match_request(request) or (None, None)
    assert operation is not None and labels is not None
    with pytest.raises(AwsError) as raised:
        PROTOCOL.parse(operation, labels, request)
    assert raised.value.code == "InvalidParameterException"
    assert "at 'logGroupName' failed to satisfy constraint" in raised.value.message


def test_a_body_that_is_not_json_is_a_serialization_error() -> None:
    request = wire_request("CreateLogGroup", {"logGroupName": "g"})
    broken = HttpRequest(request.method, request.raw_path, [], dict(request.headers), b"{not json")
    operation, labels = PROTOCOL.match_request(broken) or (None, None)
    assert operation is not None and labels is not None
    with pytest.raises(AwsError) as raised:
        PROTOCOL.parse(operation, labels, broken)
    assert raised.value.code == "SerializationException"


@pytest.mark.parametrize(
    "body",
    [
        b'{"logGroupName": "\\ud800"}',  # a lone high surrogate
        b'{"logGroupName": "g", "tags": {"\\udc00x": "v"}}',  # a lone low one, in a key
        b'{"logGroupName": "g", "tags": {"k": "a\\uDBFF"}}',
    ],
)
def test_a_lone_surrogate_escape_is_a_serialization_error(body: bytes) -> None:
    request = wire_request("CreateLogGroup", {"logGroupName": "g"})
    broken = HttpRequest(request.method, request.raw_path, [], dict(request.headers), body)
    operation, labels = PROTOCOL.match_request(broken) or (None, None)
    assert operation is not None and labels is not None
    with pytest.raises(AwsError) as raised:
        PROTOCOL.parse(operation, labels, broken)
    assert (raised.value.code, raised.value.status) == ("SerializationException", 400)


def test_a_surrogate_pair_escape_is_one_character_and_accepted() -> None:
    request = wire_request("CreateLogGroup", {"logGroupName": "g"})
    paired = HttpRequest(
        request.method,
        request.raw_path,
        [],
        dict(request.headers),
        b'{"logGroupName": "g", "tags": {"k": "\\ud83d\\ude00"}}',
    )
    operation, labels = PROTOCOL.match_request(paired) or (None, None)
    assert operation is not None and labels is not None
    assert PROTOCOL.parse(operation, labels, paired) == {"logGroupName": "g", "tags": {"k": "\U0001f600"}}


def test_outputs_read_back_through_botocore() -> None:
    output = {
        "events": [{"timestamp": 1, "message": "m", "ingestionTime": 2}],
        "nextForwardToken": "f/1",
        "nextBackwardToken": "b/0",
    }
    response = PROTOCOL.serialize(LOGS.operation_model("GetLogEvents"), output, request_id="rid")
    assert response.status == 200
    assert ("Content-Type", "application/x-amz-json-1.1") in response.headers
    result = parsed(response, "GetLogEvents")
    result.pop("ResponseMetadata")
    assert result == output


def test_errors_make_botocore_raise_the_modelled_code() -> None:
    error = AwsError("ResourceNotFoundException", "The specified log group does not exist.", 400)
    response = PROTOCOL.serialize_error(error, "rid")
    result = parsers.create_parser("json").parse(
        {"body": response.body, "headers": dict(response.headers), "status_code": response.status},
        LOGS.operation_model("GetLogEvents").output_shape,
    )
    assert result["Error"] == {
        "Code": "ResourceNotFoundException",
        "Message": "The specified log group does not exist.",
    }
