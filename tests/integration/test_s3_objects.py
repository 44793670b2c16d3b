"""The embedded S3 through boto3 against a real server: buckets, objects, listings, copies,
multipart uploads, presigned URLs, virtual-hosted addressing, aws-chunked uploads, and the errors
S3 answers with (codes, statuses, messages)."""

from __future__ import annotations

import base64
import hashlib
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.s3_signing import s3_signer
from tests.support.server import ACCESS_KEY, SECRET_KEY, RunningServer

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def s3(server: RunningServer) -> Any:
    return server.client("s3")


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = f"b-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    yield name
    for upload in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)


def error_of(failure: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = failure.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


# --------------------------------------------------------------------------- buckets


def test_bucket_lifecycle_and_its_errors(s3: Any) -> None:
    name = f"life-{uuid.uuid4().hex[:12]}"
    created = s3.create_bucket(Bucket=name)
    assert created["Location"] == f"/{name}"
    assert name in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]
    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as failure:
        s3.delete_bucket(Bucket=name)
    assert error_of(failure) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as failure:
        s3.delete_bucket(Bucket=name)
    assert error_of(failure) == ("NoSuchBucket", 404)
    assert failure.value.response["Error"]["BucketName"] == name
    with pytest.raises(ClientError) as failure:
        s3.head_bucket(Bucket=name)
    assert error_of(failure) == ("404", 404)


def test_bucket_names_follow_s3s_rules(s3: Any) -> None:
    for invalid in ("ab", "UPPER", "under_score", "192.168.1.1", "a..b", "-start", "x" * 64):
        with pytest.raises(ClientError) as failure:
            s3.create_bucket(Bucket=invalid)
        assert error_of(failure) == ("InvalidBucketName", 400), invalid


def test_a_bucket_in_another_region_needs_its_location_constraint(server: RunningServer) -> None:
    west = server.client("s3", region="eu-west-2")
    name = f"west-{uuid.uuid4().hex[:12]}"
    with pytest.raises(ClientError) as failure:
        west.create_bucket(Bucket=name)
    assert error_of(failure) == ("IllegalLocationConstraintException", 400)
    west.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    assert west.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-2"
    with pytest.raises(ClientError) as failure:
        west.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    assert error_of(failure) == ("BucketAlreadyOwnedByYou", 409)
    west.delete_bucket(Bucket=name)


# --------------------------------------------------------------------------- objects


def test_put_get_head_with_metadata_and_checksums(s3: Any, bucket: str) -> None:
    body = b"hello, objects" * 1000
    put = s3.put_object(
        Bucket=bucket,
        Key="dir/file name+1.txt",
        Body=body,
        ContentType="text/plain",
        Metadata={"owner": "me"},
        CacheControl="max-age=60",
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    assert put["ChecksumCRC32"] == crc
    got = s3.get_object(Bucket=bucket, Key="dir/file name+1.txt")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"owner": "me"}
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentLength"] == len(body)
    assert got["ETag"] == put["ETag"]
    head = s3.head_object(Bucket=bucket, Key="dir/file name+1.txt")
    assert head["ContentLength"] == len(body)
    assert head["Metadata"] == {"owner": "me"}
    with pytest.raises(ClientError) as failure:
        s3.get_object(Bucket=bucket, Key="missing")
    assert error_of(failure) == ("NoSuchKey", 404)
    assert failure.value.response["Error"]["Key"] == "missing"
    with pytest.raises(ClientError) as failure:
        s3.head_object(Bucket=bucket, Key="missing")
    assert error_of(failure) == ("404", 404)


def test_ranges_and_conditional_reads(s3: Any, bucket: str) -> None:
    body = bytes(range(256)) * 4
    etag = s3.put_object(Bucket=bucket, Key="r", Body=body)["ETag"]
    part = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert part["Body"].read() == body[10:20]
    assert part["ContentRange"] == f"bytes 10-19/{len(body)}"
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")["Body"].read() == body[-5:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=1000-")["Body"].read() == body[1000:]
    with pytest.raises(ClientError) as failure:
        s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={len(body)}-")
    assert error_of(failure) == ("InvalidRange", 416)
    with pytest.raises(ClientError) as failure:
        s3.get_object(Bucket=bucket, Key="r", IfNoneMatch=etag)
    assert error_of(failure) == ("304", 304)
    with pytest.raises(ClientError) as failure:
        s3.get_object(Bucket=bucket, Key="r", IfMatch='"0000"')
    assert error_of(failure) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="r", IfMatch=etag)["Body"].read() == body


