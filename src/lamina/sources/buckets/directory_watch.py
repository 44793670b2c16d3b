"""Events from directory-backed buckets' own directories: a file another program creates, changes
or removes there is an ObjectCreated:Put or ObjectRemoved:Delete event of its bucket, sent to the
destinations of the bucket's notification configuration as for an upload through S3 (watchfiles:
inotify on Linux). What the server itself wrote there was announced already and is not repeated.

A file written in pieces is one ObjectCreated event, sent once the file has been still (the same
size and modification time) for QUIET_S: inotify tells of each write, not of the last one, and a
writer may pause between pieces (an fsync on a busy disk) for longer than any debounce. A change
is announced when the bucket had destinations at the time it was made.
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
# Changes arriving within this many milliseconds are reported together.
DEBOUNCE_MS = 50
# A changed file is announced once it has been still this long.
QUIET_S = 0.5


class DirectoryWatcher:
    def __init__(self, service: BucketService, directories: list[DirectoryObjects]) -> None:
        self._service = service
        self._directories = directories
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._ready: list[asyncio.Event] = []
        self._settling: dict[tuple[str, str], asyncio.Task[None]] = {}  # (bucket, key) → its wait

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
                        settling = self._settling.pop((bucket, key), None)
                        if settling is not None:
                            settling.cancel()
                        if change == watchfiles.Change.deleted:
                            await self._service.notify_outside_change(bucket, key, removed=True)
                        elif path.is_file() and await self._service.notifies(bucket):
                            task = asyncio.get_running_loop().create_task(
                                self._announce_when_still(bucket, key, path)
                            )
                            self._settling[(bucket, key)] = task
            except asyncio.CancelledError:
                raise
            except Exception:
                ready.set()
                _log.exception("watching %s for bucket %s failed; watching again", directory.root, bucket)
                await asyncio.sleep(1)

    async def _announce_when_still(self, bucket: str, key: str, path: Path) -> None:
        """ObjectCreated for `key` once its file stops changing (a later change restarts this)."""
        try:
            while True:
                before = _signature(path)
                await asyncio.sleep(QUIET_S)
                after = _signature(path)
                if after is None:
                    return  # removed meanwhile: its deletion is announced
                if after == before:
                    break
            self._settling.pop((bucket, key), None)
            await self._service.notify_outside_change(bucket, key, removed=False)
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("announcing %s in bucket %s failed", key, bucket)

    async def close(self) -> None:
        self._stop.set()
        for task in list(self._settling.values()):
            task.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns
