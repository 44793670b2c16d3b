"""Function URLs against a real server: the config API through boto3, and plain HTTP requests to the
URLs (by path and by Host header), signed ones for AWS_IAM, CORS, and the response mapping."""

from __future__ import annotations

import http.client
import json
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support.lambda_calls import allow_everyone, error_of
from tests.support.server import ACCESS_KEY, SECRET_KEY, RunningServer

ARN = "arn:aws:lambda:us-east-1:000000000000:function"

ECHO = """\
import base64, json

def handler(event, context):
    kind = (event.get("queryStringParameters") or {}).get("kind")
    if kind == "fail":
        raise ValueError("boom")
    if kind == "string":
        return "Hello, world!"
    if kind == "list":
        return ["hello", 3, True, "\u00e9"]
    if kind == "custom":
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "text/plain", "X-Custom": "yes"},
            "cookies": ["a=1; Max-Age=60", "b=2"],
            "body": "created",
        }
    if kind == "inject":
        return {"statusCode": 200, "headers": {"X-A": "1\\r\\nX-Injected: yes", "Content-Length": "0"},
                "body": "hi"}
    if kind == "framing":
        return {"statusCode": 200, "headers": {"Content-Length": "0", "Transfer-Encoding": "chunked",
                "Connection": "close", "X-Kept": "yes"}, "body": "hello"}
    if kind == "snowman":
        return {"statusCode": 200, "headers": {"X-A": "\u2603"}, "body": "hi"}
    if kind == "status":
        return {"statusCode": 700, "body": "hi"}
    if kind == "binary":
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"},
                "body": base64.b64encode(b"\\x89PNG").decode(), "isBase64Encoded": True}
    return {"event": event, "arn": context.invoked_function_arn}
"""


def request(
    server: RunningServer,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], list[str], bytes]:
    """(status, headers with lower-case names, Set-Cookie values, body) of one plain HTTP request."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return (
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            response.headers.get_all("Set-Cookie") or [],
            data,
        )
    finally:
        connection.close()


def raw_request(server: RunningServer, path: str, extra: bytes = b"") -> bytes:
    """Everything the server sends for one GET (with Connection: close), as bytes off the wire."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n".encode() + extra + b"\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def public_url(client: Any, name: str, qualifier: str | None = None, **options: Any) -> str:
    """A NONE URL that everyone may call."""
    extra = {"Qualifier": qualifier} if qualifier else {}
    url: str = client.create_function_url_config(FunctionName=name, AuthType="NONE", **extra, **options)[
        "FunctionUrl"
    ]
    allow_everyone(client, name, qualifier)
    return url


def url_path(url: str) -> str:
    """/_lamina/urls/<url-id>/ for a FunctionUrl."""
    return "/_lamina/urls/" + urlsplit(url).hostname.split(".")[0] + "/"  # type: ignore[union-attr]