def test_integrity_checks_refuse_a_changed_body(server: RunningServer, s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as failure:
        s3.put_object(Bucket=bucket, Key="md5", Body=b"abc", ContentMD5=base64.b64encode(b"0" * 16).decode())
    assert error_of(failure) == ("BadDigest", 400)
    with pytest.raises(ClientError) as failure:
        s3.put_object(Bucket=bucket, Key="crc", Body=b"abc", ChecksumCRC32="AAAAAA==")
    assert error_of(failure) == ("BadDigest", 400)
    # A body that does not match the payload hash it was signed with.
    response = _signed(server, "PUT", f"/{bucket}/sha", b"tampered", signed_body=b"original")
    assert response[0] == 400 and b"<Code>XAmzContentSHA256Mismatch</Code>" in response[1]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_listing_with_prefixes_delimiters_and_pages(s3: Any, bucket: str) -> None:
    keys = ["a/1", "a/2", "a/b/3", "b/4", "c", "d e+f", "é/x", "z"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    listed = s3.list_objects_v2(Bucket=bucket)
    assert [item["Key"] for item in listed["Contents"]] == sorted(keys, key=lambda key: key.encode())
    assert listed["KeyCount"] == len(keys)
    rolled = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [item["Key"] for item in rolled["Contents"]] == ["c", "d e+f", "z"]
    assert [item["Prefix"] for item in rolled["CommonPrefixes"]] == ["a/", "b/", "é/"]
    under = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [item["Key"] for item in under["Contents"]] == ["a/1", "a/2"]
    assert [item["Prefix"] for item in under["CommonPrefixes"]] == ["a/b/"]
    seen: list[str] = []
    token: dict[str, str] = {}
    while True:
        page = s3.list_objects_v2(Bucket=bucket, MaxKeys=3, **token)
        seen.extend(item["Key"] for item in page.get("Contents", []))
        if not page["IsTruncated"]:
            break
        token = {"ContinuationToken": page["NextContinuationToken"]}
    assert seen == [item["Key"] for item in listed["Contents"]]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="c")
    assert [item["Key"] for item in after["Contents"]] == ["d e+f", "z", "é/x"]
    v1 = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert v1["IsTruncated"] is True and "NextMarker" in v1
    rest = s3.list_objects(Bucket=bucket, Delimiter="/", Marker=v1["NextMarker"])
    names = [p["Prefix"] for p in v1.get("CommonPrefixes", []) + rest.get("CommonPrefixes", [])]
    names += [item["Key"] for item in v1.get("Contents", []) + rest.get("Contents", [])]
    assert sorted(names) == sorted(["a/", "b/", "é/", "c", "d e+f", "z"])
    with pytest.raises(ClientError) as failure:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="!!!")
    assert error_of(failure) == ("InvalidArgument", 400)


def test_copy_keeps_or_replaces_metadata(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", ContentType="text/x", Metadata={"a": "1"})
    copied = s3.copy_object(Bucket=bucket, Key="kept", CopySource={"Bucket": bucket, "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"copy me").hexdigest()}"'
    kept = s3.get_object(Bucket=bucket, Key="kept")
    assert (kept["Body"].read(), kept["ContentType"], kept["Metadata"]) == (b"copy me", "text/x", {"a": "1"})
    s3.copy_object(
        Bucket=bucket,
        Key="replaced",
        CopySource=f"{bucket}/src",
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
        ContentType="text/y",
    )
    replaced = s3.head_object(Bucket=bucket, Key="replaced")
    assert (replaced["ContentType"], replaced["Metadata"]) == ("text/y", {"b": "2"})
    with pytest.raises(ClientError) as failure:
        s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"})
    assert error_of(failure) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as failure:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "absent"})
    assert error_of(failure) == ("NoSuchKey", 404)


def test_delete_objects_reports_each_key(s3: Any, bucket: str) -> None:
    for key in ("one", "two"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    result = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "one"}, {"Key": "two"}, {"Key": "none"}]}
    )
    assert sorted(item["Key"] for item in result["Deleted"]) == ["none", "one", "two"]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "x"}], "Quiet": True})
    assert "Deleted" not in quiet


