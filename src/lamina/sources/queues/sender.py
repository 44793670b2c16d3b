"""Messages other services put on queues: asynchronous invocation records (a function's OnSuccess /
OnFailure destination, its dead-letter queue) and bucket notifications.

Each is allowed as on AWS: a function's records go through its execution role, which needs
`sqs:SendMessage` on the queue; a service (`s3.amazonaws.com`) needs the queue's policy to allow it
for its source (aws:SourceArn / aws:SourceAccount). The decision itself is made by the caller's
`allowed` (IAM lives outside this package).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from lamina.domain.queues.attributes import parse_queue_arn
from lamina.domain.queues.records import QueueRecord
from lamina.sources.queues.service import Outgoing, QueueService

_log = logging.getLogger(__name__)
# allowed(principal description, queue, context): whether it may sqs:SendMessage to the queue;
# the principal is ("role", role ARN, session name) or ("service", service name, "").
Allowed = Callable[[tuple[str, str, str], QueueRecord, Mapping[str, str]], bool]


class QueueSender:
    def __init__(self, service: QueueService, allowed: Allowed) -> None:
        self._service = service
        self._allowed = allowed

    async def _queue(self, queue_arn: str) -> QueueRecord | None:
        parsed = parse_queue_arn(queue_arn)
        if parsed is None:
            return None
        region, account, name = parsed
        return await self._service.find_queue((account, region, name))

    async def may_send_as_service(
        self, service: str, source_arn: str, source_account: str, queue_arn: str
    ) -> bool:
        queue = await self._queue(queue_arn)
        context = {"aws:SourceArn": source_arn, "aws:SourceAccount": source_account}
        return queue is not None and self._allowed(("service", service, ""), queue, context)

    async def send_for_function(
        self,
        role: str,
        function: str,
        queue_arn: str,
        body: bytes,
        attributes: Mapping[str, Any] | None = None,
    ) -> bool:
        """Send as function `function`'s execution role; False (logged) when the queue is gone or
        the role may not."""
        queue = await self._queue(queue_arn)
        if queue is None or not self._allowed(("role", role, function), queue, {}):
            _log.warning(
                "%s may not send to %s (no such queue, or its role lacks sqs:SendMessage)",
                function,
                queue_arn,
            )
            return False
        await self._service.send(
            queue.key, [Outgoing(body.decode("utf-8", "replace"), attributes or {})], function
        )
        return True

    async def send_as_service(
        self,
        service: str,
        source_arn: str,
        source_account: str,
        queue_arn: str,
        body: bytes,
        attributes: Mapping[str, Any] | None = None,
        *,
        group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> bool:
        """`attributes`: SQS MessageAttributes (a topic's raw delivery); `group_id` and
        `deduplication_id` for a FIFO queue (a FIFO topic's delivery)."""
        queue = await self._queue(queue_arn)
        context = {"aws:SourceArn": source_arn, "aws:SourceAccount": source_account}
        if queue is None or not self._allowed(("service", service, ""), queue, context):
            _log.warning("%s may not send to %s for %s", service, queue_arn, source_arn)
            return False
        if queue.fifo and group_id is None:
            _log.warning("%s may not send to FIFO queue %s without a message group", service, queue_arn)
            return False
        outgoing = Outgoing(
            body.decode("utf-8", "replace"),
            attributes or {},
            group_id=group_id if queue.fifo else None,
            deduplication_id=deduplication_id if queue.fifo else None,
        )
        await self._service.send(queue.key, [outgoing], service)
        return True
