"""The S3 operations on objects: put, get, head, delete (one or many), copy, and multipart
uploads. Bodies stream in and out; nothing here holds an object whole."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from lamina.api.context import OperationResult, RequestContext
from lamina.api.services.s3.wire import RequestBody, attributes_of, caller_of, object_headers, owner_of
from lamina.domain.buckets import errors
from lamina.domain.buckets.reads import ByteRange, check_conditions, parse_range
from lamina.domain.buckets.records import ObjectRecord
from lamina.errors import AwsError
from lamina.protocol.aws_chunked import ChunkSigning
from lamina.sources.buckets.service import BucketService

# The Response* query parameters of GetObject override these headers of the answer.
_RESPONSE_OVERRIDES = {
    "ResponseContentType": "ContentType",
    "ResponseContentLanguage": "ContentLanguage",
    "ResponseExpires": "Expires",
    "ResponseCacheControl": "CacheControl",
    "ResponseContentDisposition": "ContentDisposition",
    "ResponseContentEncoding": "ContentEncoding",
}
# The source an object copy names, and what it checks of it (CopyObject, UploadPartCopy).
SourceCheck = Callable[[str, str, RequestContext], Any]


def parse_copy_source(text: str) -> tuple[str, str]:
    """`bucket/key` (or `/bucket/key`, URL-encoded, maybe `?versionId=`) → (bucket, key)."""
    path = unquote(text.split("?", 1)[0]).lstrip("/")
    bucket, slash, key = path.partition("/")
    if not bucket or not slash or not key:
        raise errors.invalid_argument("Invalid copy source object key", "x-amz-copy-source", text)
    return bucket, key


class ObjectOperations:
    def __init__(
        self,
        service: BucketService,
        signing: Callable[[RequestContext], ChunkSigning | None],
        authorize_source: Callable[[str, str, RequestContext], Any],
    ) -> None:
        """`signing(context)`: an aws-chunked body's chunk signing, when signed chunks come;
        `authorize_source(bucket, key, context)`: awaited; raises unless the caller may read the
        copy source."""
        self._service = service
        self._signing = signing
        self._authorize_source = authorize_source

    # single objects ------------------------------------------------------------------------
    async def put_object(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        body = RequestBody(params, context, self._signing(context))
        record = await self._service.put_object(
            params["Bucket"],
            params["Key"],
            body.chunks,
            body.checks,
            attributes_of(params),
            caller_of(context),
            trailing=body.trailing if body.expects_trailer else None,
        )
        return OperationResult({"ETag": record.etag, **record.checksums})

    async def get_object(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        record, byte_range, output = await self._read(params)
        output["Body"] = self._service.read(record, byte_range)
        return OperationResult(output, status=206 if byte_range is not None else 200)

    async def head_object(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        _, byte_range, output = await self._read(params)
        return OperationResult(output, status=206 if byte_range is not None else 200)

    async def _read(self, params: dict[str, Any]) -> tuple[ObjectRecord, ByteRange | None, dict[str, Any]]:
        record = await self._service.object(params["Bucket"], params["Key"])
        check_conditions(
            record,
            if_match=params.get("IfMatch"),
            if_none_match=params.get("IfNoneMatch"),
            if_modified_since=params.get("IfModifiedSince"),
            if_unmodified_since=params.get("IfUnmodifiedSince"),
        )
        output = object_headers(record)
        part_number = params.get("PartNumber")
        byte_range: ByteRange | None
        if part_number is not None:
            byte_range = _part_range(record, part_number)
            output["PartsCount"] = record.parts_count or 1
        else:
            byte_range = parse_range(params.get("Range"), record.size)
        if byte_range is not None:
            output["ContentRange"] = byte_range.content_range(record.size)
            output["ContentLength"] = byte_range.length
        else:
            output["ContentLength"] = record.size
            if params.get("ChecksumMode") == "ENABLED":
                output.update(record.checksums)
        for query_member, header_member in _RESPONSE_OVERRIDES.items():
            if params.get(query_member) is not None:
                output[header_member] = params[query_member]
        return record, byte_range, output

    async def delete_object(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.delete_object(params["Bucket"], params["Key"], caller_of(context))
        return OperationResult({}, status=204)

    async def delete_objects(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        delete = params.get("Delete") or {}
        keys = [str(entry.get("Key", "")) for entry in delete.get("Objects") or []]
        results = await self._service.delete_objects(params["Bucket"], keys, caller_of(context))
        quiet = bool(delete.get("Quiet"))
        return OperationResult(
            {
                "Deleted": [{"Key": key} for key, error in results if error is None and not quiet] or None,
                "Errors": [
                    {"Key": key, "Code": error.code, "Message": error.message}
                    for key, error in results
                    if error is not None
                ]
                or None,
            }
        )

    async def copy_object(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        source = await self._source(params, context)
        replace = (params.get("MetadataDirective") or "COPY") == "REPLACE"
        record = await self._service.copy_object(
            source,
            params["Bucket"],
            params["Key"],
            attributes_of(params) if replace else None,
            caller_of(context),
        )
        return OperationResult(
            {"CopyObjectResult": {"ETag": record.etag, "LastModified": record.last_modified}}
        )

    async def _source(self, params: dict[str, Any], context: RequestContext) -> ObjectRecord:
        bucket, key = parse_copy_source(params["CopySource"])
        await self._authorize_source(bucket, key, context)
        source = await self._service.object(bucket, key)
        check_conditions(
            source,
            if_match=params.get("CopySourceIfMatch"),
            if_none_match=params.get("CopySourceIfNoneMatch"),
            if_modified_since=params.get("CopySourceIfModifiedSince"),
            if_unmodified_since=params.get("CopySourceIfUnmodifiedSince"),
        )
        return source

    # multipart uploads ---------------------------------------------------------------------
    async def create_multipart_upload(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        upload = await self._service.create_upload(
            params["Bucket"], params["Key"], attributes_of(params), context.principal.arn
        )
        return OperationResult({"Bucket": upload.bucket, "Key": upload.key, "UploadId": upload.upload_id})

    async def upload_part(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        body = RequestBody(params, context, self._signing(context))
        part, checksums = await self._service.upload_part(
            params["Bucket"],
            params["Key"],
            params["UploadId"],
            int(params["PartNumber"]),
            body.chunks,
            body.checks,
            trailing=body.trailing if body.expects_trailer else None,
        )
        return OperationResult({"ETag": part.etag, **checksums})

    async def upload_part_copy(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        source = await self._source(params, context)
        byte_range = None
        if params.get("CopySourceRange"):
            byte_range = parse_range(params["CopySourceRange"], source.size)
            if byte_range is None:
                raise errors.invalid_argument(
                    "The x-amz-copy-source-range value must be of the form bytes=first-last where first "
                    "and last are the zero-based offsets of the first and last bytes to copy",
                    "x-amz-copy-source-range",
                    params["CopySourceRange"],
                )
        part = await self._service.copy_part(
            params["Bucket"], params["Key"], params["UploadId"], int(params["PartNumber"]), source, byte_range
        )
        return OperationResult({"CopyPartResult": {"ETag": part.etag, "LastModified": part.last_modified}})

    async def complete_multipart_upload(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        chosen = [
            (int(part.get("PartNumber", 0)), str(part.get("ETag", "")))
            for part in (params.get("MultipartUpload") or {}).get("Parts") or []
        ]
        record = await self._service.complete_upload(
            params["Bucket"], params["Key"], params["UploadId"], chosen, caller_of(context)
        )
        return OperationResult(
            {
                "Location": f"{context.base_url}/{record.bucket}/{record.key}",
                "Bucket": record.bucket,
                "Key": record.key,
                "ETag": record.etag,
            }
        )

    async def abort_multipart_upload(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        await self._service.abort_upload(params["Bucket"], params["Key"], params["UploadId"])
        return OperationResult({}, status=204)

    async def list_parts(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        upload, parts = await self._service.list_parts(params["Bucket"], params["Key"], params["UploadId"])
        marker = int(params.get("PartNumberMarker") or 0)
        limit = int(params.get("MaxParts") or 1000)
        after = [part for part in parts if part.number > marker]
        page = after[:limit]
        truncated = len(after) > limit
        bucket = await self._service.bucket(params["Bucket"])
        return OperationResult(
            {
                "Bucket": upload.bucket,
                "Key": upload.key,
                "UploadId": upload.upload_id,
                "PartNumberMarker": marker,
                "NextPartNumberMarker": page[-1].number if truncated and page else None,
                "MaxParts": limit,
                "IsTruncated": truncated,
                "Parts": [
                    {
                        "PartNumber": part.number,
                        "LastModified": part.last_modified,
                        "ETag": part.etag,
                        "Size": part.size,
                    }
                    for part in page
                ]
                or None,
                "Initiator": {"ID": upload.initiator, "DisplayName": upload.initiator},
                "Owner": owner_of(bucket.account_id),
                "StorageClass": "STANDARD",
            }
        )


def _part_range(record: ObjectRecord, number: int) -> ByteRange | None:
    count = record.parts_count or 1
    if not 1 <= number <= count:
        raise AwsError("InvalidPartNumber", "The requested partnumber is not satisfiable", 416)
    if record.parts_count is None:
        return None
    start = sum(segment.size for segment in record.segments[: number - 1])
    size = record.segments[number - 1].size
    return ByteRange(start, start + size - 1)
