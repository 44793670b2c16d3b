"""Sends object events to the destinations a bucket's notification configuration names.

Each event is handed to its destinations before the request that caused it is answered: a Lambda
destination through `triggers/` (the function's resource policy must let `s3.amazonaws.com` in
for this bucket), where it is queued durably with the function's retries and failure
destinations; a queue destination as a message, which the queue's policy must allow
`s3.amazonaws.com` to send for this bucket; a topic destination as a published message (Subject
"Amazon S3 Notification"), which the topic's policy must allow likewise.
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
from lamina.sources.topics.publisher import TopicPublisher
from lamina.triggers.service_invoker import InvokerOf, function_location

_log = logging.getLogger(__name__)
S3_PRINCIPAL = "s3.amazonaws.com"
_SUBJECT = "Amazon S3 Notification"  # the Subject of what S3 publishes to topics


class BucketNotifier:
    def __init__(
        self,
        invoker_of: InvokerOf,
        queues: Callable[[], QueueSender | None] = lambda: None,
        topics: Callable[[], TopicPublisher | None] = lambda: None,
    ) -> None:
        """`queues()`, `topics()`: what puts messages on queues and publishes to topics (None where
        this process serves none)."""
        self._invoker_of = invoker_of
        self._queues = queues
        self._topics = topics

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
        topics = self._topics()
        if topics is not None and await topics.may_publish_as_service(
            S3_PRINCIPAL, bucket.arn, bucket.account_id, arn
        ):
            return None
        return (
            "Permissions on the destination topic do not allow S3 to publish notifications from this bucket"
        )

    async def configured(self, bucket: BucketRecord) -> None:
        """S3 sends every queue and topic destination a test event when a configuration is stored."""
        queues, topics = self._queues(), self._topics()
        test = json.dumps(
            {
                "Service": "Amazon S3",
                "Event": "s3:TestEvent",
                "Time": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "Bucket": bucket.name,
                "RequestId": uuid.uuid4().hex[:16].upper(),
                "HostId": uuid.uuid4().hex,
            }
        ).encode()
        if queues is not None:
            for entry in bucket.notification.get("QueueConfigurations") or []:
                arn = str(entry["QueueArn"])
                await queues.send_as_service(S3_PRINCIPAL, bucket.arn, bucket.account_id, arn, test)
        if topics is not None:
            for entry in bucket.notification.get("TopicConfigurations") or []:
                arn = str(entry["TopicArn"])
                await topics.publish_as_service(
                    S3_PRINCIPAL, bucket.arn, bucket.account_id, arn, test, _SUBJECT
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
                if destination.kind == "TopicConfigurations":
                    topics = self._topics()
                    if topics is not None:
                        await topics.publish_as_service(
                            S3_PRINCIPAL,
                            bucket.arn,
                            bucket.account_id,
                            destination.arn,
                            event_document(event, destination.configuration_id),
                            _SUBJECT,
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