def test_multipart_upload(s3: Any, bucket: str) -> None:
    first, second = b"1" * (5 * MIB), b"2" * 1234
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big", ContentType="application/x-big")
    upload_id = upload["UploadId"]
    assert [item["UploadId"] for item in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [upload_id]
    tags = [
        s3.upload_part(Bucket=bucket, Key="big", UploadId=upload_id, PartNumber=number, Body=data)["ETag"]
        for number, data in ((1, first), (2, second))
    ]
    parts = s3.list_parts(Bucket=bucket, Key="big", UploadId=upload_id)["Parts"]
    assert [(part["PartNumber"], part["Size"]) for part in parts] == [(1, len(first)), (2, len(second))]
    with pytest.raises(ClientError) as failure:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="big",
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": 2, "ETag": tags[1]}, {"PartNumber": 1, "ETag": tags[0]}]
            },
        )
    assert error_of(failure) == ("InvalidPartOrder", 400)
    with pytest.raises(ClientError) as failure:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="big",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"00"'}]},
        )
    assert error_of(failure) == ("InvalidPart", 400)
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="big",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": tag} for n, tag in enumerate(tags)]},
    )
    digests = b"".join(hashlib.md5(data).digest() for data in (first, second))
    assert done["ETag"] == f'"{hashlib.md5(digests).hexdigest()}-2"'
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["ContentType"] == "application/x-big"
    assert got["Body"].read() == first + second
    # A range across the two parts, and one part by its number.
    span = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={5 * MIB - 2}-{5 * MIB + 1}")
    assert span["Body"].read() == b"1122"
    assert s3.get_object(Bucket=bucket, Key="big", PartNumber=2)["Body"].read() == second
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    with pytest.raises(ClientError) as failure:
        s3.list_parts(Bucket=bucket, Key="big", UploadId=upload_id)
    assert error_of(failure) == ("NoSuchUpload", 404)


def test_small_parts_and_aborts(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    tags = [
        s3.upload_part(Bucket=bucket, Key="small", UploadId=upload_id, PartNumber=n, Body=b"x" * 10)["ETag"]
        for n in (1, 2)
    ]
    with pytest.raises(ClientError) as failure:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="small",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": tag} for n, tag in enumerate(tags)]},
        )
    assert error_of(failure) == ("EntityTooSmall", 400)
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=upload_id)
    with pytest.raises(ClientError) as failure:
        s3.upload_part(Bucket=bucket, Key="small", UploadId=upload_id, PartNumber=3, Body=b"x")
    assert error_of(failure) == ("NoSuchUpload", 404)


def test_upload_part_copy(s3: Any, bucket: str) -> None:
    source = bytes(range(256)) * (24 * 1024)  # 6 MiB
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    first = s3.upload_part_copy(
        Bucket=bucket, Key="assembled", UploadId=upload_id, PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange=f"bytes=0-{5 * MIB - 1}",
    )["CopyPartResult"]["ETag"]  # fmt: skip
    second = s3.upload_part(Bucket=bucket, Key="assembled", UploadId=upload_id, PartNumber=2, Body=b"tail")[
        "ETag"
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="assembled",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]},
    )
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == source[: 5 * MIB] + b"tail"


# --------------------------------------------------------------------------- settings


def test_policy_tags_and_unserved_subresources(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as failure:
        s3.get_bucket_policy(Bucket=bucket)
    assert error_of(failure) == ("NoSuchBucketPolicy", 404)
    policy = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",'
        f'"Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/*"}}]}}'
    )
    s3.put_bucket_policy(Bucket=bucket, Policy=policy)
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == policy
    with pytest.raises(ClientError) as failure:
        s3.put_bucket_policy(Bucket=bucket, Policy="{not json")
    assert error_of(failure) == ("MalformedPolicy", 400)
    s3.delete_bucket_policy(Bucket=bucket)
    with pytest.raises(ClientError) as failure:
        s3.get_bucket_tagging(Bucket=bucket)
    assert error_of(failure) == ("NoSuchTagSet", 404)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "a"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "team", "Value": "a"}]
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    with pytest.raises(ClientError) as failure:
        s3.get_bucket_cors(Bucket=bucket)
    assert error_of(failure) == ("NotImplemented", 501)


def test_malformed_documents_are_refused(server: RunningServer, bucket: str) -> None:
    status, body = _signed(server, "POST", f"/{bucket}?delete", b"<Delete><Object><Key>x</Key></Delete>")
    assert status == 400 and b"<Code>MalformedXML</Code>" in body
    entity = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "x">]><Delete><Object><Key>&e;</Key></Object></Delete>'
    )
    status, body = _signed(server, "POST", f"/{bucket}?delete", entity)
    assert status == 400 and b"<Code>MalformedXML</Code>" in body


