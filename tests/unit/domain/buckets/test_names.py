"""Bucket names and object keys as S3 accepts them (User Guide, "Bucket naming rules"; "Naming
Amazon S3 objects")."""

from __future__ import annotations

import pytest

from lamina.domain.buckets.names import MAX_KEY_BYTES, check_bucket_name, check_key, is_bucket_name
from lamina.errors import AwsError


@pytest.mark.parametrize(
    "name",
    [
        "abc",
        "a" * 63,
        "my-bucket",
        "my.bucket.name",
        "1bucket",
        "bucket1",
        "a-b.c-d",
        "192.168.5",  # three numbers are not an IP address
        "999.999.999.999",  # not a valid IPv4 address either
        "xn-bucket",  # only "xn--" is reserved
        "sthree",
        "bucket-s3alias-x",  # reserved suffixes only at the end
        "bucket.mrap1",
    ],
)
def test_valid_bucket_names(name: str) -> None:
    assert is_bucket_name(name)
    check_bucket_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "ab",  # too short
        "a" * 64,  # too long
        "My-Bucket",  # uppercase
        "my_bucket",  # underscore
        "my bucket",
        "-bucket",  # must start with a letter or digit
        "bucket-",  # and end with one
        ".bucket",
        "bucket.",
        "my..bucket",  # adjacent periods
        "192.168.5.4",  # an IP address
        "10.0.0.1",
        "xn--bucket",  # reserved prefixes
        "sthree-bucket",
        "amzn-s3-demo-bucket",
        "bucket-s3alias",  # reserved suffixes
        "bucket--ol-s3",
        "bucket.mrap",
        "bucket--x-s3",
        "bucket--table-s3",
        "bücket",
        "bucket\n",
    ],
)
def test_invalid_bucket_names(name: str) -> None:
    assert not is_bucket_name(name)
    with pytest.raises(AwsError) as caught:
        check_bucket_name(name)
    assert (caught.value.code, caught.value.status) == ("InvalidBucketName", 400)
    assert caught.value.extra == {"BucketName": name}


@pytest.mark.parametrize(
    "key",
    ["a", "a/b/c", " spaces and symbols !@#$%^&*()", "é" * (MAX_KEY_BYTES // 2), "x" * MAX_KEY_BYTES],
)
def test_keys_up_to_1024_utf8_bytes_are_accepted(key: str) -> None:
    check_key(key)


@pytest.mark.parametrize(
    "key",
    ["x" * (MAX_KEY_BYTES + 1), "é" * (MAX_KEY_BYTES // 2) + "x", "\U0001f600" * 256 + "x"],
    ids=["ascii", "two-byte", "four-byte"],
)
def test_keys_over_1024_utf8_bytes_are_too_long(key: str) -> None:
    assert len(key) <= MAX_KEY_BYTES + 1  # long in bytes, not necessarily in characters
    with pytest.raises(AwsError) as caught:
        check_key(key)
    assert (caught.value.code, caught.value.status) == ("KeyTooLongError", 400)
    assert caught.value.extra == {"Size": len(key.encode()), "MaxSizeAllowed": 1024}


@pytest.mark.parametrize("key", ["", "\ud800", "a\x00b"], ids=["empty", "lone-surrogate", "nul"])
def test_empty_and_non_utf8_keys_are_invalid_arguments(key: str) -> None:
    with pytest.raises(AwsError) as caught:
        check_key(key)
    assert (caught.value.code, caught.value.status) == ("InvalidArgument", 400)
