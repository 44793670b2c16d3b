"""RestXmlProtocol against botocore's real S3 model, with botocore as the oracle both ways.

Requests: botocore's own rest-xml serializer builds them (as boto3 would put them on the wire),
and `match_request` + `parse` must give back the params it was given. Responses: our
`HttpResponse` is fed to botocore's own rest-xml parser (and, for GetBucketLocation, the handler
boto3 runs after it), which must read back what we serialized.
"""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials
from botocore.handlers import parse_get_bucket_location
from botocore.model import OperationModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from hypothesis import given
from hypothesis import strategies as st

from lamina.errors import AwsError
from lamina.protocol.http import HttpRequest, HttpResponse
from lamina.protocol.model import load_service_model
from lamina.protocol.rest_xml import RestXmlProtocol, s3_error
from lamina.protocol.s3_routing import S3Router
from lamina.protocol.sigv4 import SignedRequest, SigV4Verifier
from lamina.transport.body_stream import BodyStream

MODEL = load_service_model("s3")
PROTOCOL = RestXmlProtocol(MODEL, S3Router(MODEL))
SERIALIZER = create_serializer("rest-xml")
NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
WHEN = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def operation(name: str) -> OperationModel:
    return MODEL.operation_model(name)


def wire_request(name: str, params: dict[str, Any], host: str = "localhost:4566") -> HttpRequest:
    """The request botocore's rest-xml serializer builds for `name`, as the server receives it."""
    built = SERIALIZER.serialize_to_request(params, operation(name))
    path, _, static_query = built["url_path"].partition("?")
    query = parse_qsl(static_query, keep_blank_values=True)
    for key, value in built["query_string"].items():
        for item in value if isinstance(value, list) else [value]:
            query.append((key, str(item).lower() if isinstance(item, bool) else str(item)))
    headers = {name.lower(): str(value) for name, value in built["headers"].items()}
    headers["host"] = host
    body = built["body"]
    return HttpRequest(
        built["method"], path, query, headers, body if isinstance(body, bytes) else body.encode()
    )


def roundtrip(name: str, params: dict[str, Any]) -> dict[str, Any]:
    request = wire_request(name, params)
    matched = PROTOCOL.match_request(request)
    assert matched is not None, f"{name}: {request.method} {request.raw_path} not routed"
    found, labels = matched
    assert found.name == name
    return PROTOCOL.parse(found, labels, request)


def botocore_reads(name: str, response: HttpResponse) -> dict[str, Any]:
    """What botocore's rest-xml parser makes of `response` as the answer to `name`."""
    assert response.stream is None
    headers = dict(response.headers)
    headers["Content-Length"] = str(response.length if response.length is not None else len(response.body))
    parsed = create_parser("rest-xml").parse(
        {"headers": headers, "status_code": response.status, "body": response.body},
        operation(name).output_shape,
    )
    parsed.pop("ResponseMetadata", None)
    return dict(parsed)


def serialized(name: str, output: dict[str, Any], **options: Any) -> HttpResponse:
    return PROTOCOL.serialize(operation(name), output, request_id="4442587FB7D0A2F9", **options)


# --------------------------------------------------------------------------- routing


def test_match_request_gives_operation_and_labels_for_path_style() -> None:
    request = HttpRequest("put", "/photos/2024/a%20b.jpg", [], {"host": "localhost:4566"}, b"")
    matched = PROTOCOL.match_request(request)
    assert matched is not None
    assert matched[0].name == "PutObject"
    assert matched[1] == {"Bucket": "photos", "Key": "2024/a b.jpg"}


def test_match_request_reads_virtual_hosted_bucket() -> None:
    request = HttpRequest("GET", "/", [("list-type", "2")], {"host": "photos.s3.localhost:4566"}, b"")
    matched = PROTOCOL.match_request(request)
    assert matched is not None
    assert (matched[0].name, matched[1]) == ("ListObjectsV2", {"Bucket": "photos"})


def test_match_request_service_level_has_no_labels() -> None:
    matched = PROTOCOL.match_request(HttpRequest("GET", "/", [], {"host": "localhost"}, b""))
    assert matched is not None and (matched[0].name, matched[1]) == ("ListBuckets", {})


