"""The S3 API's door: S3 routing, rest-xml decoding, authorisation with bucket policies, then
the operation. Errors answer in S3's XML shape, SigV4 ones with S3's codes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from lamina.api.context import OperationResult, RequestContext
from lamina.api.services.s3.authorization import S3Authorization
from lamina.api.services.s3.bucket_operations import BucketOperations
from lamina.api.services.s3.object_operations import ObjectOperations
from lamina.api.services.service import snake_case
from lamina.errors import AwsError
from lamina.identity.authorizer import Authorizer
from lamina.protocol.aws_chunked import ChunkSigning
from lamina.protocol.http import HttpRequest, HttpResponse, WireProtocol
from lamina.protocol.rest_xml import RestXmlProtocol, not_implemented
from lamina.protocol.sigv4 import SignedRequest, SigV4Verifier
from lamina.sources.buckets.service import BucketService

Handler = Callable[[dict[str, Any], RequestContext], Awaitable[OperationResult]]

_BUCKET_OPERATIONS = (
    "CreateBucket",
    "DeleteBucket",
    "HeadBucket",
    "ListBuckets",
    "GetBucketLocation",
    "GetBucketVersioning",
    "PutBucketNotificationConfiguration",
    "GetBucketNotificationConfiguration",
    "PutBucketPolicy",
    "GetBucketPolicy",
    "DeleteBucketPolicy",
    "PutBucketTagging",
    "GetBucketTagging",
    "DeleteBucketTagging",
    "ListObjectsV2",
    "ListObjects",
    "ListMultipartUploads",
)
_OBJECT_OPERATIONS = (
    "PutObject",
    "GetObject",
    "HeadObject",
    "DeleteObject",
    "DeleteObjects",
    "CopyObject",
    "CreateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListParts",
)


class S3Facade:
    def __init__(
        self,
        protocol: RestXmlProtocol,
        service: BucketService,
        authorizer: Authorizer,
        verifier: SigV4Verifier,
    ) -> None:
        self.protocol: WireProtocol = protocol
        self._protocol = protocol
        self._service = service
        self._authorization = S3Authorization(authorizer)
        self._verifier = verifier
        buckets = BucketOperations(service)
        objects = ObjectOperations(service, self._chunk_signing, self._authorize_source)
        self._handlers: dict[str, Handler] = {
            **{name: getattr(buckets, snake_case(name)) for name in _BUCKET_OPERATIONS},
            **{name: getattr(objects, snake_case(name)) for name in _OBJECT_OPERATIONS},
        }

    def protocol_for(self, request: HttpRequest) -> WireProtocol:
        return self._protocol

    async def handle(self, request: HttpRequest, context: RequestContext) -> HttpResponse:
        matched = self._protocol.match_request(request)
        if matched is None:
            raise AwsError(
                "MethodNotAllowed", "The specified method is not allowed against this resource.", 405
            )
        operation, labels = matched
        handler = self._handlers.get(operation.name)
        if handler is None:
            raise not_implemented()
        params = self._protocol.parse(operation, labels, request)
        bucket_name = labels.get("Bucket")
        bucket = await self._service.find_bucket(bucket_name) if bucket_name is not None else None
        # Creating a bucket is the caller's own act: an existing bucket of that name (maybe another
        # account's) and its policy do not decide it; the create then answers that it exists.
        owned = None if operation.name == "CreateBucket" else bucket
        self._authorization.check(operation.name, context, bucket_name, labels.get("Key"), owned)
        result = await handler(params, context)
        headers = list(result.headers)
        if bucket is not None and operation.name in ("HeadBucket", "HeadObject", "GetObject"):
            headers.append(("x-amz-bucket-region", bucket.region))
        return self._protocol.serialize(
            operation, result.output, status=result.status, request_id=context.request_id, headers=headers
        )

    def _chunk_signing(self, context: RequestContext) -> ChunkSigning | None:
        request = context.request
        query = "&".join(f"{name}={value}" for name, value in request.query)
        return self._verifier.chunk_signing(
            SignedRequest(request.method, request.raw_path, query, request.headers, None)
        )

    async def _authorize_source(self, bucket_name: str, key: str, context: RequestContext) -> None:
        bucket = await self._service.find_bucket(bucket_name)
        self._authorization.check("GetObject", context, bucket_name, key, bucket)
