"""Hands an event to one rule target, as EventBridge does (EventBridge user guide, "Targets"):
a Lambda function is invoked asynchronously as `events.amazonaws.com` (the function's resource
policy must allow it for the rule's ARN) through the durable async path, with the function's own
retries and destinations; an SQS queue receives a message, which its policy must allow
`events.amazonaws.com` to send for the rule; an SNS topic is published to, its policy allowing
likewise. A target refused or gone sends the event to the target's dead-letter queue when it has
one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from lamina.domain.queues.attributes import parse_queue_arn
from lamina.domain.topics.records import parse_topic_arn
from lamina.sources.events.service import Delivery
from lamina.sources.queues.sender import QueueSender
from lamina.sources.topics.publisher import TopicPublisher
from lamina.triggers.service_invoker import InvokerOf, function_location

__all__ = ["EVENTS_PRINCIPAL", "TargetDelivery"]

_log = logging.getLogger(__name__)
EVENTS_PRINCIPAL = "events.amazonaws.com"


class TargetDelivery:
    def __init__(
        self,
        invoker_of: InvokerOf,
        queues: Callable[[], QueueSender | None],
        topics: Callable[[], TopicPublisher | None] = lambda: None,
    ) -> None:
        self._invoker_of = invoker_of
        self._queues = queues
        self._topics = topics

    async def __call__(self, delivery: Delivery) -> bool:
        rule, arn = delivery.rule, delivery.target.arn
        delivered = await self._send(arn, delivery)
        if not delivered:
            _log.warning("rule %s: target %s did not take event %s", rule.arn, arn, delivery.event_id)
            dead_letters = delivery.target.dead_letter_arn
            if dead_letters is not None:
                await self._send_to_queue(dead_letters, delivery)
        return delivered

    async def _send(self, arn: str, delivery: Delivery) -> bool:
        rule = delivery.rule
        location = function_location(arn)
        if location is not None:
            invoker = await self._invoker_of(*location)
            if invoker is None:
                return False
            request_id = await invoker.invoke_event(
                EVENTS_PRINCIPAL, arn, delivery.payload, rule.arn, rule.account
            )
            return request_id is not None
        if parse_queue_arn(arn) is not None:
            return await self._send_to_queue(arn, delivery)
        if parse_topic_arn(arn) is not None:
            topics = self._topics()
            return topics is not None and await topics.publish_as_service(
                EVENTS_PRINCIPAL, rule.arn, rule.account, arn, delivery.payload
            )
        _log.warning("rule %s: target %s is of a kind Lamina does not deliver to yet", rule.arn, arn)
        return False

    async def _send_to_queue(self, queue_arn: str, delivery: Delivery) -> bool:
        sender = self._queues()
        if sender is None:
            return False
        rule = delivery.rule
        return await sender.send_as_service(
            EVENTS_PRINCIPAL, rule.arn, rule.account, queue_arn, delivery.payload
        )
