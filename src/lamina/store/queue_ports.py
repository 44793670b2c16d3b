"""The port of the embedded SQS: queues and their messages (`QueueStore`). Adapters: SQLite in the
data directory (`queues.db`), PostgreSQL for several servers; `tests/contract/test_queue_stores.py`
holds both to these contracts.

Every call is one transaction: a message acknowledged by `send` survives a crash, and a receive
hands each visible message to one caller only (on a shared database too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lamina.domain.queues.messages import Message
from lamina.domain.queues.records import QueueKey, QueueRecord

__all__ = ["QueueKey", "QueueRecord", "QueueStore", "Received"]


@dataclass(frozen=True, slots=True)
class Received:
    """What one receive took: the messages handed out, and those past their queue's
    maxReceiveCount, removed from it for the dead-letter queue."""

    messages: list[Message]
    dead: list[Message]


class QueueStore(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def create_queue(self, queue: QueueRecord) -> bool:
        """Insert a queue; False (nothing changed) when one of that key exists."""
        ...

    async def get_queue(self, key: QueueKey) -> QueueRecord | None: ...
    async def list_queues(self, account_id: str, region: str) -> list[QueueRecord]:
        """An account's queues in a region, by name."""
        ...

    async def update_queue(self, queue: QueueRecord) -> bool:
        """Replace a queue's attributes, tags and purge time; False when it is gone."""
        ...

    async def delete_queue(self, key: QueueKey) -> bool:
        """Delete a queue and its messages; False when it was not there."""
        ...

    async def send(self, key: QueueKey, messages: list[Message], dedup_after_ms: int | None) -> list[Message]:
        """Store messages in order, each given the queue's next sequence number. With
        `dedup_after_ms` (FIFO queues), a message whose deduplication id was sent at or after that
        time is not stored again: the earlier message comes back in its place. Raises KeyError
        when the queue is gone."""
        ...

    async def receive(
        self,
        key: QueueKey,
        now_ms: int,
        limit: int,
        visibility_ms: int,
        *,
        fifo: bool,
        max_receives: int | None,
        retention_ms: int,
    ) -> Received:
        """Take up to `limit` visible messages, oldest first (on FIFO queues, none of a message
        group that has a message in flight, and a group's in order), each counted as received,
        given a new receipt and hidden until `now_ms + visibility_ms`. Messages already received
        `max_receives` times are removed instead and returned as dead; messages older than
        `retention_ms` are dropped."""
        ...

    async def delete_message(self, key: QueueKey, message_id: str, receipt: str) -> bool:
        """Delete a message by its current receipt; False when the receipt is not current (the
        message was received again, or is gone)."""
        ...

    async def delete_messages(self, key: QueueKey, receipts: list[tuple[str, str]]) -> None:
        """`delete_message` of each (message id, receipt), in one transaction."""
        ...

    async def change_visibility(
        self, key: QueueKey, message_id: str, receipt: str, visible_at_ms: int, now_ms: int
    ) -> bool:
        """Move a message in flight under `receipt` to become visible at `visible_at_ms`; False
        when it is not in flight under that receipt."""
        ...

    async def purge(self, key: QueueKey) -> None: ...
    async def counts(self, key: QueueKey, now_ms: int) -> tuple[int, int, int]:
        """(visible, in flight, delayed) messages."""
        ...
