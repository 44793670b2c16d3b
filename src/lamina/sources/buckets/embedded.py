"""The embedded S3 as one thing to open and close: its stores, its service, its notifier."""

from __future__ import annotations

import logging

from lamina.sources.buckets.notifier import BucketNotifier
from lamina.sources.buckets.service import BucketService
from lamina.store.bucket_ports import BucketStore, ObjectDataStore

_log = logging.getLogger(__name__)


class EmbeddedBuckets:
    def __init__(self, store: BucketStore, data: ObjectDataStore, notifier: BucketNotifier) -> None:
        self._store = store
        self._data = data
        self.service = BucketService(store, data, notifier)

    async def open(self, *, collect: bool) -> None:
        """`collect`: free bytes a crash left unreferenced (only where no other server writes)."""
        await self._store.open()
        await self._data.open()
        if collect:
            freed = await self.service.collect_unreferenced()
            if freed:
                _log.info("freed %d object runs that no object or part named (left by a crash)", freed)

    async def close(self) -> None:
        await self._data.close()
        await self._store.close()
