"""Which S3 operation a request is, the way S3 itself tells them apart.

S3 names no operation on the wire: it is read from the method, from whether the request names a
bucket and a key, from "subresource" query parameters (`?notification`, `?uploads`, `uploadId`)
and from a few headers (`x-amz-copy-source` makes a PUT a copy). The bucket comes from the path
(`/bucket/key`, path-style) or from the host (`bucket.s3.localhost`, virtual-hosted style).

botocore's model lists each operation's request URI, but several share one (PutObject, CopyObject,
UploadPart and UploadPartCopy are all `PUT /{Bucket}/{Key+}`), so the table below says what S3
does. Subresources S3 has and Lamina does not serve yet are told apart from plain query
parameters by the model's URIs, and answered `NotImplemented` instead of being mistaken for a
GetObject.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from botocore.model import ServiceModel

__all__ = ["NOT_IMPLEMENTED", "S3Address", "S3Router"]

NOT_IMPLEMENTED = "NotImplemented"

# (method, subresource) → operation, for requests naming a bucket and no key.
_BUCKET_OPERATIONS = {
    ("GET", "location"): "GetBucketLocation",
    ("GET", "notification"): "GetBucketNotificationConfiguration",
    ("PUT", "notification"): "PutBucketNotificationConfiguration",
    ("GET", "policy"): "GetBucketPolicy",
    ("PUT", "policy"): "PutBucketPolicy",
    ("DELETE", "policy"): "DeleteBucketPolicy",
    ("POST", "delete"): "DeleteObjects",
    ("GET", "uploads"): "ListMultipartUploads",
    ("GET", "versioning"): "GetBucketVersioning",
    ("GET", "tagging"): "GetBucketTagging",
    ("PUT", "tagging"): "PutBucketTagging",
    ("DELETE", "tagging"): "DeleteBucketTagging",
    ("GET", "acl"): "GetBucketAcl",
}
# (method, subresource) → operation, for requests naming a key.
_OBJECT_OPERATIONS = {
    ("POST", "uploads"): "CreateMultipartUpload",
    ("GET", "tagging"): "GetObjectTagging",
    ("PUT", "tagging"): "PutObjectTagging",
    ("DELETE", "tagging"): "DeleteObjectTagging",
    ("GET", "acl"): "GetObjectAcl",
}
_PLAIN_BUCKET = {"PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "HeadBucket"}
_PLAIN_OBJECT = {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}
_UPLOAD_OBJECT = {
    "GET": "ListParts",
    "DELETE": "AbortMultipartUpload",
    "POST": "CompleteMultipartUpload",
}
COPY_SOURCE = "x-amz-copy-source"


@dataclass(frozen=True, slots=True)
class S3Address:
    """What a request names: a bucket and a key (decoded), or neither (the service: ListBuckets)."""

    bucket: str | None
    key: str | None
    virtual_host: bool = False


class S3Router:
    """Tells S3 operations apart. `host_names`: names this server answers to (`localhost`, its
    --host); `bucket.<name>` and `bucket.s3.<anything>` then address bucket `bucket`."""

    def __init__(self, service_model: ServiceModel, host_names: Iterable[str] = ("localhost",)) -> None:
        self._host_names = tuple(name.lower() for name in host_names if name and not _is_ip(name))
        subresources: set[str] = set()
        for name in service_model.operation_names:
            template = service_model.operation_model(name).http.get("requestUri", "")
            query = template.partition("?")[2]
            subresources.update(part.partition("=")[0] for part in query.split("&") if part)
        subresources.discard("list-type")  # ListObjectsV2 is a listing, not a subresource
        self._subresources = frozenset(subresources)

    def address(self, raw_path: str, headers: Mapping[str, str]) -> S3Address:
        """The bucket and key a request names (virtual-hosted style first, as S3 does)."""
        bucket = self.bucket_of_host(headers.get("host", ""))
        path = raw_path[1:] if raw_path.startswith("/") else raw_path
        if bucket is not None:
            return S3Address(bucket, _decoded(path) if path else None, virtual_host=True)
        if not path:
            return S3Address(None, None)
        bucket_part, slash, key_part = path.partition("/")
        key = _decoded(key_part) if slash and key_part else None
        return S3Address(_decoded(bucket_part), key)

    def bucket_of_host(self, host: str) -> str | None:
        name = host.lower()
        if name.startswith("["):
            return None
        name = name.rpartition(":")[0] if ":" in name else name
        if not name or _is_ip(name):
            return None
        if ".s3." in name:
            bucket = name.split(".s3.", 1)[0]
            return bucket or None
        for suffix in self._host_names:
            if name.endswith("." + suffix):
                bucket = name[: -len(suffix) - 1]
                if bucket == "s3" or bucket.startswith("s3."):
                    return None  # s3.localhost, s3.us-east-1.localhost: the endpoint itself
                return bucket
        return None

    def operation(
        self, method: str, address: S3Address, query: Iterable[tuple[str, str]], headers: Mapping[str, str]
    ) -> str | None:
        """The operation's name, NOT_IMPLEMENTED for an S3 subresource Lamina does not serve, or
        None when S3 has no such request (a method no operation uses)."""
        keys = {key for key, _ in query}
        subresources = keys & self._subresources
        if address.bucket is None:
            return "ListBuckets" if method == "GET" else None
        if address.key is None:
            return self._bucket_operation(method, subresources, keys)
        return self._object_operation(method, subresources, keys, headers)

    @staticmethod
    def _bucket_operation(method: str, subresources: set[str], keys: set[str]) -> str | None:
        for subresource in sorted(subresources):
            found = _BUCKET_OPERATIONS.get((method, subresource))
            if found is not None:
                return found
        if subresources:
            return NOT_IMPLEMENTED
        if method == "GET":
            return "ListObjectsV2" if "list-type" in keys else "ListObjects"
        return _PLAIN_BUCKET.get(method)

    @staticmethod
    def _object_operation(
        method: str, subresources: set[str], keys: set[str], headers: Mapping[str, str]
    ) -> str | None:
        for subresource in sorted(subresources):
            found = _OBJECT_OPERATIONS.get((method, subresource))
            if found is not None:
                return found
        if subresources:
            return NOT_IMPLEMENTED
        copying = COPY_SOURCE in headers
        if "uploadId" in keys:
            if method == "PUT":
                return "UploadPartCopy" if copying else "UploadPart"
            return _UPLOAD_OBJECT.get(method)
        if method == "PUT":
            return "CopyObject" if copying else "PutObject"
        return _PLAIN_OBJECT.get(method)


class InvalidUri(ValueError):
    """A path whose percent-encoding is not UTF-8: S3 answers InvalidURI."""


def _decoded(text: str) -> str:
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise InvalidUri(text) from None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True
