"""Every API request must carry a valid SigV4 signature by a known key (real server, real signer)."""

from __future__ import annotations

import datetime
import json
import urllib.error
import urllib.request
from email.message import Message
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support.server import ACCESS_KEY, SECRET_KEY, RunningServer


def _send(request: urllib.request.Request) -> tuple[int, Message, dict[str, Any]]:
    """Status, headers (case-insensitive) and JSON body, for success and error responses alike."""
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, json.loads(error.read() or b"{}")


def _signed(
    server: RunningServer,
    path: str,
    *,
    secret: str = SECRET_KEY,
    key: str = ACCESS_KEY,
    when: datetime.datetime | None = None,
    body: bytes = b"",
    method: str = "GET",
) -> AWSRequest:
    request = AWSRequest(method=method, url=f"{server.endpoint}{path}", data=body)
    signer = SigV4Auth(Credentials(key, secret), "lambda", "us-east-1")
    if when is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            signer.add_auth(request)
    return request


def _to_urllib(request: AWSRequest) -> urllib.request.Request:
    prepared = request.prepare()
    return urllib.request.Request(
        prepared.url,
        data=prepared.body or None,
        method=prepared.method,
        headers=dict(prepared.headers.items()),
    )


def test_unsigned_request_is_missing_authentication_token(server: RunningServer) -> None:
    status, headers, body = _send(urllib.request.Request(f"{server.endpoint}/2015-03-31/functions/"))
    assert status == 403
    assert headers["x-amzn-ErrorType"].split(":")[0] == "MissingAuthenticationTokenException"
    assert body["message"] == "Missing Authentication Token"


def test_wrong_secret_is_invalid_signature(server: RunningServer) -> None:
    client = boto3.client(
        "lambda",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key="wrong-secret",
    )
    with pytest.raises(ClientError) as failure:
        client.list_functions()
    assert failure.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unknown_access_key_is_unrecognized_client(server: RunningServer) -> None:
    client = boto3.client(
        "lambda",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="LKIAUNKNOWNKEY000000",
        aws_secret_access_key=SECRET_KEY,
    )
    with pytest.raises(ClientError) as failure:
        client.list_functions()
    assert failure.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert (
        failure.value.response["Error"]["Message"] == "The security token included in the request is invalid."
    )
    assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_tampered_body_fails_signature(server: RunningServer) -> None:
    request = _signed(server, "/2015-03-31/functions/nothing/invocations", body=b'{"a": 1}', method="POST")
    prepared = _to_urllib(request)
    prepared.data = b'{"a": 2}'
    status, headers, _ = _send(prepared)
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "InvalidSignatureException"


def test_signature_older_than_fifteen_minutes_is_rejected(server: RunningServer) -> None:
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    recent = _send(
        _to_urllib(_signed(server, "/2015-03-31/functions/", when=now - datetime.timedelta(minutes=10)))
    )
    assert recent[0] == 200
    status, headers, body = _send(
        _to_urllib(_signed(server, "/2015-03-31/functions/", when=now - datetime.timedelta(minutes=20)))
    )
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert "Signature expired" in body["message"]


def test_presigned_query_string_request_is_accepted(server: RunningServer) -> None:
    client = server.client("lambda")
    url = client.generate_presigned_url("list_functions", ExpiresIn=60)
    assert "X-Amz-Signature=" in url
    status, _, body = _send(urllib.request.Request(url))
    assert status == 200
    assert "Functions" in body
    tampered = url.replace("X-Amz-Expires=60", "X-Amz-Expires=61")
    assert _send(urllib.request.Request(tampered))[0] == 403


def test_health_needs_no_credentials(server: RunningServer) -> None:
    assert server.health()["status"] == "ok"
