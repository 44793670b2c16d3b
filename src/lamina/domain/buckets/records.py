"""The records buckets and objects are stored as.

An object's bytes live in the object data store as one or more segments (a multipart upload's
object is its parts, kept where they were uploaded rather than copied into one); the record says
which segments, in order, and everything S3 returns about the object.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BucketRecord",
    "ObjectRecord",
    "PartRecord",
    "Segment",
    "UploadRecord",
    "multipart_etag",
]

# Headers stored with an object and returned as they were given (PutObject's system metadata).
STORED_HEADERS = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage", "Expires")


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of bytes in the object data store."""

    data_id: str
    size: int


@dataclass(frozen=True, slots=True)
class BucketRecord:
    name: str
    account_id: str
    region: str
    created: float  # epoch seconds
    # The stored NotificationConfiguration (normalised, as GetBucketNotificationConfiguration
    # returns it), the policy document as given, and the tag set.
    notification: Mapping[str, Any] = field(default_factory=dict)
    policy: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:::{self.name}"

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "account": self.account_id,
            "region": self.region,
            "created": self.created,
            "notification": dict(self.notification),
            "policy": self.policy,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> BucketRecord:
        return cls(
            str(record["name"]),
            str(record["account"]),
            str(record["region"]),
            float(record["created"]),
            dict(record.get("notification") or {}),
            record.get("policy"),
            dict(record.get("tags") or {}),
        )


@dataclass(frozen=True, slots=True)
class ObjectRecord:
    bucket: str
    key: str
    size: int
    etag: str  # with its quotes, as S3 sends it
    last_modified: float  # epoch seconds
    segments: tuple[Segment, ...]
    content_type: str = "binary/octet-stream"
    metadata: Mapping[str, str] = field(default_factory=dict)  # x-amz-meta-*
    headers: Mapping[str, str] = field(default_factory=dict)  # STORED_HEADERS given at upload
    parts_count: int | None = None  # objects made by a multipart upload
    checksums: Mapping[str, str] = field(default_factory=dict)  # e.g. ChecksumCRC32 → value
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "etag": self.etag,
            "modified": self.last_modified,
            "segments": [[segment.data_id, segment.size] for segment in self.segments],
            "type": self.content_type,
            "metadata": dict(self.metadata),
            "headers": dict(self.headers),
            "parts": self.parts_count,
            "checksums": dict(self.checksums),
            "tags": dict(self.tags),
        }

    @classmethod
    def from_record(cls, bucket: str, key: str, record: Mapping[str, Any]) -> ObjectRecord:
        return cls(
            bucket,
            key,
            int(record["size"]),
            str(record["etag"]),
            float(record["modified"]),
            tuple(Segment(str(data_id), int(size)) for data_id, size in record["segments"]),
            str(record.get("type") or "binary/octet-stream"),
            dict(record.get("metadata") or {}),
            dict(record.get("headers") or {}),
            record.get("parts"),
            dict(record.get("checksums") or {}),
            dict(record.get("tags") or {}),
        )


@dataclass(frozen=True, slots=True)
class UploadRecord:
    """A multipart upload in progress: what the object will be given when it completes."""

    upload_id: str
    bucket: str
    key: str
    initiated: float
    content_type: str = "binary/octet-stream"
    metadata: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    initiator: str = ""  # the caller's ARN
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "initiated": self.initiated,
            "type": self.content_type,
            "metadata": dict(self.metadata),
            "headers": dict(self.headers),
            "initiator": self.initiator,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_record(cls, upload_id: str, record: Mapping[str, Any]) -> UploadRecord:
        return cls(
            upload_id,
            str(record["bucket"]),
            str(record["key"]),
            float(record["initiated"]),
            str(record.get("type") or "binary/octet-stream"),
            dict(record.get("metadata") or {}),
            dict(record.get("headers") or {}),
            str(record.get("initiator") or ""),
            dict(record.get("tags") or {}),
        )


@dataclass(frozen=True, slots=True)
class PartRecord:
    upload_id: str
    number: int
    size: int
    etag: str  # quoted
    last_modified: float
    data_id: str


def quoted_etag(md5_hex: str) -> str:
    return f'"{md5_hex}"'


def multipart_etag(part_etags: Iterable[str]) -> str:
    """S3's ETag of an object made from parts: the MD5 of the parts' binary MD5s, then `-N`."""
    digests = [bytes.fromhex(etag.strip('"')) for etag in part_etags]
    return f'"{hashlib.md5(b"".join(digests)).hexdigest()}-{len(digests)}"'
