"""The S3 operations on buckets: create, delete, head, list, location, notification
configuration, policy, tags, versioning, and the listings of a bucket's objects and uploads."""

from __future__ import annotations

import json
from typing import Any

from lamina.api.context import OperationResult, RequestContext
from lamina.api.services.s3.wire import owner_of, url_encoded
from lamina.domain.buckets import errors
from lamina.domain.buckets.listing import continuation_token, marker_of_token
from lamina.domain.buckets.records import BucketRecord
from lamina.domain.iam.policy import MalformedPolicy, parse_policy
from lamina.errors import AwsError
from lamina.sources.buckets.service import BucketService

DEFAULT_MAX_KEYS = 1000
_LEGACY_REGION = "us-east-1"


class BucketOperations:
    def __init__(self, service: BucketService) -> None:
        self._service = service

    async def create_bucket(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        name = params["Bucket"]
        constraint = (params.get("CreateBucketConfiguration") or {}).get("LocationConstraint")
        region = context.region
        if (
            constraint is not None
            and constraint != region
            and not (constraint == "EU" and region == "eu-west-1")
        ):
            raise AwsError(
                "IllegalLocationConstraintException",
                f"The {constraint} location constraint is incompatible for the region specific "
                "endpoint this request was sent to.",
                400,
            )
        if constraint is None and region != _LEGACY_REGION:
            raise AwsError(
                "IllegalLocationConstraintException",
                "The unspecified location constraint is incompatible for the region specific endpoint "
                "this request was sent to.",
                400,
            )
        await self._service.create_bucket(name, context.principal.account, region)
        return OperationResult({"Location": f"/{name}"})

    async def delete_bucket(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.delete_bucket(params["Bucket"])
        return OperationResult({}, status=204)

    async def head_bucket(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        bucket = await self._service.bucket(params["Bucket"])
        return OperationResult({"BucketRegion": bucket.region})

    async def list_buckets(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account = context.principal.account
        buckets = await self._service.list_buckets(account)
        prefix = params.get("Prefix")
        if prefix:
            buckets = [bucket for bucket in buckets if bucket.name.startswith(prefix)]
        return OperationResult(
            {
                "Buckets": [
                    {"Name": bucket.name, "CreationDate": bucket.created, "BucketRegion": bucket.region}
                    for bucket in buckets
                ],
                "Owner": owner_of(account),
                "Prefix": prefix,
            }
        )

    async def get_bucket_location(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        bucket = await self._service.bucket(params["Bucket"])
        # us-east-1 buckets have no location constraint: the element is empty.
        return OperationResult(
            {"LocationConstraint": None if bucket.region == _LEGACY_REGION else bucket.region}
        )

    async def get_bucket_versioning(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.bucket(params["Bucket"])
        return OperationResult({})  # never versioned: no Status, as for a bucket never versioned

    # notifications -------------------------------------------------------------------------
    async def put_bucket_notification_configuration(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        await self._service.put_notification(
            params["Bucket"],
            params.get("NotificationConfiguration") or {},
            check_destinations=not params.get("SkipDestinationValidation", False),
        )
        return OperationResult({})

    async def get_bucket_notification_configuration(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        bucket = await self._service.bucket(params["Bucket"])
        return OperationResult(dict(bucket.notification))

    # policy --------------------------------------------------------------------------------
    async def put_bucket_policy(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        text = params.get("Policy") or ""
        try:
            parse_policy(json.loads(text), resource_policy=True)
        except (ValueError, MalformedPolicy) as error:
            raise errors.malformed_policy(
                f"Policies must be valid JSON and the first byte must be '{{' ({error})"
            ) from None
        await self._service.put_policy(params["Bucket"], text)
        return OperationResult({}, status=204)

    async def get_bucket_policy(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        bucket = await self._service.bucket(params["Bucket"])
        if bucket.policy is None:
            raise errors.no_such_bucket_policy(bucket.name)
        return OperationResult({"Policy": bucket.policy})

    async def delete_bucket_policy(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.put_policy(params["Bucket"], None)
        return OperationResult({}, status=204)

    # tags ----------------------------------------------------------------------------------
    async def put_bucket_tagging(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        tag_set = (params.get("Tagging") or {}).get("TagSet") or []
        tags = {str(tag.get("Key")): str(tag.get("Value", "")) for tag in tag_set}
        if len(tags) != len(tag_set):
            raise errors.invalid_argument("Cannot provide multiple Tags with the same key", "TagKey")
        await self._service.put_bucket_tags(params["Bucket"], tags)
        return OperationResult({}, status=204)

    async def get_bucket_tagging(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        bucket = await self._service.bucket(params["Bucket"])
        if not bucket.tags:
            raise errors.no_such_tag_set()
        return OperationResult({"TagSet": [{"Key": k, "Value": v} for k, v in bucket.tags.items()]})

    async def delete_bucket_tagging(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.put_bucket_tags(params["Bucket"], {})
        return OperationResult({}, status=204)

    # listings ------------------------------------------------------------------------------
    async def list_objects_v2(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        name = params["Bucket"]
        encode = params.get("EncodingType") == "url"
        prefix = params.get("Prefix") or ""
        delimiter = params.get("Delimiter") or None
        max_keys = _max_keys(params.get("MaxKeys"))
        token = params.get("ContinuationToken")
        start_after = params.get("StartAfter") or ""
        after = marker_of_token(token) if token else start_after
        page = await self._service.list_objects(name, prefix, delimiter, after, max_keys)
        bucket = await self._service.bucket(name)
        output: dict[str, Any] = {
            "Name": name,
            "Prefix": url_encoded(prefix, encode),
            "Delimiter": url_encoded(delimiter, encode),
            "MaxKeys": max_keys,
            "EncodingType": params.get("EncodingType"),
            "KeyCount": len(page.contents) + len(page.common_prefixes),
            "IsTruncated": page.truncated,
            "Contents": [
                self._entry(record, encode, bucket if params.get("FetchOwner") else None)
                for record in page.contents
            ]
            or None,
            "CommonPrefixes": [{"Prefix": url_encoded(common, encode)} for common in page.common_prefixes]
            or None,
            "ContinuationToken": token,
            "StartAfter": url_encoded(start_after, encode) if start_after else None,
        }
        if page.truncated and page.last is not None:
            output["NextContinuationToken"] = continuation_token(page.last)
        return OperationResult(output)

    async def list_objects(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        name = params["Bucket"]
        encode = params.get("EncodingType") == "url"
        prefix = params.get("Prefix") or ""
        delimiter = params.get("Delimiter") or None
        max_keys = _max_keys(params.get("MaxKeys"))
        marker = params.get("Marker") or ""
        page = await self._service.list_objects(name, prefix, delimiter, marker, max_keys)
        bucket = await self._service.bucket(name)
        output: dict[str, Any] = {
            "Name": name,
            "Prefix": url_encoded(prefix, encode),
            "Delimiter": url_encoded(delimiter, encode),
            "Marker": url_encoded(marker, encode),
            "MaxKeys": max_keys,
            "EncodingType": params.get("EncodingType"),
            "IsTruncated": page.truncated,
            "Contents": [self._entry(record, encode, bucket) for record in page.contents] or None,
            "CommonPrefixes": [{"Prefix": url_encoded(common, encode)} for common in page.common_prefixes]
            or None,
        }
        if page.truncated and delimiter and page.last is not None:
            output["NextMarker"] = url_encoded(page.last, encode)
        return OperationResult(output)

    @staticmethod
    def _entry(record: Any, encode: bool, bucket: BucketRecord | None) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Key": url_encoded(record.key, encode),
            "LastModified": record.last_modified,
            "ETag": record.etag,
            "Size": record.size,
            "StorageClass": "STANDARD",
        }
        if bucket is not None:
            entry["Owner"] = owner_of(bucket.account_id)
        return entry

    async def list_multipart_uploads(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        name = params["Bucket"]
        bucket = await self._service.bucket(name)
        prefix = params.get("Prefix") or ""
        uploads = [
            upload for upload in await self._service.list_uploads(name) if upload.key.startswith(prefix)
        ]
        limit = params.get("MaxUploads")
        limit = 1000 if limit is None else limit
        if not 0 <= limit <= 1000:
            raise errors.invalid_argument(
                "Argument max-uploads must be an integer between 0 and 2147483647", "max-uploads", str(limit)
            )
        encode = params.get("EncodingType") == "url"
        return OperationResult(
            {
                "Bucket": name,
                "Prefix": url_encoded(prefix, encode) if prefix else None,
                "MaxUploads": limit,
                "IsTruncated": len(uploads) > limit,
                "EncodingType": params.get("EncodingType"),
                "Uploads": [
                    {
                        "UploadId": upload.upload_id,
                        "Key": url_encoded(upload.key, encode),
                        "Initiated": upload.initiated,
                        "StorageClass": "STANDARD",
                        "Owner": owner_of(bucket.account_id),
                        "Initiator": {"ID": upload.initiator, "DisplayName": upload.initiator},
                    }
                    for upload in uploads[:limit]
                ]
                or None,
            }
        )


def _max_keys(value: int | None) -> int:
    if value is None:
        return DEFAULT_MAX_KEYS
    if value < 0:
        raise errors.invalid_argument("max-keys cannot be negative", "max-keys", str(value))
    return min(value, DEFAULT_MAX_KEYS)