def test_match_request_refuses_unserved_subresource_as_not_implemented() -> None:
    with pytest.raises(AwsError) as raised:
        PROTOCOL.match_request(HttpRequest("GET", "/photos", [("cors", "")], {}, b""))
    assert (raised.value.code, raised.value.status) == ("NotImplemented", 501)


def test_match_request_gives_none_for_request_s3_does_not_have() -> None:
    assert PROTOCOL.match_request(HttpRequest("POST", "/photos/key", [], {}, b"")) is None


# --------------------------------------------------------------------------- requests


def test_put_object_headers_and_metadata_round_trip() -> None:
    params = {
        "Bucket": "photos",
        "Key": "dir/a b+c.txt",
        "Body": b"hello",
        "ContentType": "text/plain",
        "CacheControl": "no-cache",
        "Metadata": {"colour": "blue", "shape": "round"},
        "StorageClass": "STANDARD",
        "ContentLength": 5,
    }
    assert roundtrip("PutObject", params) == params


def test_put_object_streamed_body_is_passed_through_untouched() -> None:
    request = wire_request("PutObject", {"Bucket": "b", "Key": "k", "ContentType": "image/png"})
    stream = BodyStream(1 << 30, lambda: None, lambda: None)
    streamed = HttpRequest(request.method, request.raw_path, request.query, request.headers, b"", stream)
    matched = PROTOCOL.match_request(streamed)
    assert matched is not None
    params = PROTOCOL.parse(matched[0], matched[1], streamed)
    assert params["Body"] is stream
    assert not stream.started  # parsing never read from it
    assert params["ContentType"] == "image/png"


def test_copy_object_and_upload_part_copy() -> None:
    copy = {
        "Bucket": "b",
        "Key": "k",
        "CopySource": "src/key%20x",
        "MetadataDirective": "REPLACE",
        "Metadata": {"a": "b"},
    }
    assert roundtrip("CopyObject", copy) == copy
    part_copy = {
        "Bucket": "b",
        "Key": "k",
        "UploadId": "upload-1",
        "PartNumber": 3,
        "CopySource": "src/k",
        "CopySourceRange": "bytes=0-99",
    }
    assert roundtrip("UploadPartCopy", part_copy) == part_copy


def test_upload_part() -> None:
    params = {"Bucket": "b", "Key": "k", "UploadId": "upload-1", "PartNumber": 7, "Body": b"\x00\xffpart"}
    assert roundtrip("UploadPart", params) == params


def test_list_objects_v2_query_members() -> None:
    params = {
        "Bucket": "b",
        "Prefix": "p/",
        "Delimiter": "/",
        "MaxKeys": 5,
        "ContinuationToken": "token==",
        "StartAfter": "p/a",
        "FetchOwner": True,
    }
    assert roundtrip("ListObjectsV2", params) == params


def test_list_objects_v1() -> None:
    params = {"Bucket": "b", "Prefix": "p/", "Marker": "p/m", "MaxKeys": 10, "Delimiter": "/"}
    assert roundtrip("ListObjects", params) == params


def test_get_object_conditional_and_response_overrides() -> None:
    params = {
        "Bucket": "b",
        "Key": "k",
        "Range": "bytes=0-3",
        "IfNoneMatch": '"etag"',
        "IfModifiedSince": WHEN,
        "ResponseContentType": "text/plain",
        "VersionId": "v1",
    }
    assert roundtrip("GetObject", params) == params


def test_put_bucket_notification_configuration_decodes_flattened_xml_payload() -> None:
    params = {
        "Bucket": "b",
        "NotificationConfiguration": {
            "QueueConfigurations": [
                {
                    "Id": "queue",
                    "QueueArn": "arn:aws:sqs:us-east-1:123456789012:q",
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": "in/"},
                                {"Name": "suffix", "Value": ".jpg"},
                            ]
                        }
                    },
                }
            ],
            "LambdaFunctionConfigurations": [
                {
                    "Id": "fn",
                    "LambdaFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f",
                    "Events": ["s3:ObjectCreated:Put", "s3:ObjectRemoved:*"],
                }
            ],
        },
    }
    assert roundtrip("PutBucketNotificationConfiguration", params) == params


