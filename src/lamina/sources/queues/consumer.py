"""Queues as event source mappings' pollers read them (`triggers/queue_pollers.py`): messages as
SQS event records, deletes and hand-backs by receipt handle."""

from __future__ import annotations

from collections.abc import Sequence

from lamina.domain.event_sources import sqs_record
from lamina.domain.queues.attributes import parse_queue_arn
from lamina.domain.queues.messages import Message, attributes_md5, body_md5, from_record_attributes
from lamina.domain.queues.records import QueueKey
from lamina.errors import AwsError
from lamina.sources.queues.service import QueueService, handle_of
from lamina.triggers.queue_pollers import PolledMessage


def _key(queue_arn: str) -> QueueKey:
    parsed = parse_queue_arn(queue_arn)
    if parsed is None:
        raise KeyError(queue_arn)
    region, account, name = parsed
    return account, region, name


class QueueConsumer:
    def __init__(self, service: QueueService) -> None:
        self._service = service

    async def receive(self, queue_arn: str, limit: int, wait_seconds: int) -> list[PolledMessage]:
        key = _key(queue_arn)
        messages = await self._service.receive(key, limit, None, wait_seconds)
        polled = []
        for message in messages:
            attributes = from_record_attributes(message.attributes)
            handle = handle_of(message, key)
            record = sqs_record(
                message.message_id,
                handle,
                message.body,
                message.system_attributes(),
                attributes,
                body_md5(message.body),
                attributes_md5(attributes),
                queue_arn,
                key[1],
            )
            polled.append(PolledMessage(message.message_id, handle, record, message))
        return polled

    async def delete(self, queue_arn: str, handles: Sequence[str]) -> None:
        key = _key(queue_arn)
        try:
            await self._service.delete_messages(key, handles)
        except AwsError:
            return  # the queue went: nothing left to delete

    async def dead_letter(self, queue_arn: str, messages: Sequence[PolledMessage]) -> None:
        key = _key(queue_arn)
        await self._service.move_to_dead_letters(
            key, [message.source for message in messages if isinstance(message.source, Message)]
        )

    async def release(self, queue_arn: str, handles: Sequence[str]) -> None:
        key = _key(queue_arn)
        for handle in handles:
            try:
                await self._service.change_visibility(key, handle, 0)
            except AwsError:
                continue  # no longer in flight: nothing to hand back
