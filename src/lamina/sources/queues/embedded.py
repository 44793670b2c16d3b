"""The embedded SQS as one thing to open and close: its store and its service."""

from __future__ import annotations

from lamina.sources.queues.service import QueueService
from lamina.store.queue_ports import QueueStore


class EmbeddedQueues:
    def __init__(self, store: QueueStore) -> None:
        self._store = store
        self.service = QueueService(store)

    async def open(self) -> None:
        await self._store.open()

    async def close(self) -> None:
        await self._store.close()
