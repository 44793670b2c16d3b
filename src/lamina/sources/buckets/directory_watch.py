"""Events from directory-backed buckets' own directories: a file another program creates, changes
or removes there is an ObjectCreated:Put or ObjectRemoved:Delete event of its bucket, sent to the
destinations of the bucket's notification configuration as for an upload through S3 (watchfiles:
inotify on Linux). What the server itself wrote there was announced already and is not repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import watchfiles

from lamina.sources.buckets.service import BucketService
from lamina.store.objects.directory import DirectoryObjects

_log = logging.getLogger(__name__)
# Changes arriving within this many milliseconds are reported together (a file written in pieces
# is one event, not one per write).
DEBOUNCE_MS = 50


class DirectoryWatcher:
    def __init__(self, service: BucketService, directories: list[DirectoryObjects]) -> None:
        self._service = service
        self._directories = directories
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._ready: list[asyncio.Event] = []

    async def start(self) -> None:
        """Watch every directory; returns once each watch is in place."""
        for directory in self._directories:
            ready = asyncio.Event()
            self._ready.append(ready)
            self._tasks.append(asyncio.get_running_loop().create_task(self._watch(directory, ready)))
        for ready in self._ready:
            await asyncio.wait_for(ready.wait(), 10)

    async def _watch(self, directory: DirectoryObjects, ready: asyncio.Event) -> None:
        bucket = directory.bucket
        while not self._stop.is_set():
            try:
                watch = watchfiles.awatch(
                    directory.root, stop_event=self._stop, debounce=DEBOUNCE_MS, step=10, recursive=True
                )
                ready.set()
                async for changes in watch:
                    for change, raw_path in sorted(changes, key=lambda item: item[1]):
                        path = Path(raw_path)
                        key = directory.key_of(path)
                        if key is None or directory.wrote_recently(key):
                            continue
                        if change == watchfiles.Change.deleted:
                            await self._service.notify_outside_change(bucket, key, removed=True)
                        elif path.is_file():
                            await self._service.notify_outside_change(bucket, key, removed=False)
            except asyncio.CancelledError:
                raise
            except Exception:
                ready.set()
                _log.exception("watching %s for bucket %s failed; watching again", directory.root, bucket)
                await asyncio.sleep(1)

    async def close(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
