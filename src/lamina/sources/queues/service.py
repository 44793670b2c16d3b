"""The embedded SQS's operations on its store: queues and their attributes, sending, receiving with
long polling, deleting, visibility changes, purges, redrive to dead-letter queues.

Called by the SQS API edge (`api/services/sqs/`) with decoded arguments, and by event source
mappings (which poll queues for functions). A long poll waits in memory here, woken by a send to
the same queue through this server, and looks again at least every second (a message turning
visible, or sent through another server sharing the database).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lamina.domain.queues import errors
from lamina.domain.queues.attributes import (
    COMPUTED,
    DEFAULTS,
    FIFO_DEFAULTS,
    SETTABLE,
    check_name,
    checked,
    parse_queue_arn,
    queue_arn,
    redrive_of,
)
from lamina.domain.queues.messages import Message, check_body, to_record_attributes
from lamina.errors import AwsError
from lamina.store.queue_ports import QueueKey, QueueRecord, QueueStore

_log = logging.getLogger(__name__)
DEDUPLICATION_MS = 5 * 60 * 1000  # SQS's deduplication interval
# MessageGroupId and MessageDeduplicationId: alphanumerics and punctuation, 1 to 128 of them.
_FIFO_TOKEN = re.compile(r"[\x21-\x7e]{1,128}")
PURGE_INTERVAL_SECONDS = 60
RECREATE_AFTER_SECONDS = 60
_RECHECK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to send, as the caller gave it."""

    body: str
    attributes: Mapping[str, Any] = field(default_factory=dict)  # checked MessageAttributes
    delay_seconds: int | None = None
    group_id: str | None = None
    deduplication_id: str | None = None
    trace_header: str | None = None