def test_function_url_config_api(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy({"app.py": ECHO}, Publish=True)
    created = lambda_client.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    url = created["FunctionUrl"]
    assert url.startswith("http://") and ".lambda-url.us-east-1.localhost:" in url
    assert (created["FunctionArn"], created["AuthType"]) == (f"{ARN}:{name}", "NONE")
    got = lambda_client.get_function_url_config(FunctionName=name)
    assert got["FunctionUrl"] == url and got["LastModifiedTime"]
    # As AWS: InvokeMode is absent unless it was set.
    assert "InvokeMode" not in created and "InvokeMode" not in got
    with pytest.raises(lambda_client.exceptions.ResourceConflictException):
        lambda_client.create_function_url_config(FunctionName=name, AuthType="NONE")

    cors = {"AllowOrigins": ["https://example.com"], "AllowMethods": ["GET"], "MaxAge": 60}
    updated = lambda_client.update_function_url_config(FunctionName=name, AuthType="AWS_IAM", Cors=cors)
    assert (updated["AuthType"], updated["Cors"], updated["FunctionUrl"]) == ("AWS_IAM", cors, url)
    assert "InvokeMode" not in updated
    moded = lambda_client.update_function_url_config(FunctionName=name, InvokeMode="BUFFERED")
    assert moded["InvokeMode"] == "BUFFERED"

    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    aliased = lambda_client.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    assert aliased["FunctionArn"] == f"{ARN}:{name}:live" and aliased["FunctionUrl"] != url
    listed = lambda_client.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert sorted(item["FunctionArn"] for item in listed) == [f"{ARN}:{name}", f"{ARN}:{name}:live"]

    deleted = lambda_client.delete_function_url_config(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as gone:
        lambda_client.get_function_url_config(FunctionName=name)
    assert error_of(gone) == ("ResourceNotFoundException", "The resource you requested does not exist.", 404)
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.create_function_url_config(FunctionName=name, Qualifier="nope", AuthType="NONE")


def test_requests_become_events_and_results_become_responses(
    server: RunningServer, lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy({"app.py": ECHO})
    url = lambda_client.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    base = url_path(url)
    # A NONE URL needs a statement that lets everyone in, as on AWS.
    assert request(server, "GET", base)[0] == 403
    allow_everyone(lambda_client, name)

    status, headers, _, body = request(
        server,
        "POST",
        base + "/orders//7?x=1&x=2",  # repeated slashes: AWS's rawPath has them collapsed
        b'{"item": "book"}',
        {
            "Content-Type": "application/json",
            "Cookie": "session=abc; theme=dark",
            "X-Trace": "t1",
            "Connection": "keep-alive",  # hop-by-hop: not passed into the event
        },
    )
    assert status == 200 and headers["content-type"] == "application/json"
    assert headers["x-amzn-requestid"]
    reply = json.loads(body)
    event = reply["event"]
    assert (event["version"], event["rawPath"], event["rawQueryString"]) == ("2.0", "/orders/7", "x=1&x=2")
    assert event["queryStringParameters"] == {"x": "1,2"}
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert event["headers"]["x-trace"] == "t1" and "connection" not in event["headers"]
    assert event["requestContext"]["http"]["path"] == "/orders/7"
    assert (event["body"], event["isBase64Encoded"]) == ('{"item": "book"}', False)
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["requestId"] == headers["x-amzn-requestid"]
    assert reply["arn"] == f"{ARN}:{name}"

    # The same URL by its host name: the Host header names the url-id.
    host = urlsplit(url).netloc
    status, _, _, body = request(server, "GET", "/by/host?kind=plain", headers={"Host": host})
    assert status == 200 and json.loads(body)["event"]["rawPath"] == "/by/host"

    # Byte for byte as AWS: a string is the body itself, other JSON values are sent compactly.
    status, headers, _, body = request(server, "GET", base + "?kind=string")
    assert (status, headers["content-type"], body) == (200, "application/json", b"Hello, world!")
    status, headers, _, body = request(server, "GET", base + "?kind=list")
    assert (status, body) == (200, '["hello",3,true,"\u00e9"]'.encode())
    status, headers, cookies, body = request(server, "GET", base + "?kind=custom")
    assert (status, headers["content-type"], headers["x-custom"], body) == (
        201,
        "text/plain",
        "yes",
        b"created",
    )
    assert cookies == ["a=1; Max-Age=60", "b=2"]
    status, headers, _, body = request(server, "GET", base + "?kind=binary")
    assert (status, headers["content-type"], body) == (200, "image/png", b"\x89PNG")
    status, _, _, body = request(server, "GET", base + "?kind=fail")
    assert (status, body) == (502, b"Internal Server Error")
    status, headers, _, body = request(server, "GET", "/_lamina/urls/" + "z" * 32 + "/")
    assert (status, body) == (403, b'{"Message":null}')
    assert (headers["content-type"], headers["x-amzn-errortype"]) == (
        "application/json",
        "AccessDeniedException",
    )


def test_aws_iam_urls_need_a_signed_request(
    server: RunningServer, lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy({"app.py": ECHO})
    url = lambda_client.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    path = url_path(url) + "secure?kind=plain"
    status, _, _, body = request(server, "GET", path)
    assert (status, json.loads(body)) == (403, {"Message": "Forbidden"})

    signed = AWSRequest(method="GET", url=f"{server.endpoint}{path}")
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "lambda", "us-east-1").add_auth(signed)
    status, _, _, body = request(server, "GET", path, headers=dict(signed.headers.items()))
    assert status == 200
    authorizer = json.loads(body)["event"]["requestContext"]["authorizer"]
    assert authorizer["iam"]["accessKey"] == ACCESS_KEY

    forged = dict(signed.headers.items())
    forged["Authorization"] = forged["Authorization"][:-4] + "0000"
    assert request(server, "GET", path, headers=forged)[0] == 403


def test_cors_preflight_and_response_headers(
    server: RunningServer, lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy({"app.py": ECHO})
    cors = {
        "AllowOrigins": ["https://app.example"],
        "AllowMethods": ["GET", "POST"],
        "AllowHeaders": ["content-type"],
        "ExposeHeaders": ["x-custom"],
        "MaxAge": 600,
    }
    url = public_url(lambda_client, name, Cors=cors)
    base = url_path(url)
    status, headers, _, body = request(
        server,
        "OPTIONS",
        base,
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert (status, body) == (200, b"")
    assert headers["access-control-allow-origin"] == "https://app.example"
    assert headers["access-control-allow-methods"] == "GET,POST"
    assert headers["access-control-max-age"] == "600"
    _, headers, _, _ = request(
        server, "GET", base + "?kind=custom", headers={"Origin": "https://app.example"}
    )
    assert headers["access-control-allow-origin"] == "https://app.example"
    assert headers["access-control-expose-headers"] == "x-custom"
    _, headers, _, _ = request(server, "GET", base + "?kind=custom", headers={"Origin": "https://evil.test"})
    assert "access-control-allow-origin" not in headers


def test_an_alias_url_runs_the_alias_and_goes_with_the_function(
    server: RunningServer, lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy({"app.py": ECHO}, Publish=True)
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    url = public_url(lambda_client, name, "live")
    status, _, _, body = request(server, "GET", url_path(url))
    assert status == 200 and json.loads(body)["arn"] == f"{ARN}:{name}:live"
    lambda_client.delete_alias(FunctionName=name, Name="live")
    assert request(server, "GET", url_path(url))[0] == 403  # its URL went with it: an unknown url-id
    other = f"url-{uuid.uuid4().hex[:8]}"
    deploy({"app.py": ECHO}, FunctionName=other)
    kept = public_url(lambda_client, other)
    lambda_client.delete_function(FunctionName=other)
    assert request(server, "GET", url_path(kept))[0] == 403


def test_responses_that_would_break_the_wire_are_refused(
    server: RunningServer, lambda_client: Any, deploy: Callable[..., str]
) -> None:
    """The issue's response splitting, a header outside Latin-1 (which used to hang the client)
    and a status outside 100-599 all become AWS's 502; the function's framing headers give way
    to the server's own."""
    name = deploy({"app.py": ECHO})
    base = url_path(public_url(lambda_client, name))
    for kind in ("inject", "snowman", "status"):
        wire = raw_request(server, base + f"?kind={kind}")
        head, _, body = wire.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 502 "), (kind, wire[:300])
        assert b"X-Injected" not in wire and head.lower().count(b"content-length") == 1
        assert body == b"Internal Server Error"
    # Why is written to the function's own log, where its owner looks.
    logs = server.client("logs")
    deadline = time.monotonic() + 20
    reasons: list[str] = []
    while len(reasons) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
        events = logs.filter_log_events(
            logGroupName=f"/aws/lambda/{name}", filterPattern='"Function URL response could not be sent"'
        )["events"]
        reasons = [event["message"] for event in events]
    assert len(reasons) == 3, reasons
    assert any("CR, LF or NUL" in reason for reason in reasons)
    assert any("ISO-8859-1" in reason for reason in reasons)
    wire = raw_request(server, base + "?kind=framing")
    head, _, body = wire.partition(b"\r\n\r\n")
    lines = [line.lower() for line in head.split(b"\r\n")]
    assert lines[0].startswith(b"http/1.1 200") and body == b"hello"
    assert b"content-length: 5" in lines and b"x-kept: yes" in lines
    assert not any(line.startswith(b"transfer-encoding") for line in lines)
    assert sum(line.startswith(b"connection:") for line in lines) == 1  # the server's own: we asked to close


def test_a_huge_header_is_refused_with_431(server: RunningServer) -> None:
    """The issue's 32 MiB header: refused after the first 64 KiB or so, not accepted and served."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(b"GET /_lamina/health HTTP/1.1\r\nHost: h\r\nX-Big: ")
        try:
            for _ in range(512):  # 32 MiB
                sock.sendall(b"v" * 65536)
        except OSError:
            pass  # refused and closed while we were still sending
        received = sock.recv(65536)
    assert received.startswith(b"HTTP/1.1 431 ")
