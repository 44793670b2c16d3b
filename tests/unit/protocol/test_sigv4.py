"""SigV4 verification, with botocore's own signers as the oracle.

Every accepted request here was signed by botocore exactly as boto3 and the AWS CLI sign it;
we then hand the verifier what a server would see on the wire (path and query as sent, lower-
cased headers plus Host, body bytes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import botocore.auth
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import percent_encode_sequence
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.errors import AwsError
from lamina.protocol.sigv4 import CredentialScope, SignedRequest, SigV4Verifier, read_credential_scope

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
ENDPOINT = "http://127.0.0.1:9001"
# botocore reads the clock through botocore.auth.get_current_datetime (naive UTC).
SIGNED_AT = dt.datetime(2024, 1, 1, 0, 0, 0)
SIGNED_AT_EPOCH = SIGNED_AT.replace(tzinfo=dt.UTC).timestamp()
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
FUNCTION_ARN_PATH = (
    "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Amy-fn/invocations"
)

Signer = Callable[[Credentials, str, str], Any]


def lookup_secret(access_key_id: str) -> str | None:
    return SECRET_KEY if access_key_id == ACCESS_KEY else None


def verifier(offset_seconds: float = 0.0) -> SigV4Verifier:
    """A verifier whose clock reads SIGNED_AT plus an offset."""
    return SigV4Verifier(lookup_secret, clock=lambda: SIGNED_AT_EPOCH + offset_seconds)


@pytest.fixture(autouse=True)
def frozen_signing_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *args, **kwargs: SIGNED_AT)
    yield


def on_the_wire(
    prepared: AWSPreparedRequest, extra_headers: Mapping[str, str] | None = None
) -> SignedRequest:
    """What an HTTP server receives for a prepared botocore request."""
    parts = urlsplit(prepared.url)
    # The client holds some header values as bytes; a server decodes them as latin-1 (ASGI).
    headers = {
        name.lower(): value.decode("latin-1") if isinstance(value, bytes) else value
        for name, value in prepared.headers.items()
    }
    headers.setdefault("host", parts.netloc)
    headers.update(extra_headers or {})
    body = prepared.body or b""
    return SignedRequest(
        method=prepared.method,
        raw_path=parts.path,
        query_string=parts.query,
        headers=headers,
        body=body.encode() if isinstance(body, str) else body,
    )


def sign(
    method: str,
    target: str,
    *,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    params: list[tuple[str, str]] | None = None,
    service: str = "lambda",
    signer: Signer = SigV4Auth,
) -> SignedRequest:
    request = AWSRequest(
        method=method, url=ENDPOINT + target, data=body, headers=dict(headers or {}), params=params
    )
    signer(Credentials(ACCESS_KEY, SECRET_KEY), service, REGION).add_auth(request)
    return on_the_wire(request.prepare())


def presign(
    target: str,
    *,
    expires: int = 300,
    service: str = "lambda",
    signer: type[SigV4QueryAuth] = SigV4QueryAuth,
) -> SignedRequest:
    request = AWSRequest(method="GET", url=ENDPOINT + target)
    signer(Credentials(ACCESS_KEY, SECRET_KEY), service, REGION, expires=expires).add_auth(request)
    # A browser or curl adds headers of its own; they are not signed and must not matter.
    return on_the_wire(request.prepare(), {"user-agent": "curl/8.5.0", "accept": "*/*"})


def aws_error(request: SignedRequest, offset_seconds: float = 0.0) -> AwsError:
    with pytest.raises(AwsError) as caught:
        verifier(offset_seconds).verify(request)
    return caught.value


def expected_scope(service: str = "lambda") -> CredentialScope:
    return CredentialScope(access_key_id=ACCESS_KEY, date="20240101", region=REGION, service=service)


# --- accepted requests -------------------------------------------------------------------


def test_get_with_query_verifies() -> None:
    request = sign("GET", "/2015-03-31/functions/?MaxItems=10&FunctionVersion=ALL")
    assert verifier().verify(request) == expected_scope()


def test_post_with_json_body_verifies() -> None:
    request = sign(
        "POST", FUNCTION_ARN_PATH, body=b'{"hello": "world"}', headers={"Content-Type": "application/json"}
    )
    assert verifier().verify(request) == expected_scope()


@pytest.mark.parametrize(
    "path",
    [
        FUNCTION_ARN_PATH,
        "/",
        "/2015-03-31/functions/my%20fn%20with%20spaces/configuration",
        "/2015-03-31/functions/" + quote("ünïcødé-函数", safe="") + "/invocations",
        "/2015-03-31/functions/tilde~name/invocations",
        "/2015-03-31/functions/raw:colon@and!sub$delims/invocations",
        "/2015-03-31/functions/plus+sign%2Bencoded/invocations",
        "/2015-03-31/functions/slash%2Finside/invocations",
        "/a/./b/../c//d/",
        "/a/b/../../..",
        "//double//slashes",
    ],
)
def test_paths_verify_with_botocore_double_encoding(path: str) -> None:
    request = sign("POST", path, body=b"{}")
    assert verifier().verify(request) == expected_scope()


def test_s3_paths_are_signed_once_and_not_normalised() -> None:
    path = "/bucket/key%20with%20spaces/a//b/./c/../%E2%9C%93~"
    request = sign("PUT", path, body=b"object bytes", service="s3", signer=S3SigV4Auth)
    assert request.headers["x-amz-content-sha256"] == hashlib.sha256(b"object bytes").hexdigest()
    assert verifier().verify(request) == expected_scope("s3")


def test_s3_rules_apply_only_to_s3() -> None:
    # The same bytes, signed by the S3 signer but scoped to lambda, canonicalise differently.
    request = sign("GET", "/bucket/a%20b", service="lambda", signer=S3SigV4Auth)
    assert aws_error(request).code == "InvalidSignatureException"


def test_repeated_and_special_query_parameters_verify() -> None:
    query = percent_encode_sequence(
        [
            ("Marker", "b"),
            ("Marker", "a"),
            ("Marker", "a b+c/d=e&f"),
            ("empty", ""),
            ("ünï", "~!*'();:@$,?#[]%"),
        ]
    )
    request = sign("GET", "/2015-03-31/functions/?" + query)
    assert verifier().verify(request) == expected_scope()


def test_query_parameters_sent_form_encoded_verify() -> None:
    # AWSRequest(params=...) sends spaces as "+" (urlencode) but signs them as "%20";
    # AWS services read "+" in a query string as a space, and so do we.
    params = [("Qualifier", "a b"), ("Marker", "x+y"), ("Marker", "x y"), ("tilde", "~")]
    request = sign("GET", "/2015-03-31/functions/fn/configuration", params=params)
    assert "+" in request.query_string
    assert verifier().verify(request) == expected_scope()


def test_header_values_with_extra_whitespace_verify() -> None:
    headers = {"X-Amz-Meta-Note": "  several   spaces\tand tabs  ", "Content-Type": " application/json "}
    request = sign("POST", FUNCTION_ARN_PATH, body=b"{}", headers=headers)
    assert request.headers["x-amz-meta-note"] == "  several   spaces\tand tabs  "
    assert verifier().verify(request) == expected_scope()


def test_date_header_stands_in_for_x_amz_date() -> None:
    request = sign("GET", "/2015-03-31/functions/", headers={"Date": "placeholder"})
    assert "x-amz-date" not in request.headers
    assert request.headers["date"] == "Mon, 01 Jan 2024 00:00:00 -0000"
    assert verifier().verify(request) == expected_scope()


def test_unsigned_payload_header_skips_body_hashing() -> None:
    request = sign(
        "POST", FUNCTION_ARN_PATH, body=b"{}", headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    )
    tampered = replace(request, body=b"something else entirely")
    assert verifier().verify(tampered) == expected_scope()


def test_presigned_get_verifies() -> None:
    request = presign("/2015-03-31/functions/my-fn/configuration?Qualifier=%24LATEST", expires=300)
    assert "X-Amz-Signature=" in request.query_string
    assert "authorization" not in request.headers
    assert verifier(offset_seconds=299).verify(request) == expected_scope()


def test_presigned_s3_get_signs_unsigned_payload() -> None:
    request = presign("/bucket/some%20key", service="s3", signer=S3SigV4QueryAuth)
    assert verifier().verify(request) == expected_scope("s3")


def test_requests_from_the_real_client_verify() -> None:
    """Through boto3 itself: serializers, endpoint handling and signing, intercepted before send."""
    sent: list[AWSPreparedRequest] = []

    class Intercepted(Exception):
        pass

    def capture(request: AWSPreparedRequest, **kwargs: object) -> None:
        sent.append(request)
        raise Intercepted

    client = boto3.session.Session().client(
        "lambda",
        region_name=REGION,
        endpoint_url=ENDPOINT,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 0}),
    )
    client.meta.events.register("before-send.lambda", capture)
    calls: list[Callable[[], object]] = [
        lambda: client.invoke(
            FunctionName="arn:aws:lambda:us-east-1:000000000000:function:my-fn", Payload=b'{"k": "v"}'
        ),
        lambda: client.list_functions(Marker="next token/with=odd&chars ü", MaxItems=5),
        lambda: client.get_function(FunctionName="my-fn", Qualifier="$LATEST"),
    ]
    for call in calls:
        with pytest.raises(Intercepted):
            call()
    assert "%3A" in urlsplit(sent[0].url).path
    for prepared in sent:
        assert verifier().verify(on_the_wire(prepared)) == expected_scope()


def test_signing_key_cache_stays_bounded_and_correct() -> None:
    shared = verifier()
    for index in range(300):
        request = AWSRequest(method="GET", url=ENDPOINT + "/")
        SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "lambda", f"region-{index}").add_auth(request)
        assert shared.verify(on_the_wire(request.prepare())).region == f"region-{index}"
        assert shared.verify(on_the_wire(request.prepare())).region == f"region-{index}"


# --- tampering ---------------------------------------------------------------------------


def _signed_post() -> SignedRequest:
    return sign(
        "POST",
        FUNCTION_ARN_PATH + "?Qualifier=1",
        body=b'{"amount": 10}',
        headers={"Content-Type": "application/json", "X-Amz-Invocation-Type": "Event"},
    )


def _uppercase_signature(request: SignedRequest) -> str:
    head, _, signature = request.headers["authorization"].rpartition("Signature=")
    return f"{head}Signature={signature.upper()}"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda r: replace(r, body=b'{"amount": 99}'), id="body"),
        pytest.param(lambda r: replace(r, body=r.body + b" "), id="body-trailing-space"),
        pytest.param(lambda r: replace(r, raw_path=r.raw_path.replace("my-fn", "my-fm")), id="path"),
        pytest.param(lambda r: replace(r, raw_path=r.raw_path.replace("%3A", ":")), id="path-encoding"),
        pytest.param(lambda r: replace(r, query_string="Qualifier=2"), id="query"),
        pytest.param(lambda r: replace(r, query_string=""), id="query-dropped"),
        pytest.param(lambda r: replace(r, query_string="Qualifier=1&extra=1"), id="query-added"),
        pytest.param(lambda r: replace(r, method="PUT"), id="method"),
        pytest.param(
            lambda r: replace(r, headers={**r.headers, "x-amz-invocation-type": "RequestResponse"}),
            id="header",
        ),
        pytest.param(lambda r: replace(r, headers={**r.headers, "host": "evil.example"}), id="host"),
        pytest.param(
            lambda r: replace(r, headers={k: v for k, v in r.headers.items() if k != "content-type"}),
            id="signed-header-missing",
        ),
        pytest.param(
            lambda r: replace(
                r,
                headers={
                    **r.headers,
                    "authorization": r.headers["authorization"][:-1]
                    + ("0" if r.headers["authorization"][-1] != "0" else "1"),
                },
            ),
            id="signature",
        ),
        pytest.param(
            lambda r: replace(r, headers={**r.headers, "authorization": _uppercase_signature(r)}),
            id="signature-uppercase",
        ),
    ],
)
def test_tampered_requests_are_rejected(tamper: Callable[[SignedRequest], SignedRequest]) -> None:
    request = _signed_post()
    verifier().verify(request)
    error = aws_error(tamper(request))
    assert (error.code, error.status, error.message) == ("InvalidSignatureException", 403, MISMATCH)


def test_unsigned_headers_may_change() -> None:
    request = _signed_post()
    assert verifier().verify(replace(request, headers={**request.headers, "user-agent": "other"}))


def test_tampered_presigned_query_is_rejected() -> None:
    request = presign("/2015-03-31/functions/my-fn/configuration?Qualifier=1")
    tampered = replace(request, query_string=request.query_string.replace("Qualifier=1", "Qualifier=2"))
    assert aws_error(tampered).code == "InvalidSignatureException"
    longer = replace(
        request, query_string=request.query_string.replace("X-Amz-Expires=300", "X-Amz-Expires=3000")
    )
    assert aws_error(longer).code == "InvalidSignatureException"


def test_secret_is_checked_not_just_the_key_id() -> None:
    request = _signed_post()
    wrong_secret = SigV4Verifier(lambda key: "not the secret", clock=lambda: SIGNED_AT_EPOCH)
    with pytest.raises(AwsError) as caught:
        wrong_secret.verify(request)
    assert caught.value.code == "InvalidSignatureException"


# --- who is asking -----------------------------------------------------------------------


def test_unknown_access_key_is_unrecognized() -> None:
    request = AWSRequest(method="GET", url=ENDPOINT + "/2015-03-31/functions/")
    SigV4Auth(Credentials("AKIDUNKNOWN", SECRET_KEY), "lambda", REGION).add_auth(request)
    error = aws_error(on_the_wire(request.prepare()))
    assert (error.code, error.status, error.message) == (
        "UnrecognizedClientException",
        403,
        "The security token included in the request is invalid.",
    )


@pytest.mark.parametrize("query_string", ["", "Qualifier=1", "X-Amz-Credential=AKID%2F20240101%2Fus-east-1"])
def test_unsigned_request_is_missing_authentication_token(query_string: str) -> None:
    request = SignedRequest("GET", "/2015-03-31/functions/", query_string, {"host": "localhost"}, b"")
    error = aws_error(request)
    assert (error.code, error.status, error.message) == (
        "MissingAuthenticationTokenException",
        403,
        "Missing Authentication Token",
    )


# --- malformed signatures ----------------------------------------------------------------

GOOD_CREDENTIAL = f"{ACCESS_KEY}/20240101/us-east-1/lambda/aws4_request"
GOOD_SIGNATURE = "0" * 64


@pytest.mark.parametrize(
    ("authorization", "message_part"),
    [
        ("Bearer abc", "Unsupported AWS 'algorithm': 'Bearer'"),
        (f"AWS {ACCESS_KEY}:c2lnbmF0dXJl", "Unsupported AWS 'algorithm': 'AWS'"),
        ("", "Unsupported AWS 'algorithm'"),
        (
            f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}, SignedHeaders=host;x-amz-date",
            "Authorization header requires 'Signature' parameter.",
        ),
        (
            f"AWS4-HMAC-SHA256 SignedHeaders=host, Signature={GOOD_SIGNATURE}",
            "Authorization header requires 'Credential' parameter.",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}, Signature={GOOD_SIGNATURE}",
            "Authorization header requires 'SignedHeaders' parameter.",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20240101/us-east-1/lambda/aws5_request, "
            f"SignedHeaders=host, Signature={GOOD_SIGNATURE}",
            "valid terminator: 'aws4_request', not 'aws5_request'",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20240101/lambda/aws4_request, "
            f"SignedHeaders=host, Signature={GOOD_SIGNATURE}",
            "Credential should be scoped as",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/2024-01-01/us-east-1/lambda/aws4_request, "
            f"SignedHeaders=host, Signature={GOOD_SIGNATURE}",
            "valid date",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20240102/us-east-1/lambda/aws4_request, "
            f"SignedHeaders=host;x-amz-date, Signature={GOOD_SIGNATURE}",
            "Date in Credential scope does not match",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}, SignedHeaders=x-amz-date, Signature={GOOD_SIGNATURE}",
            "'Host' or ':authority' must be a 'SignedHeader'",
        ),
    ],
)
def test_malformed_authorization_is_incomplete(authorization: str, message_part: str) -> None:
    headers = {"host": "localhost", "x-amz-date": "20240101T000000Z", "authorization": authorization}
    error = aws_error(SignedRequest("GET", "/", "", headers, b""))
    assert (error.code, error.status) == ("IncompleteSignatureException", 400)
    assert message_part in error.message


def test_missing_date_is_incomplete() -> None:
    request = sign("GET", "/2015-03-31/functions/")
    headers = {k: v for k, v in request.headers.items() if k != "x-amz-date"}
    error = aws_error(replace(request, headers=headers))
    assert (error.code, error.status) == ("IncompleteSignatureException", 400)
    assert "requires existence of either a 'X-Amz-Date' or a 'Date' header" in error.message


@pytest.mark.parametrize("bad_date", ["2024-01-01T00:00:00Z", "20241301T000000Z", "", "20240101T000000"])
def test_malformed_date_is_incomplete(bad_date: str) -> None:
    request = sign("GET", "/2015-03-31/functions/")
    error = aws_error(replace(request, headers={**request.headers, "x-amz-date": bad_date}))
    assert (error.code, error.status) == ("IncompleteSignatureException", 400)


@pytest.mark.parametrize(
    ("drop", "message_part"),
    [
        ("X-Amz-Credential", "must include 'X-Amz-Credential'"),
        ("X-Amz-SignedHeaders", "must include 'X-Amz-SignedHeaders'"),
        ("X-Amz-Date", "must include 'X-Amz-Date'"),
        ("X-Amz-Signature", "must include 'X-Amz-Signature'"),
    ],
)
def test_presigned_missing_parameters_is_incomplete(drop: str, message_part: str) -> None:
    request = presign("/2015-03-31/functions/")
    kept = "&".join(p for p in request.query_string.split("&") if not p.startswith(drop + "="))
    error = aws_error(replace(request, query_string=kept))
    assert (error.code, error.status) == ("IncompleteSignatureException", 400)
    assert message_part in error.message


@pytest.mark.parametrize("expires", ["604801", "9" * 5000, "-1", "1e3", "٣"])
def test_presigned_invalid_expires_is_incomplete(expires: str) -> None:
    request = presign("/2015-03-31/functions/")
    query = request.query_string.replace("X-Amz-Expires=300", "X-Amz-Expires=" + quote(expires))
    assert aws_error(replace(request, query_string=query)).code == "IncompleteSignatureException"


def test_presigned_week_long_expiry_is_allowed() -> None:
    request = presign("/2015-03-31/functions/", expires=604_800)
    assert verifier(offset_seconds=604_800).verify(request) == expected_scope()


# --- time --------------------------------------------------------------------------------


@pytest.mark.parametrize("offset_seconds", [-900, -1, 0, 1, 900])
def test_skew_up_to_fifteen_minutes_is_accepted(offset_seconds: int) -> None:
    assert verifier(offset_seconds).verify(sign("GET", "/2015-03-31/functions/")) == expected_scope()


def test_old_signature_is_expired() -> None:
    error = aws_error(sign("GET", "/2015-03-31/functions/"), offset_seconds=25 * 60)
    assert (error.code, error.status, error.message) == (
        "InvalidSignatureException",
        403,
        "Signature expired: 20240101T000000Z is now earlier than 20240101T001000Z (20240101T002500Z - 15 min.)",
    )


def test_future_signature_is_not_yet_current() -> None:
    error = aws_error(sign("GET", "/2015-03-31/functions/"), offset_seconds=-16 * 60)
    assert (error.code, error.status, error.message) == (
        "InvalidSignatureException",
        403,
        "Signature not yet current: 20240101T000000Z is still later than 20231231T235900Z "
        "(20231231T234400Z + 15 min.)",
    )


def test_expired_presigned_url_is_rejected() -> None:
    request = presign("/2015-03-31/functions/", expires=3600)
    verifier(offset_seconds=3600).verify(request)
    error = aws_error(request, offset_seconds=3601)
    assert (error.code, error.status, error.message) == (
        "InvalidSignatureException",
        403,
        "Signature expired: 20240101T000000Z is now earlier than 20240101T000001Z (20240101T010001Z - 60 min.)",
    )


def test_presigned_url_from_the_future_is_rejected() -> None:
    error = aws_error(presign("/2015-03-31/functions/"), offset_seconds=-3600)
    assert error.code == "InvalidSignatureException"
    assert error.message.startswith("Signature not yet current:")


# --- payload hash ------------------------------------------------------------------------


def test_s3_body_not_matching_declared_hash_is_rejected() -> None:
    request = sign("PUT", "/bucket/key", body=b"original", service="s3", signer=S3SigV4Auth)
    error = aws_error(replace(request, body=b"tampered"))
    assert (error.code, error.status, error.message) == (
        "XAmzContentSHA256Mismatch",
        400,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    )


def test_declared_hash_is_what_gets_signed() -> None:
    wrong = hashlib.sha256(b"not the body").hexdigest()
    request = sign("POST", FUNCTION_ARN_PATH, body=b"{}", headers={"X-Amz-Content-SHA256": wrong})
    assert aws_error(request).code == "XAmzContentSHA256Mismatch"


def test_streaming_payload_marker_is_accepted_without_hashing() -> None:
    marker = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    request = sign(
        "PUT", "/bucket/key", body=b"chunked", service="s3", headers={"X-Amz-Content-SHA256": marker}
    )
    assert verifier().verify(request) == expected_scope("s3")


# --- read_credential_scope ---------------------------------------------------------------


def test_read_credential_scope_from_header() -> None:
    request = sign("GET", "/2015-03-31/functions/", service="logs")
    assert read_credential_scope(request.headers, request.query_string) == expected_scope("logs")


def test_read_credential_scope_from_presigned_query() -> None:
    request = presign("/bucket/key", service="s3", signer=S3SigV4QueryAuth)
    assert read_credential_scope(request.headers, request.query_string) == expected_scope("s3")


@pytest.mark.parametrize(
    ("headers", "query_string"),
    [
        ({}, ""),
        ({}, "X-Amz-Credential=garbage"),
        ({"authorization": "Bearer token"}, ""),
        ({"authorization": "AWS4-HMAC-SHA256 Credential=a/b/c"}, ""),
        ({"authorization": "AWS4-HMAC-SHA256 Credential=\udcff/2024\udcff/r/s/aws4_request"}, ""),
        ({}, "X-Amz-Credential=%FF%2F2024%2Fr%2Fs%2Faws4_request"),
    ],
)
def test_read_credential_scope_returns_none_when_unparseable(
    headers: dict[str, str], query_string: str
) -> None:
    assert read_credential_scope(headers, query_string) is None


# --- properties --------------------------------------------------------------------------

_PATH_SAFE_SETS = ["-._~", "/~", "-._~:@!$&'()*+,;="]
_text = st.text(st.characters(codec="utf-8"), max_size=12)


@st.composite
def _request_targets(draw: st.DrawFn) -> str:
    safe = draw(st.sampled_from(_PATH_SAFE_SETS))
    segments = draw(st.lists(_text, max_size=4))
    path = "/" + "/".join(quote(segment, safe=safe) for segment in segments)
    params = draw(st.lists(st.tuples(_text, _text), max_size=4))
    return path + ("?" + percent_encode_sequence(params) if params else "")


@settings(deadline=None, max_examples=150)
@given(target=_request_targets(), body=st.binary(max_size=64), method=st.sampled_from(["GET", "POST", "PUT"]))
def test_botocore_signed_requests_verify_and_body_changes_fail(target: str, body: bytes, method: str) -> None:
    request = sign(method, target, body=body)
    assert verifier().verify(request) == expected_scope()
    changed = bytearray(body or b"\x00")
    changed[0] ^= 0x01
    with pytest.raises(AwsError) as caught:
        verifier().verify(replace(request, body=bytes(changed)))
    assert caught.value.code == "InvalidSignatureException"


@settings(deadline=None, max_examples=100)
@given(params=st.lists(st.tuples(_text, _text), min_size=1, max_size=4))
def test_form_encoded_params_verify(params: list[tuple[str, str]]) -> None:
    request = sign("GET", "/2015-03-31/functions/", params=params)
    assert verifier().verify(request) == expected_scope()


_FRAGMENTS = [
    "AWS4-HMAC-SHA256 ",
    "Credential=",
    GOOD_CREDENTIAL,
    "SignedHeaders=",
    "host;x-amz-date",
    "Signature=",
    GOOD_SIGNATURE,
    "X-Amz-Algorithm=AWS4-HMAC-SHA256",
    "X-Amz-Credential=",
    "X-Amz-Signature=",
    "X-Amz-Expires=",
    "X-Amz-Date=20240101T000000Z",
    "20240101T000000Z",
    ",",
    ";",
    "&",
    "=",
    "/",
    "%",
    "%FF",
    "+",
    " ",
    "\t",
    "é",
    "\udc80",
    "\ud800",
    "\x00",
    "9" * 30,
]
_garbage = st.one_of(st.text(max_size=40), st.lists(st.sampled_from(_FRAGMENTS), max_size=10).map("".join))


@settings(deadline=None, max_examples=400)
@given(
    method=_garbage,
    raw_path=_garbage,
    query_string=_garbage,
    headers=st.dictionaries(
        st.sampled_from(["authorization", "x-amz-date", "date", "host", "x-amz-content-sha256", "x-custom"]),
        _garbage,
    ),
    body=st.binary(max_size=16),
)
def test_garbage_input_only_ever_raises_aws_error(
    method: str, raw_path: str, query_string: str, headers: dict[str, str], body: bytes
) -> None:
    request = SignedRequest(method, raw_path, query_string, headers, body)
    read_credential_scope(headers, query_string)
    try:
        verifier().verify(request)
    except AwsError as error:
        assert error.status in (400, 403)
