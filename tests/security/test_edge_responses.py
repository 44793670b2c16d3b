"""Issue 12, attack 8: function URL responses that broke the edge.

A function decides its URL's status, headers, cookies and body. Once, a non-Latin-1 header value
left the client hanging (the serving task died on the encoding) and a statusCode of 99999 or -1, or
CR/LF in a header name, went out as a malformed response. Whatever a function returns, the caller
now gets a well-formed HTTP/1.1 response at once: the function's own when HTTP can carry it, else
502 with the body `Internal Server Error` (what Lambda answers for a result it cannot map),
and the connection stays usable for the next request.
"""

from __future__ import annotations

import re
import socket
import uuid
from typing import Any

import pytest

from tests.security.conftest import create_function
from tests.support.lambda_calls import allow_everyone
from tests.support.server import RunningServer

# Each case: what the function returns for `?kind=<case>`.
RESULTS = r"""
import json

BIG = "v" * (96 * 1024)
CASES = {
    "ok": {"statusCode": 200, "body": "fine"},
    "snowman_value": {"statusCode": 200, "headers": {"X-A": "\u2603"}, "body": "hi"},
    "snowman_name": {"statusCode": 200, "headers": {"X-\u2603": "1"}, "body": "hi"},
    "snowman_cookie": {"statusCode": 200, "cookies": ["a=\u2603"], "body": "hi"},
    "status_99999": {"statusCode": 99999, "body": "hi"},
    "status_minus_1": {"statusCode": -1, "body": "hi"},
    "status_0": {"statusCode": 0, "body": "hi"},
    "status_100": {"statusCode": 100, "body": "hi"},
    "status_101": {"statusCode": 101, "body": "hi"},
    "status_text": {"statusCode": "teapot", "body": "hi"},
    "status_null": {"statusCode": None, "body": "hi"},
    "status_true": {"statusCode": True, "body": "hi"},
    "status_fraction": {"statusCode": 200.5, "body": "hi"},
    "status_huge": {"statusCode": 10 ** 30, "body": "hi"},
    "crlf_name": {"statusCode": 200, "headers": {"X-A\r\nX-Injected": "yes"}, "body": "hi"},
    "lf_name": {"statusCode": 200, "headers": {"X-A\nX-Injected": "yes"}, "body": "hi"},
    "crlf_value": {"statusCode": 200, "headers": {"X-A": "1\r\nX-Injected: yes"}, "body": "hi"},
    "cr_value": {"statusCode": 200, "headers": {"X-A": "1\rX-Injected: yes"}, "body": "hi"},
    "nul_value": {"statusCode": 200, "headers": {"X-A": "1\u0000"}, "body": "hi"},
    "colon_name": {"statusCode": 200, "headers": {"X-A: injected": "1"}, "body": "hi"},
    "space_name": {"statusCode": 200, "headers": {"X A": "1"}, "body": "hi"},
    "empty_name": {"statusCode": 200, "headers": {"": "1"}, "body": "hi"},
    "crlf_cookie": {"statusCode": 200, "cookies": ["a=1\r\nX-Injected: yes"], "body": "hi"},
    "object_value": {"statusCode": 200, "headers": {"X-A": {"nested": 1}}, "body": "hi"},
    "headers_list": {"statusCode": 200, "headers": ["X-A", "1"], "body": "hi"},
    "bad_base64": {"statusCode": 200, "body": "***", "isBase64Encoded": True},
    "huge_header": {"statusCode": 200, "headers": {"X-Big": BIG}, "body": "hi"},
    "many_headers": {"statusCode": 200, "headers": {f"X-{i}": "1" for i in range(2000)}, "body": "hi"},
    "framing": {"statusCode": 200, "headers": {"Content-Length": "0", "Transfer-Encoding": "chunked",
                "Connection": "close"}, "body": "hello"},
    "no_content_with_body": {"statusCode": 204, "body": "dropped"},
    "status_as_text": {"statusCode": "201", "body": "created"},
    "latin1_value": {"statusCode": 200, "headers": {"X-A": "caf\u00e9"}, "body": "hi"},
}


def handler(event, context):
    return CASES[event["queryStringParameters"]["kind"]]
"""

