"""What the S3 operations share at the edge: request bodies as streams, object attributes from
headers, owners, URL-encoded listings, the caller as events record it."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

from lamina.api.context import RequestContext
from lamina.domain.buckets.errors import missing_content_length
from lamina.domain.buckets.records import STORED_HEADERS, ObjectRecord
from lamina.errors import AwsError
from lamina.protocol.aws_chunked import STREAMING_KINDS, ChunkSigning, decode_aws_chunked, is_aws_chunked
from lamina.protocol.http import BodyReader
from lamina.sources.buckets.digests import CHECKSUM_HEADERS, BodyChecks, checksums_of
from lamina.sources.buckets.service import Caller, ObjectAttributes

_HEX = frozenset("0123456789abcdef")


def owner_of(account_id: str) -> dict[str, str]:
    """The Owner element: S3's canonical user id is 64 hex digits; here derived from the account."""
    return {"ID": hashlib.sha256(account_id.encode()).hexdigest(), "DisplayName": account_id}


def url_encoded(value: str | None, encode: bool) -> str | None:
    """A key, prefix or delimiter as a listing returns it: with `encoding-type=url` (boto3 asks for
    it), percent-encoded; botocore decodes it with unquote_plus, so `+` must be encoded too."""
    if value is None or not encode:
        return value
    return quote(value, safe="/~")


def caller_of(context: RequestContext) -> Caller:
    principal = context.principal
    principal_id = f"AWS:{principal.user_id}" if principal.user_id else principal.account
    return Caller(
        principal.account,
        principal_id,
        context.source_ip,
        context.request_id,
        context.request_id.replace("-", ""),
        context.request.headers.get("x-amzn-trace-id"),
    )


def attributes_of(params: Mapping[str, Any]) -> ObjectAttributes:
    headers = {name: str(params[name]) for name in STORED_HEADERS if params.get(name) is not None}
    if "Expires" in headers and hasattr(params["Expires"], "strftime"):
        headers["Expires"] = params["Expires"].strftime("%a, %d %b %Y %H:%M:%S GMT")
    return ObjectAttributes(
        params.get("ContentType"),
        dict(params.get("Metadata") or {}),
        headers,
        tags_of_header(params.get("Tagging")),
    )


def tags_of_header(text: str | None) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(text, keep_blank_values=True)) if text else {}


def object_headers(record: ObjectRecord) -> dict[str, Any]:
    """The output members every read of an object returns (GetObject, HeadObject)."""
    output: dict[str, Any] = {
        "ETag": record.etag,
        "LastModified": record.last_modified,
        "ContentType": record.content_type,
        "Metadata": dict(record.metadata),
        "AcceptRanges": "bytes",
    }
    for name, value in record.headers.items():
        output[name] = value
    if record.tags:
        output["TagCount"] = len(record.tags)
    return output


class RequestBody:
    """A request's body as a stream of chunks, aws-chunked framing removed, and what the client
    declared about it (length, Content-MD5, payload hash, checksums, trailers)."""

    def __init__(
        self, params: Mapping[str, Any], context: RequestContext, signing: ChunkSigning | None
    ) -> None:
        request = context.request
        headers = request.headers
        self.trailing: dict[str, str] = {}
        given = params.get("Body")
        body: BodyReader | bytes = given if given is not None else request.body
        declared_hash = headers.get("x-amz-content-sha256")
        if (
            declared_hash is not None
            and declared_hash.startswith("STREAMING-")
            and declared_hash not in STREAMING_KINDS
        ):
            raise AwsError(
                "InvalidArgument",
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid "
                "sha256 value.",
                400,
            )
        chunked = is_aws_chunked(declared_hash, headers.get("content-encoding"))
        if chunked:
            decoded = headers.get("x-amz-decoded-content-length")
            if decoded is None:
                raise missing_content_length()
            if not decoded.isdigit():
                raise AwsError(
                    "InvalidArgument", "x-amz-decoded-content-length must be a non-negative integer.", 400
                )
            length = int(decoded)
        elif isinstance(body, bytes):
            length = len(body)
        else:
            declared_length = body.declared_length
            if declared_length is None:
                raise missing_content_length()
            length = declared_length
        payload_hash = (
            declared_hash
            if declared_hash is not None and len(declared_hash) == 64 and set(declared_hash) <= _HEX
            else None
        )
        if isinstance(body, bytes):
            payload_hash = None  # the gateway already checked a buffered body against it
        self.checks = BodyChecks(length, params.get("ContentMD5"), payload_hash, checksums_of(params))
        raw = _chunks_of(body)
        self.chunks: AsyncIterator[bytes] = (
            decode_aws_chunked(raw, self._trailer, signing) if chunked else raw
        )
        self.expects_trailer = chunked and "x-amz-trailer" in headers

    def _trailer(self, name: str, value: str) -> None:
        for member, header in CHECKSUM_HEADERS.items():
            if header == name:
                self.trailing[member] = value


async def _chunks_of(body: BodyReader | bytes) -> AsyncIterator[bytes]:
    if isinstance(body, bytes):
        if body:
            yield body
        return
    while chunk := await body.read():
        yield chunk
