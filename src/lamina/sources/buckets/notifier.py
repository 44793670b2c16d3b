"""Sends object events to the destinations a bucket's notification configuration names.

Each event is handed to its destinations before the request that caused it is answered: a Lambda
destination through `triggers/` (the function's resource policy must let `s3.amazonaws.com` in
for this bucket), where it is queued durably with the function's retries and failure
destinations; a queue destination as a message, which the queue's policy must allow
`s3.amazonaws.com` to send for this bucket. Topic destinations are served once topics exist.
"""

from __future__ import annotations

import datetime
import json
import logging
import uuid
from collections.abc import Callable

from lamina.domain.buckets.events import ObjectEvent, event_document
from lamina.domain.buckets.notifications import destinations
from lamina.domain.buckets.records import BucketRecord
from lamina.sources.queues.sender import QueueSender
from lamina.triggers.service_invoker import InvokerOf, function_location

_log = logging.getLogger(__name__)
S3_PRINCIPAL = "s3.amazonaws.com"


class BucketNotifier:
    def __init__(
        self, invoker_of: InvokerOf, queues: Callable[[], QueueSender | None] = lambda: None
    ) -> None:
        """`queues()`: what puts messages on queues (None where this process serves no queues)."""
        self._invoker_of = invoker_of
        self._queues = queues

    async def may_invoke(self, bucket: BucketRecord, function_arn: str) -> bool:
        """Whether S3 may invoke the function for this bucket."""
        location = function_location(function_arn)
        if location is None:
            return False
        invoker = await self._invoker_of(*location)
        if invoker is None:
            return False
        return await invoker.allowed(S3_PRINCIPAL, function_arn, bucket.arn, bucket.account_id)

    async def refusal(self, bucket: BucketRecord, kind: str, arn: str) -> str | None:
        """PutBucketNotificationConfiguration checks each destination, as S3 does unless told to
        skip; the reason is S3's ArgumentValue."""
        if kind == "LambdaFunctionConfigurations":
            return (
                None if await self.may_invoke(bucket, arn) else f"Not authorized to invoke function [{arn}]"
            )
        if kind == "QueueConfigurations":
            queues = self._queues()
            if queues is not None and await queues.may_send_as_service(
                S3_PRINCIPAL, bucket.arn, bucket.account_id, arn
            ):
                return None
            return "Permissions on the destination queue do not allow S3 to publish notifications from this bucket"
        return (
            "Permissions on the destination topic do not allow S3 to publish notifications from this bucket"
        )

    async def configured(self, bucket: BucketRecord) -> None:
        """S3 sends every queue destination a test event when a configuration is stored."""
        queues = self._queues()
        if queues is None:
            return
        for entry in bucket.notification.get("QueueConfigurations") or []:
            test = {
                "Service": "Amazon S3",
                "Event": "s3:TestEvent",
                "Time": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "Bucket": bucket.name,
                "RequestId": uuid.uuid4().hex[:16].upper(),
                "HostId": uuid.uuid4().hex,
            }
            await queues.send_as_service(
                S3_PRINCIPAL, bucket.arn, bucket.account_id, str(entry["QueueArn"]), json.dumps(test).encode()
            )

    async def notify(self, bucket: BucketRecord, event: ObjectEvent, trace_header: str | None) -> None:
        """Queue the event for every destination it matches; never raises (a destination that
        cannot take it is logged: the object operation itself succeeded)."""
        for destination in destinations(bucket.notification, "s3:" + event.event_name, event.key):
            try:
                if destination.kind == "QueueConfigurations":
                    queues = self._queues()
                    if queues is not None:
                        await queues.send_as_service(
                            S3_PRINCIPAL,
                            bucket.arn,
                            bucket.account_id,
                            destination.arn,
                            event_document(event, destination.configuration_id),
                        )
                    continue
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