# (case, the status the caller gets, the body it gets: None = the function's own)
FAILED = (502, b"Internal Server Error")
EXPECTED: dict[str, tuple[int, bytes | None]] = {
    "ok": (200, b"fine"),
    "snowman_value": FAILED,
    "snowman_name": FAILED,
    "snowman_cookie": FAILED,
    "status_99999": FAILED,
    "status_minus_1": FAILED,
    "status_0": FAILED,
    "status_100": FAILED,
    "status_101": FAILED,
    "status_text": FAILED,
    "status_null": FAILED,
    "status_true": FAILED,
    "status_fraction": FAILED,
    "status_huge": FAILED,
    "crlf_name": FAILED,
    "lf_name": FAILED,
    "crlf_value": FAILED,
    "cr_value": FAILED,
    "nul_value": FAILED,
    "colon_name": FAILED,
    "space_name": FAILED,
    "empty_name": FAILED,
    "crlf_cookie": FAILED,
    "object_value": FAILED,
    "headers_list": FAILED,
    "bad_base64": FAILED,
    "huge_header": FAILED,
    "many_headers": FAILED,
    "framing": (200, b"hello"),
    "no_content_with_body": (204, b""),
    "status_as_text": (201, b"created"),
    "latin1_value": (200, b"hi"),
}

_STATUS_LINE = re.compile(rb"HTTP/1\.1 ([2-5][0-9]{2}) [\x20-\x7e]*")
_HEADER_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+): ([\x20-\x7e\x80-\xff\t]*)")
# What a strict client accepts in a response head (http.client: 100 headers, 64 KiB lines).
_MAX_HEAD_BYTES = 64 * 1024


def _read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One response, read strictly: a malformed head fails the test; no answer in time fails too."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before a whole head: {bytes(buffer[:200])!r}"
        buffer += chunk
        assert len(buffer) < 4 * _MAX_HEAD_BYTES or b"\r\n\r\n" in buffer, "an endless head"
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    assert len(head) <= _MAX_HEAD_BYTES, f"a head of {len(head)} bytes"
    status_line, *lines = head.split(b"\r\n")
    matched = _STATUS_LINE.fullmatch(status_line)
    assert matched, f"malformed status line {status_line!r}"
    assert len(lines) <= 100, f"{len(lines)} header lines"
    headers: dict[str, str] = {}
    for line in lines:
        header = _HEADER_LINE.fullmatch(line)
        assert header, f"malformed header line {line!r}"
        name = header.group(1).decode().lower()
        assert name not in ("x-injected", "transfer-encoding"), f"injected or framing header {line!r}"
        headers[name] = header.group(2).decode("latin-1")
    status = int(matched.group(1))
    length = 0 if status in (204, 304) else int(headers["content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed inside the body"
        rest += chunk
    del buffer[:]
    buffer += rest[length:]
    return status, headers, rest[:length]


@pytest.fixture(scope="module")
def url_path(tier_server: RunningServer) -> str:
    client = tier_server.client("lambda")
    name = create_function(
        tier_server, {"app.py": RESULTS}, "app.handler", FunctionName=f"edge-{uuid.uuid4().hex[:8]}"
    )
    url = client.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    allow_everyone(client, name)
    return "/_lamina/urls/" + url.split("//", 1)[1].split(".", 1)[0] + "/"


def test_every_result_becomes_a_well_formed_response_on_a_connection_that_stays_usable(
    tier_server: RunningServer, url_path: str
) -> None:
    answers: dict[str, Any] = {}
    with socket.create_connection(("127.0.0.1", tier_server.port), timeout=30) as sock:
        buffer = bytearray()
        for kind in EXPECTED:
            # Each case, then a plain request on the same connection: the stream is still in step.
            for asked in (kind, "ok"):
                sock.sendall(f"GET {url_path}?kind={asked} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                status, headers, body = _read_response(sock, buffer)
                if asked == kind:
                    answers[kind] = (status, body)
                else:
                    assert (status, body) == (200, b"fine"), (kind, status, body)
            if kind == "framing":
                assert answers[kind] == (200, b"hello") and headers.get("connection") != "close"
    wrong = {
        kind: answers[kind]
        for kind, (status, body) in EXPECTED.items()
        if answers[kind][0] != status or (body is not None and answers[kind][1] != body)
    }
    assert wrong == {}, wrong
    assert tier_server.health()["status"] == "ok"
