"""The embedded S3 as one thing to open and close: its stores, its service, its notifier, and the
watch on directory-backed buckets' directories."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from lamina.sources.buckets.directory_watch import DirectoryWatcher
from lamina.sources.buckets.notifier import BucketNotifier
from lamina.sources.buckets.service import BucketService
from lamina.store.bucket_ports import BucketStore, ObjectDataStore
from lamina.store.objects.directory import DirectoryObjects

_log = logging.getLogger(__name__)


class EmbeddedBuckets:
    def __init__(
        self,
        store: BucketStore,
        data: ObjectDataStore,
        notifier: BucketNotifier,
        directories: Sequence[DirectoryObjects] = (),
        owner: tuple[str, str] = ("000000000000", "us-east-1"),
    ) -> None:
        """`directories`: directory-backed buckets, owned by `owner` (account, region)."""
        self._store = store
        self._data = data
        self.service = BucketService(store, data, notifier)
        self._directories = list(directories)
        self._owner = owner
        self._watcher: DirectoryWatcher | None = None

    async def open(self, *, collect: bool) -> None:
        """`collect`: free bytes a crash left unreferenced (only where no other server writes)."""
        await self._store.open()
        await self._data.open()
        for directory in self._directories:
            existing = await self.service.find_bucket(directory.bucket)
            if existing is None:
                await self.service.create_bucket(directory.bucket, *self._owner)
            elif existing.account_id != self._owner[0]:
                raise RuntimeError(
                    f"--bucket {directory.bucket}: a bucket of that name belongs to account {existing.account_id}"
                )
        if self._directories:
            self._watcher = DirectoryWatcher(self.service, self._directories)
            await self._watcher.start()
        if collect:
            freed = await self.service.collect_unreferenced()
            if freed:
                _log.info("freed %d object runs that no object or part named (left by a crash)", freed)

    async def close(self) -> None:
        if self._watcher is not None:
            await self._watcher.close()
        await self._data.close()
        await self._store.close()
