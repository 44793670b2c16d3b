"""S3's signature version 2, with botocore's own signers as the oracle: `HmacV1Auth` for the
Authorization header, `HmacV1QueryAuth` for presigned URLs, and a boto3 client configured with
`signature_version="s3"` (whose requests are captured before they reach the network) for what a
real SDK sends, path-style and virtual-hosted."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import boto3
import botocore.config
import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest, AWSResponse
from botocore.credentials import Credentials

from lamina.errors import AwsError
from lamina.protocol.model import load_service_model
from lamina.protocol.s3_routing import S3Router
from lamina.protocol.sigv2 import SigV2Request, SigV2Verifier, is_sigv2

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CREDENTIALS = Credentials(ACCESS_KEY, SECRET_KEY)
ENDPOINT = "http://localhost:4566"
ROUTER = S3Router(load_service_model("s3"))


def lookup_secret(access_key_id: str) -> str | None:
    return SECRET_KEY if access_key_id == ACCESS_KEY else None


def verifier(offset_seconds: float = 0.0) -> SigV2Verifier:
    return SigV2Verifier(lookup_secret, clock=lambda: time.time() + offset_seconds)


def on_the_wire(method: str, url: str, headers: Any) -> SigV2Request:
    """What the server receives for a request botocore signed (names lower-cased, Host added)."""
    parts = urlsplit(url)
    received = {
        name.lower(): value.decode("latin-1") if isinstance(value, bytes) else str(value)
        for name, value in headers.items()
    }
    received.setdefault("host", parts.netloc)
    return SigV2Request(method, parts.path, parts.query, received, ROUTER.bucket_of_host(received["host"]))


def header_signed(
    method: str, url: str, headers: dict[str, str] | None = None, credentials: Credentials = CREDENTIALS
) -> SigV2Request:
    request = AWSRequest(method, url, headers=headers or {})
    HmacV1Auth(credentials).add_auth(request)
    return on_the_wire(method, request.url, request.headers)


def presigned(
    method: str, url: str, expires: int = 3600, headers: dict[str, str] | None = None
) -> SigV2Request:
    request = AWSRequest(method, url, headers=headers or {})
    HmacV1QueryAuth(CREDENTIALS, expires=expires).add_auth(request)
    return on_the_wire(method, request.url, {})  # a browser sends the URL alone


def refused(request: SigV2Request, check: SigV2Verifier | None = None) -> AwsError:
    with pytest.raises(AwsError) as raised:
        (check or verifier()).verify(request)
    return raised.value


def with_path(request: SigV2Request, raw_path: str) -> SigV2Request:
    return SigV2Request(
        request.method, raw_path, request.query_string, request.headers, request.bucket_of_host
    )


# --------------------------------------------------------------------------- detection


def test_is_sigv2() -> None:
    assert is_sigv2({"authorization": "AWS AKID:sig"}, "")
    assert is_sigv2({}, "AWSAccessKeyId=AKID&Expires=1&Signature=x")
    assert not is_sigv2({"authorization": "AWS4-HMAC-SHA256 Credential=..."}, "")
    assert not is_sigv2({}, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=x")
    assert not is_sigv2({}, "")


# --------------------------------------------------------------------------- header auth


@pytest.mark.parametrize(
    ("method", "url", "headers"),
    [
        ("GET", f"{ENDPOINT}/bucket/key", {}),
        ("GET", f"{ENDPOINT}/", {}),
        (
            "PUT",
            f"{ENDPOINT}/bucket/dir/a%20b%2Bc",
            {"Content-Type": "text/plain", "Content-MD5": "XrY7u+Ae7tCTyyK7j1rNww=="},
        ),
        ("PUT", f"{ENDPOINT}/bucket/k", {"x-amz-meta-colour": "blue", "X-Amz-Storage-Class": "STANDARD"}),
        ("PUT", f"{ENDPOINT}/bucket/k?partNumber=2&uploadId=abc", {}),
        ("GET", f"{ENDPOINT}/bucket/k?versionId=v1&response-content-type=text%2Fplain", {}),
        ("GET", f"{ENDPOINT}/bucket/?prefix=a%2F&max-keys=3", {}),  # listing params are not signed
        ("DELETE", f"{ENDPOINT}/bucket/k?tagging", {}),
        ("POST", f"{ENDPOINT}/bucket/k?uploads", {}),
    ],
)
def test_header_signed_requests_verify(method: str, url: str, headers: dict[str, str]) -> None:
    assert verifier().verify(header_signed(method, url, headers)) == ACCESS_KEY


def test_session_token_header_is_signed() -> None:
    credentials = Credentials(ACCESS_KEY, SECRET_KEY, token="session-token")
    request = header_signed("GET", f"{ENDPOINT}/bucket/k", credentials=credentials)
    assert request.headers["x-amz-security-token"] == "session-token"
    assert verifier().verify(request) == ACCESS_KEY
    changed = dict(request.headers, **{"x-amz-security-token": "other"})
    assert refused(SigV2Request("GET", request.raw_path, "", changed, None)).code == "SignatureDoesNotMatch"


def mismatch(request: SigV2Request) -> None:
    error = refused(request)
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)


def test_changed_path_fails() -> None:
    mismatch(with_path(header_signed("GET", f"{ENDPOINT}/bucket/key"), "/bucket/other"))


def test_changed_method_fails() -> None:
    request = header_signed("GET", f"{ENDPOINT}/bucket/key")
    mismatch(SigV2Request("DELETE", request.raw_path, "", request.headers, None))


def test_changed_signed_subresource_fails() -> None:
    request = header_signed("PUT", f"{ENDPOINT}/bucket/k?partNumber=1&uploadId=abc")
    mismatch(SigV2Request("PUT", request.raw_path, "partNumber=2&uploadId=abc", request.headers, None))


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("content-type", "text/html"),
        ("content-md5", "AAAAAAAAAAAAAAAAAAAAAA=="),
        ("x-amz-meta-colour", "red"),
    ],
)
def test_changed_signed_header_fails(header: str, value: str) -> None:
    request = header_signed(
        "PUT",
        f"{ENDPOINT}/bucket/k",
        {
            "Content-Type": "text/plain",
            "Content-MD5": "XrY7u+Ae7tCTyyK7j1rNww==",
            "x-amz-meta-colour": "blue",
        },
    )
    mismatch(SigV2Request("PUT", request.raw_path, "", {**request.headers, header: value}, None))


def test_added_amz_header_fails() -> None:
    request = header_signed("PUT", f"{ENDPOINT}/bucket/k")
    mismatch(SigV2Request("PUT", request.raw_path, "", {**request.headers, "x-amz-acl": "public-read"}, None))


def test_wrong_secret_fails() -> None:
    mismatch(
        header_signed("GET", f"{ENDPOINT}/bucket/k", credentials=Credentials(ACCESS_KEY, "not the secret"))
    )


def test_unknown_key_is_invalid_access_key_id() -> None:
    request = header_signed("GET", f"{ENDPOINT}/bucket/k", credentials=Credentials("AKIDUNKNOWN", SECRET_KEY))
    error = refused(request)
    assert (error.code, error.status) == ("InvalidAccessKeyId", 403)


@pytest.mark.parametrize("offset", [3600, -3600])
def test_skewed_clock_is_request_time_too_skewed(offset: float) -> None:
    error = refused(header_signed("GET", f"{ENDPOINT}/bucket/k"), verifier(offset))
    assert (error.code, error.status) == ("RequestTimeTooSkewed", 403)


def test_within_fifteen_minutes_is_accepted() -> None:
    assert verifier(600).verify(header_signed("GET", f"{ENDPOINT}/bucket/k")) == ACCESS_KEY


def test_missing_date_is_access_denied() -> None:
    request = header_signed("GET", f"{ENDPOINT}/bucket/k")
    headers = {name: value for name, value in request.headers.items() if name != "date"}
    error = refused(SigV2Request("GET", request.raw_path, "", headers, None))
    assert (error.code, error.status) == ("AccessDenied", 403)


# --------------------------------------------------------------------------- presigned URLs


def test_presigned_url_verifies() -> None:
    request = presigned("GET", f"{ENDPOINT}/bucket/dir/a%20b")
    assert {"AWSAccessKeyId", "Signature", "Expires"} <= dict(parse_qsl(request.query_string)).keys()
    assert verifier().verify(request) == ACCESS_KEY


def test_presigned_url_with_subresources_and_amz_headers() -> None:
    request = presigned(
        "PUT",
        f"{ENDPOINT}/bucket/k?partNumber=3&uploadId=u-1",
        headers={"Content-Type": "application/octet-stream", "x-amz-meta-colour": "blue"},
    )
    assert verifier().verify(request) == ACCESS_KEY


def test_presigned_url_changed_path_fails() -> None:
    mismatch(with_path(presigned("GET", f"{ENDPOINT}/bucket/key"), "/bucket/other"))


def test_presigned_url_changed_expiry_fails() -> None:
    request = presigned("GET", f"{ENDPOINT}/bucket/key")
    query = dict(parse_qsl(request.query_string))
    query["Expires"] = str(int(query["Expires"]) + 3600)
    extended = "&".join(f"{name}={value}" for name, value in query.items())
    # The signature is percent-encoded in the URL; re-encode it the same way.
    extended = extended.replace(
        f"Signature={query['Signature']}", "Signature=" + quote(query["Signature"], safe="")
    )
    mismatch(SigV2Request("GET", request.raw_path, extended, request.headers, None))


def test_expired_presigned_url_is_access_denied() -> None:
    error = refused(presigned("GET", f"{ENDPOINT}/bucket/key", expires=60), verifier(120))
    assert (error.code, error.message, error.status) == ("AccessDenied", "Request has expired", 403)


def test_presigned_url_is_good_until_it_expires() -> None:
    assert verifier(50).verify(presigned("GET", f"{ENDPOINT}/bucket/key", expires=60)) == ACCESS_KEY


def test_presigned_url_with_unknown_key_is_invalid_access_key_id() -> None:
    request = AWSRequest("GET", f"{ENDPOINT}/bucket/key")
    HmacV1QueryAuth(Credentials("AKIDUNKNOWN", SECRET_KEY)).add_auth(request)
    assert refused(on_the_wire("GET", request.url, {})).code == "InvalidAccessKeyId"


def test_presigned_url_without_expires_is_access_denied() -> None:
    request = SigV2Request("GET", "/bucket/key", f"AWSAccessKeyId={ACCESS_KEY}&Signature=abc", {}, None)
    assert refused(request).code == "AccessDenied"


# --------------------------------------------------------------------------- virtual-hosted


def test_virtual_hosted_request_verifies_against_path_style_auth_path() -> None:
    request = AWSRequest("GET", "http://bucket.s3.localhost:4566/dir/key", headers={})
    request.auth_path = "/bucket/dir/key"
    HmacV1Auth(CREDENTIALS).add_auth(request)
    received = on_the_wire("GET", request.url, request.headers)
    assert received.bucket_of_host == "bucket"
    assert verifier().verify(received) == ACCESS_KEY
    # Without knowing the host's bucket, the same request does not verify.
    mismatch(SigV2Request("GET", received.raw_path, "", received.headers, None))


def test_virtual_hosted_bucket_root_verifies() -> None:
    request = AWSRequest("GET", "http://bucket.localhost:4566/?acl", headers={})
    request.auth_path = "/bucket/"
    HmacV1Auth(CREDENTIALS).add_auth(request)
    assert verifier().verify(on_the_wire("GET", request.url, request.headers)) == ACCESS_KEY


def test_virtual_hosted_presigned_url_verifies() -> None:
    request = AWSRequest("GET", "http://bucket.localhost:4566/k%20y", headers={})
    request.auth_path = "/bucket/k%20y"
    HmacV1QueryAuth(CREDENTIALS, expires=300).add_auth(request)
    assert verifier().verify(on_the_wire("GET", request.url, {})) == ACCESS_KEY


# --------------------------------------------------------------------------- a real boto3 client


class _RawBody(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


class CapturingClient:
    """A boto3 S3 client signing with SigV2 whose requests are captured instead of sent."""

    def __init__(self, addressing_style: str) -> None:
        session = boto3.session.Session(
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name="us-east-1"
        )
        config = botocore.config.Config(
            signature_version="s3",
            s3={"addressing_style": addressing_style},
            retries={"total_max_attempts": 1, "mode": "standard"},
        )
        self.client = session.client("s3", endpoint_url=ENDPOINT, config=config)
        self.client.meta.events.register("before-send.s3", self._send)
        self.sent: list[AWSPreparedRequest] = []

    def _send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        self.sent.append(request)
        return AWSResponse(request.url, 200, {}, _RawBody(b""))

    def request(self, call: Callable[[Any], Any]) -> SigV2Request:
        # The empty answer may not parse: only the request matters here.
        with contextlib.suppress(Exception):
            call(self.client)
        prepared = self.sent[-1]
        return on_the_wire(prepared.method, prepared.url, prepared.headers)


CALLS: dict[str, Callable[[Any], Any]] = {
    "PutObject": lambda c: c.put_object(Bucket="bucket", Key="dir/a b+c", Body=b"x", Metadata={"k": "v"}),
    "GetObject": lambda c: c.get_object(
        Bucket="bucket", Key="k", VersionId="v+1", ResponseContentType="text/plain"
    ),
    "ListObjectsV2": lambda c: c.list_objects_v2(Bucket="bucket", Prefix="p/"),
    "ListObjects": lambda c: c.list_objects(Bucket="bucket"),
    "CreateBucket": lambda c: c.create_bucket(Bucket="bucket"),
    "HeadBucket": lambda c: c.head_bucket(Bucket="bucket"),
    "GetBucketLocation": lambda c: c.get_bucket_location(Bucket="bucket"),
    "DeleteObjects": lambda c: c.delete_objects(Bucket="bucket", Delete={"Objects": [{"Key": "a"}]}),
    "CreateMultipartUpload": lambda c: c.create_multipart_upload(Bucket="bucket", Key="k"),
}


@pytest.mark.parametrize("addressing_style", ["path", "virtual"])
@pytest.mark.parametrize("operation", sorted(CALLS))
def test_boto3_sigv2_requests_verify(addressing_style: str, operation: str) -> None:
    request = CapturingClient(addressing_style).request(CALLS[operation])
    assert request.headers["authorization"].startswith(f"AWS {ACCESS_KEY}:")
    assert verifier().verify(request) == ACCESS_KEY


@pytest.mark.parametrize("addressing_style", ["path", "virtual"])
def test_boto3_presigned_urls_verify(addressing_style: str) -> None:
    client = CapturingClient(addressing_style).client
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": "bucket", "Key": "a b/c"}, ExpiresIn=60
    )
    assert "AWSAccessKeyId=" in url
    assert verifier().verify(on_the_wire("GET", url, {})) == ACCESS_KEY
    error = refused(on_the_wire("GET", url, {}), verifier(120))
    assert error.message == "Request has expired"
