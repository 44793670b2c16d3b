"""Function URL requests as payload format 2.0 events, results as HTTP responses, and CORS."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from lamina.domain.function_urls import (
    FunctionUrlConfig,
    InvalidResult,
    UrlRequest,
    is_preflight,
    map_result,
    new_url_id,
    preflight_response,
    read_result,
    request_event,
    with_cors,
)

CONFIG = FunctionUrlConfig("a" * 32, "f", None, "NONE")
CORS = {
    "AllowOrigins": ["https://example.com"],
    "AllowMethods": ["GET", "POST"],
    "AllowHeaders": ["x-custom"],
    "ExposeHeaders": ["x-trace"],
    "MaxAge": 300,
}


def request(**changes: object) -> UrlRequest:
    values: dict[str, object] = {
        "method": "POST",
        "raw_path": "/my/path",
        "raw_query": "p1=v1&p1=v2&p2=v",
        "headers": {
            "content-type": "application/json",
            "cookie": "c1=a; c2=b",
            "user-agent": "agent",
            "x-h": "1,2",
        },
        "body": b'{"k": 1}',
        "source_ip": "127.0.0.1",
    }
    values.update(changes)
    return UrlRequest(**values)  # type: ignore[arg-type]


def test_url_ids_are_32_lowercase_letters_and_digits() -> None:
    ids = {new_url_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(url_id) == 32 and url_id.isalnum() and url_id.lower() == url_id for url_id in ids)


def test_a_request_becomes_a_version_2_event() -> None:
    event = request_event(
        request(),
        CONFIG,
        domain="d.example",
        account_id="000000000000",
        request_id="rid",
        caller=None,
        now=datetime(2026, 11, 30, 1, 2, 3, tzinfo=UTC),
    )
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert (event["rawPath"], event["rawQueryString"]) == ("/my/path", "p1=v1&p1=v2&p2=v")
    assert event["cookies"] == ["c1=a", "c2=b"]
    assert "cookie" not in event["headers"] and event["headers"]["x-h"] == "1,2"
    assert event["queryStringParameters"] == {"p1": "v1,v2", "p2": "v"}
    assert (event["body"], event["isBase64Encoded"]) == ('{"k": 1}', False)
    context = event["requestContext"]
    assert context["http"] == {
        "method": "POST",
        "path": "/my/path",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "agent",
    }
    assert (context["apiId"], context["domainPrefix"], context["authorizer"]) == ("a" * 32, "a" * 32, None)
    assert (context["time"], context["timeEpoch"]) == ("30/Nov/2026:01:02:03 +0000", 1796000523000)


def test_binary_bodies_are_base64_and_empty_requests_have_no_body() -> None:
    binary = request_event(
        request(headers={"content-type": "application/octet-stream"}, body=b"\x00\x01"),
        CONFIG,
        domain="d",
        account_id="0",
        request_id="r",
        caller=None,
    )
    assert (binary["body"], binary["isBase64Encoded"]) == ("AAE=", True)
    empty = request_event(
        request(body=b"", raw_query=""), CONFIG, domain="d", account_id="0", request_id="r", caller=None
    )
    assert "body" not in empty and "queryStringParameters" not in empty


@pytest.mark.parametrize(
    ("payload", "status", "headers", "body"),
    [
        # As AWS: a string is the body itself, other JSON values are sent compactly.
        (b'"Hello, world!"', 200, [("content-type", "application/json")], b"Hello, world!"),
        (b'{"message": "hi"}', 200, [("content-type", "application/json")], b'{"message":"hi"}'),
        (b'["hello", 3, true]', 200, [("content-type", "application/json")], b'["hello",3,true]'),
        (b"3.5", 200, [("content-type", "application/json")], b"3.5"),
        (
            json.dumps(
                {
                    "statusCode": 201,
                    "headers": {"Content-Type": "text/plain", "My-Header": "v"},
                    "cookies": ["a=1; Max-Age=5", "b=2"],
                    "body": "created",
                }
            ).encode(),
            201,
            [
                ("content-type", "text/plain"),
                ("my-header", "v"),
                ("set-cookie", "a=1; Max-Age=5"),
                ("set-cookie", "b=2"),
            ],
            b"created",
        ),
        (
            json.dumps(
                {"statusCode": 200, "body": base64.b64encode(b"\x89PNG").decode(), "isBase64Encoded": True}
            ).encode(),
            200,
            [("content-type", "application/json")],
            b"\x89PNG",
        ),
        (b'{"statusCode": 204}', 204, [], b""),
        (b"not json", 502, [("content-type", "application/json")], b"Internal Server Error"),
    ],
)
def test_results_become_responses(
    payload: bytes, status: int, headers: list[tuple[str, str]], body: bytes
) -> None:
    response = map_result(payload)
    assert (response.status, response.headers, response.body) == (status, headers, body)


def result(**fields: object) -> bytes:
    return json.dumps({"statusCode": 200, "body": "ok", **fields}).encode()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (result(headers={"X-A": "1\r\nX-Injected: yes", "Content-Length": "0"}), "CR, LF or NUL"),
        (result(headers={"X-A": "1\nX-Injected: yes"}), "CR, LF or NUL"),
        (result(headers={"X-A": "nul\u0000"}), "CR, LF or NUL"),
        (result(headers={"X-A\r\nX-Injected": "yes"}), "not a valid header name"),
        (result(headers={"X A": "yes"}), "not a valid header name"),
        (result(headers={"": "yes"}), "not a valid header name"),
        (result(headers={"X-A": "snow \u2603"}), "ISO-8859-1"),
        (result(headers={"X-A": {"nested": 1}}), "not a string or a number"),
        (result(cookies=["a=1\r\nX-Injected: yes"]), "CR, LF or NUL"),
        (result(headers=["X-A"]), "not an object"),
        (result(statusCode=700), "not an HTTP status"),
        (result(statusCode=99), "not an HTTP status"),
        (result(statusCode=101), "not a final response"),
        (result(statusCode=True), "not an HTTP status"),
        (result(statusCode="abc"), "not an HTTP status"),
        (b"not json", "not JSON"),
        (result(headers={f"X-{i}": "1" for i in range(101)}), "101 header fields"),
        (result(cookies=[f"c{i}=1" for i in range(101)]), "101 header fields"),
        (result(headers={"X-Big": "v" * 40_000}), "more than 32768"),
        (result(body="***", isBase64Encoded=True), "not valid base64"),
        (result(body="aGk=!", isBase64Encoded=True), "not valid base64"),
    ],
)
def test_results_that_cannot_be_sent_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidResult, match=reason):
        read_result(payload)
    response = map_result(payload)
    assert (response.status, response.body) == (502, b"Internal Server Error")


def test_framing_headers_from_the_function_are_dropped() -> None:
    response = read_result(
        result(
            headers={
                "Content-Length": "0",
                "Transfer-Encoding": "chunked",
                "Connection": "close",
                "Keep-Alive": "timeout=1",
                "X-Kept": "yes",
            },
            statusCode="201",
        )
    )
    assert response.status == 201 and response.body == b"ok"
    assert response.headers == [("x-kept", "yes"), ("content-type", "application/json")]


def test_base64_bodies_may_be_broken_into_lines() -> None:
    response = read_result(result(body="aGVs\nbG8=\n", isBase64Encoded=True))
    assert response.body == b"hello"


def test_latin_1_and_numeric_header_values_are_sent() -> None:
    response = read_result(result(headers={"X-Name": "caf\u00e9", "X-Count": 3, "X-Flag": True}))
    assert response.headers[:3] == [("x-name", "caf\u00e9"), ("x-count", "3"), ("x-flag", "true")]


def test_preflight_is_answered_from_the_cors_config() -> None:
    preflight = request(
        method="OPTIONS", headers={"origin": "https://example.com", "access-control-request-method": "POST"}
    )
    assert is_preflight(preflight) and not is_preflight(request())
    response = preflight_response(CORS, preflight)
    assert dict(response.headers) == {
        "access-control-allow-origin": "https://example.com",
        "access-control-allow-methods": "GET,POST",
        "access-control-allow-headers": "x-custom",
        "access-control-max-age": "300",
    }
    other = request(
        method="OPTIONS", headers={"origin": "https://evil.test", "access-control-request-method": "GET"}
    )
    assert preflight_response(CORS, other).headers == []


def test_cors_headers_replace_the_functions_own() -> None:
    response = map_result(
        json.dumps({"statusCode": 200, "headers": {"Access-Control-Allow-Origin": "*"}, "body": "x"}).encode()
    )
    allowed = with_cors(response, CORS, "https://example.com")
    assert ("access-control-allow-origin", "https://example.com") in allowed.headers
    assert ("access-control-allow-origin", "*") not in allowed.headers
    assert ("access-control-expose-headers", "x-trace") in allowed.headers
    refused = with_cors(response, CORS, "https://evil.test")
    assert not any(name.startswith("access-control-") for name, _ in refused.headers)
    assert with_cors(response, {}, "https://evil.test") is response


def test_the_event_collapses_repeated_slashes_and_leaves_out_hop_by_hop_headers() -> None:
    event = request_event(
        request(raw_path="//path//1", headers={"connection": "keep-alive", "te": "trailers", "x-a": "1"}),
        CONFIG,
        domain="d",
        account_id="0",
        request_id="r",
        caller=None,
    )
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == "/path/1"
    assert "connection" not in event["headers"] and "te" not in event["headers"]
    assert event["headers"]["x-a"] == "1"
