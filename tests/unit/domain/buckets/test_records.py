"""Records as stored, and S3's ETag of an object made from parts."""

from __future__ import annotations

import hashlib

import pytest

from lamina.domain.buckets.records import (
    BucketRecord,
    ObjectRecord,
    Segment,
    UploadRecord,
    multipart_etag,
    quoted_etag,
)


@pytest.mark.parametrize("count", [1, 2, 3, 10])
def test_multipart_etag_is_the_md5_of_the_parts_binary_md5s_then_their_count(count: int) -> None:
    parts = [f"part {index} ".encode() * (index + 1) for index in range(count)]
    expected = hashlib.md5()
    for part in parts:
        expected.update(hashlib.md5(part).digest())
    etags = [quoted_etag(hashlib.md5(part).hexdigest()) for part in parts]
    assert multipart_etag(etags) == f'"{expected.hexdigest()}-{count}"'
    # Unquoted ETags (as a CompleteMultipartUpload request may send them) give the same.
    assert multipart_etag(etag.strip('"') for etag in etags) == multipart_etag(etags)


def test_a_known_multipart_etag() -> None:
    """Two parts, worked out by hand: md5(md5(b"a") + md5(b"b"))."""
    first, second = hashlib.md5(b"a").hexdigest(), hashlib.md5(b"b").hexdigest()
    assert first == "0cc175b9c0f1b6a831c399e269772661"
    digest = hashlib.md5(bytes.fromhex(first) + bytes.fromhex(second)).hexdigest()
    assert multipart_etag([f'"{first}"', f'"{second}"']) == f'"{digest}-2"'
    # Not the MD5 of the hex text, nor of the whole content.
    assert digest != hashlib.md5((first + second).encode()).hexdigest()
    assert digest != hashlib.md5(b"ab").hexdigest()


def test_records_round_trip_through_their_stored_form() -> None:
    bucket = BucketRecord("b", "111111111111", "eu-west-1", 1.5, {"X": 1}, "{}", {"t": "v"})
    assert BucketRecord.from_record(bucket.to_record()) == bucket
    assert bucket.arn == "arn:aws:s3:::b"
    obj = ObjectRecord(
        "b", "k", 9, '"e-2"', 2.5, (Segment("1" * 32, 4), Segment("2" * 32, 5)), "text/plain",
        {"m": "1"}, {"CacheControl": "no"}, 2, {"ChecksumSHA1": "x"}, {"t": "v"},
    )  # fmt: skip
    assert ObjectRecord.from_record("b", "k", obj.to_record()) == obj
    upload = UploadRecord("u", "b", "k", 3.5, "image/png", {"m": "1"}, {}, "arn:caller", {"t": "v"})
    assert UploadRecord.from_record("u", upload.to_record()) == upload
