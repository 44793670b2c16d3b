"""S3Router against botocore's real S3 model: which bucket and key a request names (path-style or
virtual-hosted), and which operation it is, the way S3 tells them apart without an operation name
on the wire."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lamina.protocol.model import load_service_model
from lamina.protocol.s3_routing import NOT_IMPLEMENTED, S3Address, S3Router

ROUTER = S3Router(load_service_model("s3"))


def operation(
    method: str,
    raw_path: str,
    query: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> str | None:
    headers = headers or {}
    return ROUTER.operation(method, ROUTER.address(raw_path, headers), query or [], headers)


# --------------------------------------------------------------------------- addressing


def test_path_style_names_bucket_and_decoded_key() -> None:
    assert ROUTER.address("/bucket/dir/a%20b%2Bc%2Fd", {"host": "localhost:4566"}) == S3Address(
        "bucket", "dir/a b+c/d"
    )


def test_path_style_keeps_plus_as_plus() -> None:
    # S3 keys in the path are percent-encoded; "+" is a literal plus there, not a space.
    assert ROUTER.address("/bucket/a+b", {}).key == "a+b"


@pytest.mark.parametrize("raw_path", ["/bucket", "/bucket/"])
def test_path_style_bucket_only(raw_path: str) -> None:
    assert ROUTER.address(raw_path, {"host": "localhost"}) == S3Address("bucket", None)


@pytest.mark.parametrize("raw_path", ["/", ""])
def test_path_style_root_names_nothing(raw_path: str) -> None:
    assert ROUTER.address(raw_path, {"host": "localhost:4566"}) == S3Address(None, None)


@pytest.mark.parametrize(
    "host",
    [
        "bucket.s3.localhost",
        "bucket.s3.localhost:4566",
        "bucket.localhost",
        "bucket.localhost:4566",
        "BUCKET.S3.LOCALHOST",
        "bucket.s3.us-east-1.amazonaws.com",
    ],
)
def test_virtual_hosted_bucket_comes_from_host(host: str) -> None:
    address = ROUTER.address("/dir/key%20name", {"host": host})
    assert address == S3Address("bucket", "dir/key name", virtual_host=True)


def test_virtual_hosted_bucket_with_dots() -> None:
    assert ROUTER.address("/k", {"host": "my.dotted.bucket.localhost"}) == S3Address(
        "my.dotted.bucket", "k", virtual_host=True
    )


def test_virtual_hosted_root_path_is_the_bucket() -> None:
    assert ROUTER.address("/", {"host": "bucket.s3.localhost"}) == S3Address("bucket", None, True)
    # In virtual-hosted style the first path segment is part of the key, not a bucket.
    assert ROUTER.address("/other/key", {"host": "bucket.localhost"}) == S3Address(
        "bucket", "other/key", True
    )


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:4566",
        "s3.localhost",
        "s3.localhost:4566",
        "s3.us-east-1.localhost",
        "127.0.0.1",
        "127.0.0.1:4566",
        "10.1.2.3:80",
        "[::1]:4566",
        "[::1]",
        "bucket.example.com",
        "",
    ],
)
def test_hosts_that_are_the_endpoint_itself_are_path_style(host: str) -> None:
    assert ROUTER.bucket_of_host(host) is None
    assert ROUTER.address("/bucket/key", {"host": host}) == S3Address("bucket", "key")


def test_configured_host_names_address_buckets_but_ips_never_do() -> None:
    router = S3Router(load_service_model("s3"), host_names=("lamina.test", "192.168.0.10"))
    assert router.bucket_of_host("photos.lamina.test:8080") == "photos"
    assert router.bucket_of_host("photos.localhost") is None  # not one of this router's names
    assert router.bucket_of_host("192.168.0.10") is None
    assert router.bucket_of_host("s3.lamina.test") is None


@given(st.from_regex(r"[a-z0-9][a-z0-9-]{1,20}[a-z0-9]", fullmatch=True))
def test_any_bucket_name_round_trips_through_either_style(bucket: str) -> None:
    if bucket == "s3":
        return
    assert ROUTER.address(f"/{bucket}/k", {}) == S3Address(bucket, "k")
    assert ROUTER.address("/k", {"host": f"{bucket}.s3.localhost:4566"}) == S3Address(bucket, "k", True)
    assert ROUTER.address("/k", {"host": f"{bucket}.localhost"}) == S3Address(bucket, "k", True)


# --------------------------------------------------------------------------- operations


def test_service_level() -> None:
    assert operation("GET", "/") == "ListBuckets"
    assert operation("PUT", "/") is None
    assert operation("GET", "/", headers={"host": "s3.localhost"}) == "ListBuckets"


@pytest.mark.parametrize(
    ("method", "query", "expected"),
    [
        ("PUT", [], "CreateBucket"),
        ("DELETE", [], "DeleteBucket"),
        ("HEAD", [], "HeadBucket"),
        ("GET", [], "ListObjects"),
        ("GET", [("prefix", "a/"), ("delimiter", "/")], "ListObjects"),
        ("GET", [("list-type", "2")], "ListObjectsV2"),
        ("GET", [("list-type", "2"), ("prefix", "p")], "ListObjectsV2"),
        ("GET", [("location", "")], "GetBucketLocation"),
        ("GET", [("notification", "")], "GetBucketNotificationConfiguration"),
        ("PUT", [("notification", "")], "PutBucketNotificationConfiguration"),
        ("GET", [("policy", "")], "GetBucketPolicy"),
        ("PUT", [("policy", "")], "PutBucketPolicy"),
        ("DELETE", [("policy", "")], "DeleteBucketPolicy"),
        ("POST", [("delete", "")], "DeleteObjects"),
        ("GET", [("uploads", "")], "ListMultipartUploads"),
        ("GET", [("versioning", "")], "GetBucketVersioning"),
        ("GET", [("tagging", "")], "GetBucketTagging"),
        ("PUT", [("tagging", "")], "PutBucketTagging"),
        ("DELETE", [("tagging", "")], "DeleteBucketTagging"),
        ("GET", [("acl", "")], "GetBucketAcl"),
        ("POST", [], None),
    ],
)
def test_bucket_operations(method: str, query: list[tuple[str, str]], expected: str | None) -> None:
    assert operation(method, "/bucket", query) == expected
    # The same request virtual-hosted.
    assert operation(method, "/", query, {"host": "bucket.s3.localhost"}) == expected


@pytest.mark.parametrize(
    ("method", "query", "headers", "expected"),
    [
        ("PUT", [], {}, "PutObject"),
        ("PUT", [], {"x-amz-copy-source": "/src/key"}, "CopyObject"),
        ("GET", [], {}, "GetObject"),
        ("GET", [("versionId", "v1"), ("response-content-type", "text/plain")], {}, "GetObject"),
        ("GET", [("partNumber", "2")], {}, "GetObject"),
        ("HEAD", [], {}, "HeadObject"),
        ("DELETE", [], {}, "DeleteObject"),
        ("POST", [("uploads", "")], {}, "CreateMultipartUpload"),
        ("PUT", [("partNumber", "1"), ("uploadId", "u")], {}, "UploadPart"),
        (
            "PUT",
            [("partNumber", "1"), ("uploadId", "u")],
            {"x-amz-copy-source": "/src/key", "x-amz-copy-source-range": "bytes=0-9"},
            "UploadPartCopy",
        ),
        ("GET", [("uploadId", "u")], {}, "ListParts"),
        ("GET", [("uploadId", "u"), ("max-parts", "10")], {}, "ListParts"),
        ("DELETE", [("uploadId", "u")], {}, "AbortMultipartUpload"),
        ("POST", [("uploadId", "u")], {}, "CompleteMultipartUpload"),
        ("GET", [("tagging", "")], {}, "GetObjectTagging"),
        ("PUT", [("tagging", "")], {}, "PutObjectTagging"),
        ("DELETE", [("tagging", "")], {}, "DeleteObjectTagging"),
        ("GET", [("acl", "")], {}, "GetObjectAcl"),
        ("POST", [], {}, None),
    ],
)
def test_object_operations(
    method: str, query: list[tuple[str, str]], headers: dict[str, str], expected: str | None
) -> None:
    assert operation(method, "/bucket/dir/key", query, headers) == expected
    virtual = {**headers, "host": "bucket.localhost:4566"}
    assert operation(method, "/dir/key", query, virtual) == expected


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("GET", "/bucket", [("cors", "")]),
        ("PUT", "/bucket", [("cors", "")]),
        ("GET", "/bucket", [("lifecycle", "")]),
        ("PUT", "/bucket", [("website", "")]),
        ("GET", "/bucket", [("versions", "")]),
        ("GET", "/bucket", [("encryption", "")]),
        ("PUT", "/bucket", [("acl", "")]),  # GetBucketAcl is served, PutBucketAcl is not
        ("GET", "/bucket/key", [("attributes", "")]),
        ("POST", "/bucket/key", [("restore", "")]),
        ("POST", "/bucket/key", [("select", ""), ("select-type", "2")]),
        ("GET", "/bucket/key", [("retention", "")]),
        ("PUT", "/bucket/key", [("acl", "")]),
        ("GET", "/bucket/key", [("torrent", "")]),
    ],
)
def test_unserved_subresources_are_not_implemented_not_a_get(
    method: str, path: str, query: list[tuple[str, str]]
) -> None:
    # Without this, `GET /bucket?cors` would be answered as a ListObjects and
    # `GET /bucket/key?attributes` as a GetObject.
    assert operation(method, path, query) == NOT_IMPLEMENTED


def test_a_served_subresource_wins_over_an_unserved_one() -> None:
    assert operation("GET", "/bucket", [("cors", ""), ("location", "")]) == "GetBucketLocation"


def test_ordinary_query_parameters_are_not_subresources() -> None:
    # Parameters SDKs add (`x-id`, `encoding-type`) must not turn a listing into NotImplemented.
    assert operation("GET", "/bucket", [("encoding-type", "url"), ("x-id", "ListObjects")]) == "ListObjects"
    assert operation("PUT", "/bucket/key", [("x-id", "PutObject")]) == "PutObject"