def test_complete_multipart_upload_decodes_parts() -> None:
    params = {
        "Bucket": "b",
        "Key": "k",
        "UploadId": "upload-1",
        "MultipartUpload": {"Parts": [{"PartNumber": n, "ETag": f'"etag-{n}"'} for n in range(1, 6)]},
    }
    assert roundtrip("CompleteMultipartUpload", params) == params


def test_delete_objects_decodes_keys_and_quiet() -> None:
    params = {
        "Bucket": "b",
        "Delete": {
            "Objects": [{"Key": "a & b <c>"}, {"Key": "d", "VersionId": "v"}],
            "Quiet": True,
        },
    }
    assert roundtrip("DeleteObjects", params) == params


@given(
    st.lists(
        st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30),
        min_size=1,
        max_size=20,
    )
)
def test_delete_objects_any_keys(keys: list[str]) -> None:
    params = {"Bucket": "b", "Delete": {"Objects": [{"Key": key} for key in keys]}}
    assert roundtrip("DeleteObjects", params) == params


def test_put_bucket_tagging_and_create_bucket_configuration() -> None:
    tagging = {
        "Bucket": "b",
        "Tagging": {"TagSet": [{"Key": "team", "Value": "core"}, {"Key": "k", "Value": ""}]},
    }
    assert roundtrip("PutBucketTagging", tagging) == tagging
    create = {"Bucket": "b", "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"}}
    assert roundtrip("CreateBucket", create) == create
    assert roundtrip("CreateBucket", {"Bucket": "b"}) == {"Bucket": "b"}


def test_put_bucket_policy_payload_is_the_policy_text() -> None:
    params = {"Bucket": "b", "Policy": '{"Version":"2012-10-17","Statement":[]}'}
    assert roundtrip("PutBucketPolicy", params) == params


def test_required_xml_payload_missing_is_refused() -> None:
    request = HttpRequest("POST", "/b", [("delete", "")], {}, b"")
    matched = PROTOCOL.match_request(request)
    assert matched is not None
    with pytest.raises(AwsError) as raised:
        PROTOCOL.parse(matched[0], matched[1], request)
    assert (raised.value.code, raised.value.status) == ("MissingRequestBodyError", 400)


@pytest.mark.parametrize(
    "body",
    [
        b"<Delete><Object><Key>a</Key></Object>",  # unclosed
        b"not xml at all",
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "x">]><Delete><Object><Key>&e;</Key></Object></Delete>',
        b"<Delete><Quiet>maybe</Quiet></Delete>",  # a boolean that is neither true nor false
    ],
)
def test_malformed_xml_payload_is_malformed_xml(body: bytes) -> None:
    request = HttpRequest("POST", "/b", [("delete", "")], {}, body)
    matched = PROTOCOL.match_request(request)
    assert matched is not None
    with pytest.raises(AwsError) as raised:
        PROTOCOL.parse(matched[0], matched[1], request)
    assert (raised.value.code, raised.value.status) == ("MalformedXML", 400)


def test_a_query_value_of_the_wrong_type_is_invalid_argument() -> None:
    request = HttpRequest("PUT", "/b/k", [("partNumber", "x"), ("uploadId", "u")], {}, b"")
    matched = PROTOCOL.match_request(request)
    assert matched is not None and matched[0].name == "UploadPart"
    with pytest.raises(AwsError) as raised:
        PROTOCOL.parse(matched[0], matched[1], request)
    # S3 names a malformed argument InvalidArgument; it has no SerializationException (a JSON
    # protocols' code, which botocore would not map to anything S3 documents).
    assert (raised.value.code, raised.value.status) == ("InvalidArgument", 400)


# --------------------------------------------------------------------------- responses


def test_list_objects_v2_document_is_list_bucket_result_and_botocore_reads_it() -> None:
    output = {
        "Name": "b",
        "Prefix": "p/",
        "KeyCount": 1,
        "MaxKeys": 1000,
        "IsTruncated": True,
        "NextContinuationToken": "next",
        "Contents": [
            {
                "Key": "p/a&b<c>\r",
                "Size": 3,
                "ETag": '"abc"',
                "LastModified": WHEN,
                "StorageClass": "STANDARD",
            }
        ],
        "CommonPrefixes": [{"Prefix": "p/d/"}],
    }
    response = serialized("ListObjectsV2", output)
    assert response.status == 200
    assert ("Content-Type", "application/xml") in response.headers
    assert response.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult ')
    assert f'xmlns="{NAMESPACE}"'.encode() in response.body
    parsed = botocore_reads("ListObjectsV2", response)
    assert parsed["Contents"][0]["LastModified"] == WHEN
    parsed["Contents"][0]["LastModified"] = WHEN
    assert parsed == output