# --------------------------------------------------------------------------- addressing and signing


def test_presigned_urls_in_both_signature_versions(server: RunningServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="shared file.txt", Body=b"shared")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared file.txt"})
    assert "AWSAccessKeyId=" in url  # boto3's default for S3 in us-east-1: signature version 2
    with urllib.request.urlopen(url) as response:
        assert response.read() == b"shared"
    v4 = server.client("s3", signature_version="s3v4")
    put_url = v4.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up"}, ExpiresIn=60)
    assert "X-Amz-Signature=" in put_url
    request = urllib.request.Request(put_url, data=b"uploaded", method="PUT")
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
    assert s3.get_object(Bucket=bucket, Key="up")["Body"].read() == b"uploaded"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url.replace("shared%20file", "other"))
    assert refused.value.code == 403 and b"SignatureDoesNotMatch" in refused.value.read()
    expired = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "up"}, ExpiresIn=-10)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(expired)
    assert refused.value.code == 403 and b"Request has expired" in refused.value.read()


def test_virtual_hosted_addressing(server: RunningServer, s3: Any, bucket: str) -> None:
    """`bucket.s3.localhost` names the bucket in the Host header (resolvers need not know the name:
    the request goes to the server's address with that Host)."""
    s3.put_object(Bucket=bucket, Key="v/key.txt", Body=b"virtual")
    for host in (f"{bucket}.s3.localhost:{server.port}", f"{bucket}.localhost:{server.port}"):
        status, body = _signed(server, "GET", "/v/key.txt", b"", host=host)
        assert (status, body) == (200, b"virtual")
    status, body = _signed(server, "GET", "/?list-type=2", b"", host=f"{bucket}.s3.localhost:{server.port}")
    assert status == 200 and b"<Key>v/key.txt</Key>" in body


def test_aws_chunked_uploads_as_sdks_stream_them(server: RunningServer, s3: Any, bucket: str) -> None:
    payload = b"chunked payload " * 5000
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    framed = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in _pieces(payload, 8192))
    framed += b"0\r\nx-amz-checksum-crc32:" + crc.encode() + b"\r\n\r\n"
    headers = {
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(payload)),
        "X-Amz-Trailer": "x-amz-checksum-crc32",
    }
    status, body = _signed(
        server,
        "PUT",
        f"/{bucket}/chunked",
        framed,
        headers=headers,
        payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    )
    assert status == 200, body
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == payload
    bad = framed.replace(crc.encode(), b"AAAAAA==")
    status, body = _signed(
        server,
        "PUT",
        f"/{bucket}/bad",
        bad,
        headers=headers,
        payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    )
    assert status == 400 and b"<Code>BadDigest</Code>" in body