def queue_tag(key: QueueKey) -> str:
    return hashlib.sha256("/".join(key).encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Receipt:
    """A reception of a message: its id, the reception's token, and a tag of its queue (a handle
    from another queue is refused as SQS refuses it, not mistaken for a stale one)."""

    message_id: str
    token: str
    queue_tag: str

    def encode(self) -> str:
        text = f"{self.message_id}:{self.token}:{self.queue_tag}"
        return base64.urlsafe_b64encode(text.encode()).decode()


def decode_receipt(handle: str, key: QueueKey) -> Receipt:
    try:
        message_id, token, tag = base64.urlsafe_b64decode(handle.encode()).decode().split(":")
    except (binascii.Error, UnicodeError, ValueError):
        raise errors.receipt_handle_invalid(handle) from None
    if not message_id or not token or tag != queue_tag(key):
        raise errors.receipt_handle_invalid(handle)
    return Receipt(message_id, token, tag)


class QueueService:
    def __init__(self, store: QueueStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._waiters: dict[QueueKey, set[asyncio.Future[None]]] = {}
        self._deleted: dict[QueueKey, float] = {}

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # ----------------------------------------------------------------------- queues

    async def create_queue(
        self, account_id: str, region: str, name: str, attributes: Mapping[str, str], tags: Mapping[str, str]
    ) -> QueueRecord:
        fifo = str(attributes.get("FifoQueue", "false")).lower() == "true"
        check_name(name, fifo)
        if name.endswith(".fifo") and not fifo:
            check_name(name, False)  # a ".fifo" name needs FifoQueue=true: refused as a plain name
        given = checked(attributes, fifo=fifo, creating=True)
        if fifo:
            given["FifoQueue"] = "true"
        else:
            given.pop("FifoQueue", None)
        await self._check_redrive(given)
        key = (account_id, region, name)
        deleted = self._deleted.get(key)
        if deleted is not None and self._clock() - deleted < RECREATE_AFTER_SECONDS:
            raise errors.queue_deleted_recently()
        now = int(self._clock())
        record = QueueRecord(account_id, region, name, given, now, now, dict(tags))
        if await self._store.create_queue(record):
            return record
        existing = await self._store.get_queue(key)
        if existing is None:
            raise errors.queue_deleted_recently()
        for attribute in sorted(set(given) | set(existing.attributes)):
            if _effective(given, attribute, fifo) != _effective(existing.attributes, attribute, fifo):
                raise errors.queue_exists(attribute)
        return existing  # the same name and attributes: CreateQueue is idempotent

    async def queue(self, key: QueueKey) -> QueueRecord:
        found = await self._store.get_queue(key)
        if found is None:
            raise errors.no_such_queue()
        return found

    async def find_queue(self, key: QueueKey) -> QueueRecord | None:
        return await self._store.get_queue(key)

    async def list_queues(self, account_id: str, region: str, prefix: str = "") -> list[QueueRecord]:
        return [
            queue
            for queue in await self._store.list_queues(account_id, region)
            if queue.name.startswith(prefix)
        ]

    async def delete_queue(self, key: QueueKey) -> None:
        if not await self._store.delete_queue(key):
            raise errors.no_such_queue()
        self._deleted[key] = self._clock()
        self._wake(key)

    async def set_attributes(self, key: QueueKey, attributes: Mapping[str, str]) -> None:
        queue = await self.queue(key)
        given = checked(attributes, fifo=queue.fifo, creating=False)
        await self._check_redrive(given)
        merged = {**queue.attributes, **given}
        merged = {name: value for name, value in merged.items() if value != ""}
        if not await self._store.update_queue(replace(queue, attributes=merged, modified=int(self._clock()))):
            raise errors.no_such_queue()

    async def _check_redrive(self, attributes: Mapping[str, str]) -> None:
        redrive = redrive_of(attributes)
        if redrive is not None:
            target = parse_queue_arn(redrive.dead_letter_arn)
            if target is None or await self._store.get_queue((target[1], target[0], target[2])) is None:
                raise errors.invalid_attribute_value("RedrivePolicy", "Dead letter target does not exist.")

    async def attributes(self, key: QueueKey, names: Sequence[str]) -> dict[str, str]:
        queue = await self.queue(key)
        wanted = set(names)
        every = "All" in wanted
        values: dict[str, str] = {**DEFAULTS, **(FIFO_DEFAULTS if queue.fifo else {}), **queue.attributes}
        if not queue.fifo:
            values.pop("FifoQueue", None)
        if every or wanted & set(COMPUTED):
            visible, in_flight, delayed = await self._store.counts(key, self._now_ms())
            values.update(
                {
                    "ApproximateNumberOfMessages": str(visible),
                    "ApproximateNumberOfMessagesNotVisible": str(in_flight),
                    "ApproximateNumberOfMessagesDelayed": str(delayed),
                    "CreatedTimestamp": str(queue.created),
                    "LastModifiedTimestamp": str(queue.modified),
                    "QueueArn": queue_arn(queue.region, queue.account_id, queue.name),
                }
            )
        if every:
            return values
        for name in wanted:
            if name not in SETTABLE and name not in COMPUTED:
                raise errors.invalid_attribute_name(name)
        return {name: values[name] for name in wanted if name in values}

    async def purge(self, key: QueueKey) -> None:
        queue = await self.queue(key)
        if self._clock() - queue.purged_at < PURGE_INTERVAL_SECONDS:
            raise errors.purge_in_progress(queue.name)
        await self._store.update_queue(replace(queue, purged_at=self._clock()))
        await self._store.purge(key)

    async def tag(self, key: QueueKey, tags: Mapping[str, str]) -> None:
        queue = await self.queue(key)
        await self._store.update_queue(replace(queue, tags={**queue.tags, **tags}))

    async def untag(self, key: QueueKey, names: Sequence[str]) -> None:
        queue = await self.queue(key)
        await self._store.update_queue(
            replace(queue, tags={k: v for k, v in queue.tags.items() if k not in set(names)})
        )

    # ----------------------------------------------------------------------- messages

    async def send(self, key: QueueKey, outgoing: Sequence[Outgoing], sender_id: str) -> list[Message]:
        """Store messages (SendMessage, SendMessageBatch's valid entries); each comes back with its
        id, and on FIFO queues its sequence number (or the earlier message a deduplication id
        names)."""
        queue = await self.queue(key)
        attributes = {**DEFAULTS, **queue.attributes}
        limit = int(attributes["MaximumMessageSize"])
        now = self._now_ms()
        messages = [self._message(queue, attributes, item, limit, now, sender_id) for item in outgoing]
        try:
            stored = await self._store.send(key, messages, now - DEDUPLICATION_MS if queue.fifo else None)
        except KeyError:
            raise errors.no_such_queue() from None
        self._wake(key)
        return stored

    def check(self, queue: QueueRecord, item: Outgoing) -> None:
        """Raise what sending `item` to `queue` would raise (a batch entry's own failure)."""
        attributes = {**DEFAULTS, **queue.attributes}
        self._message(queue, attributes, item, int(attributes["MaximumMessageSize"]), 0, "")

    @staticmethod
    def _message(
        queue: QueueRecord,
        attributes: Mapping[str, str],
        item: Outgoing,
        limit: int,
        now: int,
        sender_id: str,
    ) -> Message:
        check_body(item.body, limit)
        for name, value in (
            ("MessageGroupId", item.group_id),
            ("MessageDeduplicationId", item.deduplication_id),
        ):
            if value is not None and _FIFO_TOKEN.fullmatch(value) is None:
                raise errors.invalid_parameter(
                    f"Value {value} for parameter {name} is invalid. Reason: {name} can only include "
                    "alphanumeric and punctuation characters. 1 to 128 in length."
                )
        if queue.fifo:
            if item.delay_seconds is not None:
                raise errors.invalid_value(
                    "DelaySeconds",
                    item.delay_seconds,
                    "The request include parameter that is not valid for this queue type.",
                )
            if not item.group_id:
                raise errors.missing_parameter("MessageGroupId")
            dedup = item.deduplication_id
            if dedup is None:
                if attributes.get("ContentBasedDeduplication") != "true":
                    raise errors.invalid_parameter(
                        "The queue should either have ContentBasedDeduplication enabled or "
                        "MessageDeduplicationId provided explicitly"
                    )
                dedup = hashlib.sha256(item.body.encode()).hexdigest()
        else:
            if item.deduplication_id is not None:
                raise errors.invalid_parameter(
                    "The request include parameter that is not valid for this queue type"
                )
            dedup = None
        delay = item.delay_seconds if item.delay_seconds is not None else int(attributes["DelaySeconds"])
        if not 0 <= delay <= 900:
            raise errors.invalid_value("DelaySeconds", delay, "DelaySeconds must be >= 0 and <= 900.")
        return Message(
            str(uuid.uuid4()),
            item.body,
            to_record_attributes(item.attributes),
            sent_at=now,
            visible_at=now + delay * 1000,
            group_id=item.group_id if queue.fifo else None,
            deduplication_id=dedup,
            sender_id=sender_id,
            trace_header=item.trace_header,
        )

    async def receive(
        self,
        key: QueueKey,
        limit: int = 1,
        visibility_timeout: int | None = None,
        wait_seconds: int | None = None,
    ) -> list[Message]:
        """Up to `limit` messages; with a wait (the call's WaitTimeSeconds, else the queue's
        ReceiveMessageWaitTimeSeconds), long-poll until one is there or the wait is over."""
        queue = await self.queue(key)
        attributes = {**DEFAULTS, **queue.attributes}
        visibility = (
            int(attributes["VisibilityTimeout"]) if visibility_timeout is None else visibility_timeout
        )
        wait = int(attributes["ReceiveMessageWaitTimeSeconds"]) if wait_seconds is None else wait_seconds
        deadline = self._clock() + wait
        while True:
            # Listening before looking: a send between the look and the wait still wakes it.
            waiter = self._listen(key)
            try:
                messages = await self._receive_once(queue, attributes, limit, visibility)
                remaining = deadline - self._clock()
                if messages or remaining <= 0:
                    return messages
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(waiter), min(remaining, _RECHECK_SECONDS))
            finally:
                self._forget(key, waiter)
            if await self._store.get_queue(key) is None:
                return []

    async def _receive_once(
        self, queue: QueueRecord, attributes: Mapping[str, str], limit: int, visibility: int
    ) -> list[Message]:
        redrive = redrive_of(attributes)
        target: QueueKey | None = None
        if redrive is not None:
            parsed = parse_queue_arn(redrive.dead_letter_arn)
            if (
                parsed is not None
                and await self._store.get_queue((parsed[1], parsed[0], parsed[2])) is not None
            ):
                target = (parsed[1], parsed[0], parsed[2])
        received = await self._store.receive(
            queue.key,
            self._now_ms(),
            limit,
            visibility * 1000,
            fifo=queue.fifo,
            max_receives=redrive.max_receive_count if target is not None and redrive is not None else None,
            retention_ms=int(attributes["MessageRetentionPeriod"]) * 1000,
        )
        if received.dead and target is not None:
            await self._move_to_dead_letters(queue, target, received.dead)
        return received.messages

    async def move_to_dead_letters(self, key: QueueKey, messages: Sequence[Message]) -> None:
        """Take received messages off a queue: to its dead-letter queue when its redrive policy
        names one that exists, else dropped (a batch stopped as a recursive loop)."""
        queue = await self.find_queue(key)
        if queue is None:
            return
        redrive = redrive_of({**DEFAULTS, **queue.attributes})
        parsed = parse_queue_arn(redrive.dead_letter_arn) if redrive is not None else None
        for message in messages:
            if message.receipt is not None:
                await self._store.delete_message(key, message.message_id, message.receipt)
        if parsed is not None and await self._store.get_queue((parsed[1], parsed[0], parsed[2])) is not None:
            await self._move_to_dead_letters(queue, (parsed[1], parsed[0], parsed[2]), list(messages))
        else:
            _log.warning("%s: %d messages dropped (no dead-letter queue)", queue.name, len(messages))

    async def _move_to_dead_letters(self, queue: QueueRecord, target: QueueKey, dead: list[Message]) -> None:
        now = self._now_ms()
        source = queue_arn(queue.region, queue.account_id, queue.name)
        moved = [
            replace(message, visible_at=now, receipt=None, dead_letter_source=source, sequence_number=None)
            for message in dead
        ]
        try:
            await self._store.send(target, moved, None)
        except KeyError:
            _log.warning(
                "%s: dead-letter queue %s vanished; %d messages dropped", queue.name, target, len(dead)
            )
            return
        self._wake(target)

    async def delete_message(self, key: QueueKey, handle: str) -> None:
        receipt = decode_receipt(handle, key)
        await self.queue(key)
        # A receipt that is no longer current succeeds without deleting (SQS: the message may
        # have been received again; only its latest receipt deletes it).
        await self._store.delete_message(key, receipt.message_id, receipt.token)

    async def delete_messages(self, key: QueueKey, handles: Sequence[str]) -> dict[str, AwsError]:
        """DeleteMessageBatch's deletions in one store call; the handles refused, with why."""
        refused: dict[str, AwsError] = {}
        receipts: list[tuple[str, str]] = []
        for handle in handles:
            try:
                receipt = decode_receipt(handle, key)
            except AwsError as error:
                refused[handle] = error
                continue
            receipts.append((receipt.message_id, receipt.token))
        await self.queue(key)
        if receipts:
            await self._store.delete_messages(key, receipts)
        return refused

    async def change_visibility(self, key: QueueKey, handle: str, timeout: int) -> None:
        receipt = decode_receipt(handle, key)
        await self.queue(key)
        if not 0 <= timeout <= 43_200:
            raise errors.invalid_value(
                "VisibilityTimeout", timeout, "Must be between 0 and 43200, if provided."
            )
        now = self._now_ms()
        if not await self._store.change_visibility(
            key, receipt.message_id, receipt.token, now + timeout * 1000, now
        ):
            raise errors.message_not_inflight()
        if timeout == 0:
            self._wake(key)

    # ----------------------------------------------------------------------- waiting

    def _wake(self, key: QueueKey) -> None:
        for waiter in self._waiters.pop(key, set()):
            if not waiter.done():
                waiter.set_result(None)

    def _listen(self, key: QueueKey) -> asyncio.Future[None]:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, set()).add(waiter)
        return waiter

    def _forget(self, key: QueueKey, waiter: asyncio.Future[None]) -> None:
        waiters = self._waiters.get(key)
        if waiters is not None:
            waiters.discard(waiter)
            if not waiters:
                self._waiters.pop(key, None)


def _effective(attributes: Mapping[str, str], name: str, fifo: bool) -> str | None:
    defaults = {**DEFAULTS, **FIFO_DEFAULTS} if fifo else DEFAULTS
    return attributes.get(name, defaults.get(name))


def handle_of(message: Message, key: QueueKey) -> str:
    """The receipt handle of a message received from the queue `key`."""
    assert message.receipt is not None
    return Receipt(message.message_id, message.receipt, queue_tag(key)).encode()
