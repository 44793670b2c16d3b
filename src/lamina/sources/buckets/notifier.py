"""Sends object events to the destinations a bucket's notification configuration names.

Each event is handed to its destinations before the request that caused it is answered: a Lambda
destination through `triggers/` (the function's resource policy must let `s3.amazonaws.com` in
for this bucket), where it is queued durably with the function's retries and failure
destinations. Queue and topic destinations are served once those services exist.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from lamina.domain.buckets.events import ObjectEvent, event_document
from lamina.domain.buckets.notifications import destinations
from lamina.domain.buckets.records import BucketRecord
from lamina.triggers.service_invoker import ServiceInvoker

_log = logging.getLogger(__name__)
S3_PRINCIPAL = "s3.amazonaws.com"
# The invoker of an account's functions in a region (None when that account-region does not exist).
InvokerOf = Callable[[str, str], Awaitable[ServiceInvoker | None]]


def function_location(arn: str) -> tuple[str, str] | None:
    """(account, region) of a function ARN; None when it is not one."""
    parts = arn.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "lambda" or parts[5] != "function":
        return None
    return parts[4], parts[3]


class BucketNotifier:
    def __init__(self, invoker_of: InvokerOf) -> None:
        self._invoker_of = invoker_of

    async def may_invoke(self, bucket: BucketRecord, function_arn: str) -> bool:
        """Whether S3 may invoke the function for this bucket (PutBucketNotificationConfiguration
        checks it, as S3 does, unless told to skip)."""
        location = function_location(function_arn)
        if location is None:
            return False
        invoker = await self._invoker_of(*location)
        if invoker is None:
            return False
        return await invoker.allowed(S3_PRINCIPAL, function_arn, bucket.arn, bucket.account_id)

    async def notify(self, bucket: BucketRecord, event: ObjectEvent, trace_header: str | None) -> None:
        """Queue the event for every destination it matches; never raises (a destination that
        cannot take it is logged: the object operation itself succeeded)."""
        for destination in destinations(bucket.notification, "s3:" + event.event_name, event.key):
            try:
                if destination.kind != "LambdaFunctionConfigurations":
                    _log.warning("%s: %s destinations are not served yet", bucket.name, destination.kind)
                    continue
                location = function_location(destination.arn)
                invoker = await self._invoker_of(*location) if location is not None else None
                if invoker is None:
                    _log.warning("%s: no such function %s for its notification", bucket.name, destination.arn)
                    continue
                await invoker.invoke_event(
                    S3_PRINCIPAL,
                    destination.arn,
                    event_document(event, destination.configuration_id),
                    bucket.arn,
                    bucket.account_id,
                    trace_header=trace_header,
                )
            except Exception:
                _log.exception("%s: notifying %s failed", bucket.name, destination.arn)