def test_signed_chunks_are_verified(server: RunningServer, s3: Any, bucket: str) -> None:
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD: each chunk's signature chains from the request's."""
    payload = [b"a" * 70000, b"b" * 100]
    status, body = _signed_chunks(server, f"/{bucket}/signed", payload, tamper=False)
    assert status == 200, body
    assert s3.get_object(Bucket=bucket, Key="signed")["Body"].read() == b"".join(payload)
    status, body = _signed_chunks(server, f"/{bucket}/tampered", payload, tamper=True)
    assert status == 403 and b"SignatureDoesNotMatch" in body
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="tampered")


def test_wrong_keys_get_s3s_error_codes(server: RunningServer, bucket: str) -> None:
    import boto3

    stranger = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIANOSUCHKEY0000000",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as failure:
        stranger.list_objects_v2(Bucket=bucket)
    assert error_of(failure) == ("InvalidAccessKeyId", 403)
    wrong = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key="wrong",
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as failure:
        wrong.list_objects_v2(Bucket=bucket)
    assert error_of(failure) == ("SignatureDoesNotMatch", 403)
    stranger.close()
    wrong.close()


# --------------------------------------------------------------------------- helpers


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[at : at + size] for at in range(0, len(data), size)]


def _signed(
    server: RunningServer,
    method: str,
    target: str,
    body: bytes,
    *,
    host: str | None = None,
    headers: dict[str, str] | None = None,
    payload_hash: str | None = None,
    signed_body: bytes | None = None,
) -> tuple[int, bytes]:
    """A request signed by botocore's SigV4 signer for S3, sent as given (bodies botocore would
    never send: tampered after signing, aws-chunked by hand)."""
    url = server.endpoint + target
    signed = body if signed_body is None else signed_body
    request = botocore.awsrequest.AWSRequest(method=method, url=url, data=signed, headers=dict(headers or {}))
    if host is not None:
        request.headers["Host"] = host
    s3_signer(payload_hash).add_auth(request)
    prepared = urllib.request.Request(
        url, data=body or None, method=method, headers=dict(request.headers.items())
    )
    try:
        with urllib.request.urlopen(prepared) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _signed_chunks(
    server: RunningServer, target: str, chunks: list[bytes], *, tamper: bool
) -> tuple[int, bytes]:
    import hmac

    url = server.endpoint + target
    decoded = sum(len(chunk) for chunk in chunks)
    headers = {
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(decoded),
        "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    }
    request = botocore.awsrequest.AWSRequest(method="PUT", url=url, data=b"", headers=headers)
    s3_signer("STREAMING-AWS4-HMAC-SHA256-PAYLOAD").add_auth(request)
    timestamp = request.context["timestamp"]
    scope = f"{timestamp[:8]}/us-east-1/s3/aws4_request"
    seed = str(request.headers["Authorization"]).rsplit("Signature=", 1)[1]
    key = ("AWS4" + SECRET_KEY).encode()
    for part in (timestamp[:8], "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    empty = hashlib.sha256(b"").hexdigest()
    previous, framed = seed, b""
    for chunk in [*chunks, b""]:
        text = "\n".join(
            ("AWS4-HMAC-SHA256-PAYLOAD", timestamp, scope, previous, empty, hashlib.sha256(chunk).hexdigest())
        )
        signature = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
        sent = chunk.replace(b"b", b"c") if tamper and chunk.startswith(b"b") else chunk
        framed += b"%x;chunk-signature=%s\r\n%s\r\n" % (len(chunk), signature.encode(), sent)
        previous = signature
    prepared = urllib.request.Request(url, data=framed, method="PUT", headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(prepared) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_declarations_that_cannot_be_true_are_refused(server: RunningServer, s3: Any, bucket: str) -> None:
    for header, value in (("x-amz-checksum-crc32c", "%%%%"), ("x-amz-checksum-crc64nvme", "abc")):
        status, body = _signed(server, "PUT", f"/{bucket}/sum", b"hello", headers={header: value})
        assert status == 400 and b"<Code>InvalidRequest</Code>" in body, header
    framed = b"5\r\nhello\r\n0\r\n\r\n"
    status, body = _signed(
        server,
        "PUT",
        f"/{bucket}/odd",
        framed,
        headers={"Content-Encoding": "aws-chunked"},
        payload_hash="STREAMING-FOO",
    )
    assert status == 400 and b"<Code>InvalidArgument</Code>" in body
    status, body = _signed(
        server,
        "PUT",
        f"/{bucket}/odd",
        framed,
        headers={"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": "abc"},
        payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    )
    assert status == 400 and b"<Code>InvalidArgument</Code>" in body
    status, body = _signed(server, "PUT", f"/{bucket}/%ff%fe", b"x")
    assert status == 400 and b"<Code>InvalidURI</Code>" in body
    with pytest.raises(ClientError) as failure:
        s3.list_multipart_uploads(Bucket=bucket, MaxUploads=-1)
    assert error_of(failure)[0] == "InvalidArgument"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_bucket_names_never_collide_with_other_routes(server: RunningServer, s3: Any) -> None:
    """Path-style S3 is routed by the signature's service: buckets named like Lamina's own paths
    are just buckets."""
    for name in ("metrics", "2015-03-31", "admin"):
        if name not in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]:
            s3.create_bucket(Bucket=name)
        s3.put_object(Bucket=name, Key="functions/x/invocations", Body=name.encode())
        assert s3.get_object(Bucket=name, Key="functions/x/invocations")["Body"].read() == name.encode()
        for signer in (s3, server.client("s3", signature_version="s3v4")):
            url = signer.generate_presigned_url("list_objects_v2", Params={"Bucket": name})
            with urllib.request.urlopen(url) as response:
                assert b"<Key>functions/x/invocations</Key>" in response.read(), url
        s3.delete_object(Bucket=name, Key="functions/x/invocations")
        s3.delete_bucket(Bucket=name)