@pytest.mark.parametrize(
    ("name", "root", "output"),
    [
        ("ListObjects", "ListBucketResult", {"Name": "b", "IsTruncated": False, "Marker": "", "MaxKeys": 10}),
        (
            "ListBuckets",
            "ListAllMyBucketsResult",
            {"Buckets": [{"Name": "a", "CreationDate": WHEN}], "Owner": {"ID": "owner", "DisplayName": "me"}},
        ),
        (
            "CreateMultipartUpload",
            "InitiateMultipartUploadResult",
            {"Bucket": "b", "Key": "k", "UploadId": "upload-1"},
        ),
        (
            "CompleteMultipartUpload",
            "CompleteMultipartUploadResult",
            {"Location": "http://localhost/b/k", "Bucket": "b", "Key": "k", "ETag": '"abc-2"'},
        ),
        (
            "ListParts",
            "ListPartsResult",
            {
                "Bucket": "b",
                "Key": "k",
                "UploadId": "u",
                "IsTruncated": False,
                "Parts": [{"PartNumber": 1, "ETag": '"e"', "Size": 5, "LastModified": WHEN}],
            },
        ),
        (
            "ListMultipartUploads",
            "ListMultipartUploadsResult",
            {
                "Bucket": "b",
                "Uploads": [{"UploadId": "u", "Key": "k", "Initiated": WHEN}],
                "IsTruncated": False,
            },
        ),
        (
            "DeleteObjects",
            "DeleteResult",
            {
                "Deleted": [{"Key": "a"}, {"Key": "b"}],
                "Errors": [{"Key": "c", "Code": "AccessDenied", "Message": "Access Denied"}],
            },
        ),
        (
            "GetBucketNotificationConfiguration",
            "NotificationConfiguration",
            {
                "LambdaFunctionConfigurations": [
                    {
                        "Id": "fn",
                        "LambdaFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f",
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "Prefix", "Value": "in/"}]}},
                    }
                ]
            },
        ),
        ("GetBucketVersioning", "VersioningConfiguration", {"Status": "Enabled"}),
        ("GetBucketTagging", "Tagging", {"TagSet": [{"Key": "a", "Value": "b"}]}),
        ("GetObjectTagging", "Tagging", {"TagSet": [{"Key": "a", "Value": "b"}]}),
    ],
)
def test_documents_have_s3_root_names_and_botocore_reads_them(
    name: str, root: str, output: dict[str, Any]
) -> None:
    response = serialized(name, output)
    assert f"\n<{root} xmlns=".encode() in response.body
    assert response.body.endswith(f"</{root}>".encode())
    assert botocore_reads(name, response) == output


def test_copy_object_result_is_the_payload_document() -> None:
    output = {"CopyObjectResult": {"ETag": '"e"', "LastModified": WHEN}, "VersionId": "v1"}
    response = serialized("CopyObject", output)
    assert b"<CopyObjectResult " in response.body
    assert ("x-amz-version-id", "v1") in response.headers
    assert botocore_reads("CopyObject", response) == output


