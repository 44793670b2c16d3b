"""Which IAM action and resource each S3 operation is authorised as (Service Authorization
Reference for Amazon S3), and the check: the caller's identity policies with the bucket's policy.

Most operations are `s3:` plus their name; the exceptions are S3's own (HeadObject is
`s3:GetObject`, a listing is `s3:ListBucket`, the multipart steps are `s3:PutObject`, …). Object
operations name the object's ARN (`arn:aws:s3:::bucket/key`), bucket operations the bucket's.
"""

from __future__ import annotations

from collections.abc import Mapping

from lamina.api.context import RequestContext
from lamina.domain.buckets.errors import access_denied
from lamina.domain.buckets.records import BucketRecord
from lamina.domain.iam.conditions import ContextValue
from lamina.domain.iam.evaluation import Decision
from lamina.domain.iam.policy import MalformedPolicy, Policy, parse_policy
from lamina.identity.authorizer import Authorizer

_ACTIONS = {
    "HeadObject": "s3:GetObject",
    "HeadBucket": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "ListBuckets": "s3:ListAllMyBuckets",
    "DeleteObjects": "s3:DeleteObject",
    "CopyObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "UploadPartCopy": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "ListParts": "s3:ListMultipartUploadParts",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "PutBucketNotificationConfiguration": "s3:PutBucketNotification",
    "GetBucketNotificationConfiguration": "s3:GetBucketNotification",
    "PutBucketTagging": "s3:PutBucketTagging",
    "DeleteBucketTagging": "s3:PutBucketTagging",
    "GetBucketVersioning": "s3:GetBucketVersioning",
}


def action_of(operation: str) -> str:
    return _ACTIONS.get(operation, f"s3:{operation}")


def object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


class S3Authorization:
    def __init__(self, authorizer: Authorizer) -> None:
        self._authorizer = authorizer
        self._policies: dict[str, Policy | None] = {}

    def _policy(self, bucket: BucketRecord | None) -> Policy | None:
        if bucket is None or bucket.policy is None:
            return None
        text = bucket.policy
        if text not in self._policies:
            if len(self._policies) > 256:
                self._policies.clear()
            try:
                self._policies[text] = parse_policy(text, resource_policy=True)
            except MalformedPolicy:
                self._policies[text] = None
        return self._policies[text]

    def check(
        self,
        operation: str,
        context: RequestContext,
        bucket_name: str | None,
        key: str | None,
        bucket: BucketRecord | None,
        *,
        action: str | None = None,
        extra: Mapping[str, ContextValue] | None = None,
    ) -> None:
        """Raise AccessDenied (S3's: 403, "Access Denied") unless the caller may do `operation`.
        A bucket that does not exist belongs to the caller's own account (the operation then
        answers NoSuchBucket), as S3 lets its owner see."""
        principal = context.principal
        if bucket_name is None:
            resource = "*"
        elif key is not None:
            resource = object_arn(bucket_name, key)
        else:
            resource = bucket_arn(bucket_name)
        owner = bucket.account_id if bucket is not None else principal.account
        conditions: dict[str, ContextValue] = {"aws:SourceIp": context.source_ip} if context.source_ip else {}
        if extra:
            conditions.update(extra)
        decision = self._authorizer.decide(
            principal, action or action_of(operation), resource, owner, self._policy(bucket), conditions
        )
        if decision is not Decision.ALLOW:
            raise access_denied()
