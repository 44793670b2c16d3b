"""Deployment packages named by bucket and key (`Code.S3Bucket`/`S3Key`/`S3ObjectVersion` of
CreateFunction, UpdateFunctionCode's `S3Bucket`..., PublishLayerVersion's `Content.S3Bucket`...), as
CI pipelines deploy: the package is read from the embedded S3 and used as if it came inline.

As on AWS, the caller must be allowed `s3:GetObject` on the object and the bucket must be in the
function's region; what goes wrong is answered as Lambda does, an InvalidParameterValueException
that quotes S3's error ("Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error
Message: The specified key does not exist.").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lamina.api.context import OperationResult, RequestContext
from lamina.api.services.s3.authorization import S3Authorization
from lamina.api.services.service import OperationHandler
from lamina.domain.code import MAX_UNZIPPED_BYTES
from lamina.errors import AwsError, invalid_parameter
from lamina.identity.authorizer import Authorizer
from lamina.sources.buckets.service import BucketService

_LOCATION = ("S3Bucket", "S3Key", "S3ObjectVersion")
# Where each operation carries its package.
_HOLDERS: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] = {
    "CreateFunction": lambda params: params.get("Code"),
    "UpdateFunctionCode": lambda params: params,
    "PublishLayerVersion": lambda params: params.get("Content"),
}


def _s3_failure(code: str, message: str) -> AwsError:
    return invalid_parameter(
        f"Error occurred while GetObject. S3 Error Code: {code}. S3 Error Message: {message}"
    )


class CodeFromBuckets:
    def __init__(self, buckets: Callable[[], BucketService | None], authorizer: Authorizer) -> None:
        """`buckets()`: the embedded S3's service (None where this process serves none)."""
        self._buckets = buckets
        self._authorization = S3Authorization(authorizer)

    def wrap(self, operation: str, handler: OperationHandler) -> OperationHandler:
        holder_of = _HOLDERS.get(operation)
        if holder_of is None:
            return handler

        async def resolved(params: dict[str, Any], context: RequestContext) -> OperationResult:
            holder = holder_of(params)
            if holder is not None and "S3Bucket" in holder:
                await self._resolve(holder, context)
            return await handler(params, context)

        return resolved

    async def _resolve(self, holder: dict[str, Any], context: RequestContext) -> None:
        if "ZipFile" in holder:
            raise invalid_parameter("Please don't provide both a ZipFile and an S3 location for the code.")
        if "S3Key" not in holder:
            raise invalid_parameter("Please provide an S3 key for the code (S3Key) with its bucket.")
        holder["ZipFile"] = await self.read(
            str(holder["S3Bucket"]), str(holder["S3Key"]), holder.get("S3ObjectVersion"), context
        )
        for name in _LOCATION:
            holder.pop(name, None)

    async def read(self, bucket_name: str, key: str, version: str | None, context: RequestContext) -> bytes:
        buckets = self._buckets()
        if buckets is None:
            raise _s3_failure("NoSuchBucket", "The specified bucket does not exist")
        bucket = await buckets.find_bucket(bucket_name)
        try:
            self._authorization.check("GetObject", context, bucket_name, key, bucket)
        except AwsError as denied:
            raise _s3_failure(denied.code, denied.message) from None
        if bucket is None:
            raise _s3_failure("NoSuchBucket", "The specified bucket does not exist")
        if bucket.region != context.region:
            raise _s3_failure(
                "PermanentRedirect",
                f"The bucket is in this region: {bucket.region}. Please use this region to retry the request",
            )
        if version is not None and version != "null":  # buckets here are never versioned
            raise _s3_failure("NoSuchVersion", "The specified version does not exist.")
        try:
            record = await buckets.object(bucket_name, key)
        except AwsError as missing:
            raise _s3_failure(missing.code, missing.message) from None
        if record.size > MAX_UNZIPPED_BYTES:
            raise invalid_parameter(f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes")
        return b"".join([chunk async for chunk in buckets.read(record)])