class _RawBody(io.BytesIO):
    """What botocore expects as `AWSResponse.raw`: readable and streamable."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


def location_boto3_reads(response: HttpResponse) -> str | None:
    """What boto3 gives for GetBucketLocation: its parser, then the handler it registers after it."""
    parsed = botocore_reads("GetBucketLocation", response)
    http = AWSResponse(
        "http://localhost/b?location", response.status, dict(response.headers), _RawBody(response.body)
    )
    parse_get_bucket_location(parsed, http)
    value = parsed["LocationConstraint"]
    assert value is None or isinstance(value, str)
    return value


def test_get_bucket_location_is_a_text_root() -> None:
    response = serialized("GetBucketLocation", {"LocationConstraint": "eu-west-1"})
    assert response.body == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">eu-west-1</LocationConstraint>'
    )
    assert location_boto3_reads(response) == "eu-west-1"


def test_get_bucket_location_of_us_east_1_is_empty() -> None:
    # S3 answers an empty LocationConstraint for us-east-1; boto3 then reads None.
    assert location_boto3_reads(serialized("GetBucketLocation", {})) is None
    assert location_boto3_reads(serialized("GetBucketLocation", {"LocationConstraint": None})) is None


def test_head_object_content_length_becomes_the_declared_length() -> None:
    output = {
        "ContentLength": 1234,
        "ETag": '"e"',
        "ContentType": "text/plain",
        "LastModified": WHEN,
        "Metadata": {"colour": "blue"},
    }
    response = serialized("HeadObject", output)
    assert response.length == 1234
    assert response.body == b""
    assert not any(name.lower() == "content-length" for name, _ in response.headers)
    assert ("Content-Type", "text/plain") in response.headers
    assert ("x-amz-meta-colour", "blue") in response.headers
    assert botocore_reads("HeadObject", response) == output


def test_get_object_async_iterator_body_stays_a_stream_with_its_length() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"abc"
        yield b"def"

    body = chunks()
    response = serialized("GetObject", {"ContentLength": 6, "Body": body, "ETag": '"e"'})
    assert response.stream is body
    assert response.length == 6
    assert response.body == b""
    assert ("Content-Type", "binary/octet-stream") in response.headers
    assert not any(name.lower() == "content-length" for name, _ in response.headers)


def test_get_object_bytes_body_is_sent_whole() -> None:
    response = serialized(
        "GetObject",
        {"ContentLength": 5, "Body": b"hello", "ContentType": "text/plain", "ContentRange": "bytes 0-4/9"},
    )
    assert response.stream is None and response.length is None
    assert response.body == b"hello"
    assert [value for name, value in response.headers if name.lower() == "content-type"] == ["text/plain"]
    assert response.status == 200
    parsed = botocore_reads("GetObject", response)
    assert (parsed["ContentRange"], parsed["ContentLength"]) == ("bytes 0-4/9", 5)


def test_partial_content_status_can_be_given() -> None:
    response = serialized("GetObject", {"Body": b"he", "ContentRange": "bytes 0-1/5"}, status=206)
    assert response.status == 206 and response.body == b"he"


def test_delete_object_is_204_without_a_body() -> None:
    response = serialized("DeleteObject", {"DeleteMarker": True, "VersionId": "v"})
    assert response.status == 204
    assert response.body == b"" and response.stream is None and response.length is None
    assert not any(name.lower() == "content-type" for name, _ in response.headers)
    assert ("x-amz-delete-marker", "true") in response.headers


def test_put_object_answer_is_headers_only() -> None:
    response = serialized("PutObject", {"ETag": '"abc"', "VersionId": "v1"})
    assert response.body == b""
    assert botocore_reads("PutObject", response) == {"ETag": '"abc"', "VersionId": "v1"}


def test_request_id_headers_and_replaced_headers() -> None:
    response = serialized("PutObject", {"ETag": '"abc"'}, headers=[("etag", '"other"'), ("X-Extra", "1")])
    names = {name.lower(): value for name, value in response.headers}
    assert names["x-amz-request-id"] == "4442587FB7D0A2F9"
    assert names["x-amz-id-2"]
    assert names["etag"] == '"other"'
    assert [name for name, _ in response.headers].count("ETag") == 0  # replaced, not repeated
    assert names["x-extra"] == "1"


def test_get_bucket_acl_grantee_type_is_an_xml_attribute() -> None:
    output = {
        "Owner": {"ID": "owner-id", "DisplayName": "me"},
        "Grants": [
            {
                "Grantee": {"ID": "owner-id", "DisplayName": "me", "Type": "CanonicalUser"},
                "Permission": "FULL_CONTROL",
            }
        ],
    }
    response = serialized("GetBucketAcl", output)
    assert botocore_reads("GetBucketAcl", response) == output


# --------------------------------------------------------------------------- errors


def botocore_error(response: HttpResponse) -> dict[str, Any]:
    parsed = create_parser("rest-xml").parse(
        {"headers": dict(response.headers), "status_code": response.status, "body": response.body},
        None,
    )
    error = parsed["Error"]
    assert isinstance(error, dict)
    assert parsed["ResponseMetadata"]["RequestId"] == "REQ123"
    return error


def test_error_document_is_s3_shaped() -> None:
    error = AwsError("NoSuchKey", "The specified key does not exist.", 404, extra={"Key": "a<b>"})
    response = PROTOCOL.serialize_error(error, "REQ123")
    assert response.status == 404
    assert response.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>')
    assert ("Content-Type", "application/xml") in response.headers
    assert ("x-amz-request-id", "REQ123") in response.headers
    assert botocore_error(response) == {
        "Code": "NoSuchKey",
        "Message": "The specified key does not exist.",
        "Key": "a<b>",
    }


def test_error_headers_are_sent() -> None:
    error = AwsError("MethodNotAllowed", "no", 405, headers={"Allow": "GET"})
    response = PROTOCOL.serialize_error(error, "REQ123")
    assert ("Allow", "GET") in response.headers


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (AwsError("UnrecognizedClientException", "bad key", 403), "InvalidAccessKeyId", 403),
        (AwsError("IncompleteSignatureException", "bad header", 400), "AuthorizationHeaderMalformed", 400),
        (AwsError("MissingAuthenticationTokenException", "missing", 403), "AccessDenied", 403),
        (AwsError("RequestEntityTooLargeException", "too big", 413), "EntityTooLarge", 400),
        (AwsError("InvalidRegion", "wrong region", 400), "AuthorizationHeaderMalformed", 400),
        (
            AwsError("InvalidSignatureException", "The request signature ...", 403),
            "SignatureDoesNotMatch",
            403,
        ),
        (AwsError("NoSuchBucket", "The specified bucket does not exist", 404), "NoSuchBucket", 404),
    ],
)
def test_signature_and_edge_errors_take_s3_codes(error: AwsError, code: str, status: int) -> None:
    response = PROTOCOL.serialize_error(error, "REQ123")
    assert response.status == status
    assert botocore_error(response)["Code"] == code


def test_unrecognized_client_gets_s3_message() -> None:
    translated = s3_error(AwsError("UnrecognizedClientException", "x", 403))
    assert translated.message == "The AWS Access Key Id you provided does not exist in our records."
    kept = s3_error(
        AwsError("IncompleteSignatureException", "Authorization header requires 'Credential'", 400)
    )
    assert kept.message == "Authorization header requires 'Credential'"


# The translations below use the errors SigV4Verifier really raises, so they follow its wording.
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def sigv4_error(prepared_url: str, headers: dict[str, str], clock_offset: float) -> AwsError:
    parts = urlsplit(prepared_url)
    headers = {name.lower(): value for name, value in headers.items()}
    headers.setdefault("host", parts.netloc)
    verifier = SigV4Verifier(
        lambda key: SECRET_KEY if key == ACCESS_KEY else None, clock=lambda: time.time() + clock_offset
    )
    with pytest.raises(AwsError) as raised:
        verifier.verify(SignedRequest("GET", parts.path, parts.query, headers, b""))
    return raised.value


def test_stale_header_signed_request_is_request_time_too_skewed() -> None:
    # S3 (Authenticating Requests, "Time stamp"): a request signed more than 15 minutes from the
    # server's clock is refused RequestTimeTooSkewed; "Request has expired" is for presigned URLs.
    request = AWSRequest("GET", "http://localhost:4566/b/k")
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(request)
    error = sigv4_error(request.url, dict(request.headers), clock_offset=3600)
    assert s3_error(error).code == "RequestTimeTooSkewed"


def test_clock_behind_header_signed_request_is_request_time_too_skewed() -> None:
    request = AWSRequest("GET", "http://localhost:4566/b/k")
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(request)
    error = sigv4_error(request.url, dict(request.headers), clock_offset=-3600)
    translated = s3_error(error)
    assert (translated.code, translated.status) == ("RequestTimeTooSkewed", 403)


def test_expired_presigned_url_is_access_denied_request_has_expired() -> None:
    request = AWSRequest("GET", "http://localhost:4566/b/k")
    S3SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1", expires=60).add_auth(request)
    error = sigv4_error(request.url, {}, clock_offset=120)
    translated = s3_error(error)
    assert (translated.code, translated.message, translated.status) == (
        "AccessDenied",
        "Request has expired",
        403,
    )
