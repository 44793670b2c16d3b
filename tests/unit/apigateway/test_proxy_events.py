"""The REST API proxy event (version 1.0) and the reading of a proxy result."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from lamina.apigateway.proxy_events import ProxyTarget, read_proxy_result, rest_proxy_event
from lamina.apigateway.requests import ApiRequest, is_binary
from lamina.domain.function_urls import InvalidResult

REQUEST = ApiRequest(
    "POST",
    "/pets/7",
    "a=1&a=2&b=x",
    {"content-type": "application/json", "accept": "a,b"},
    b'{"x": 1}',
    "10.1.2.3",
    "req-1",
    datetime(2026, 12, 5, 10, 0, 0, tzinfo=UTC),
    "abc123.execute-api.us-east-1.localhost",
)
TARGET = ProxyTarget(
    api_id="abc123",
    account="000000000000",
    stage="prod",
    resource_id="r1",
    resource_path="/pets/{id}",
    path_parameters={"id": "7"},
    stage_variables={},
)


def test_the_event_has_aws_fields() -> None:
    event = rest_proxy_event(REQUEST, TARGET, binary=False)
    assert event["resource"] == "/pets/{id}"
    assert event["path"] == "/pets/7"
    assert event["queryStringParameters"] == {"a": "2", "b": "x"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x"]}
    assert event["multiValueHeaders"]["accept"] == ["a", "b"]
    assert event["pathParameters"] == {"id": "7"}
    assert event["stageVariables"] is None
    assert event["body"] == '{"x": 1}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["requestTime"] == "05/Dec/2026:10:00:00 +0000"
    assert context["requestTimeEpoch"] == 1796464800000
    assert context["path"] == "/prod/pets/7"
    assert context["domainPrefix"] == "abc123"
    assert context["identity"]["sourceIp"] == "10.1.2.3"


def test_binary_media_types_make_the_body_base64() -> None:
    assert is_binary("image/png", ["image/*"])
    assert is_binary("application/octet-stream", ["*/*"])
    assert not is_binary("application/json", ["image/png"])
    event = rest_proxy_event(REQUEST, TARGET, binary=True)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b'{"x": 1}'


def test_a_proxy_result_becomes_the_response() -> None:
    result = {
        "statusCode": 404,
        "headers": {"A": "1"},
        "multiValueHeaders": {"Set-Cookie": ["x=1", "y=2"]},
        "body": "gone",
    }
    response = read_proxy_result(json.dumps(result).encode())
    assert response.status == 404
    assert ("Set-Cookie", "x=1") in response.headers and ("Set-Cookie", "y=2") in response.headers
    assert ("A", "1") in response.headers
    assert response.body == b"gone"
    encoded = read_proxy_result(
        json.dumps(
            {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}
        ).encode()
    )
    assert encoded.body == b"\x00\x01"


@pytest.mark.parametrize(
    "result",
    [
        '"just a string"',
        "[1]",
        '{"statusCode": 200, "body": {"a": 1}}',
        '{"statusCode": 200, "extra": 1}',
        '{"statusCode": "abc"}',
        "not json",
        '{"statusCode": 200, "headers": []}',
    ],
)
def test_malformed_proxy_results(result: str) -> None:
    with pytest.raises(InvalidResult):
        read_proxy_result(result.encode())
