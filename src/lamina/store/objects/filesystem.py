"""Object bytes as plain files under the data directory's `objects/` folder, one per run.

A run is written to `tmp/` and renamed into place when complete, so a crash mid-upload leaves a
temporary file (removed at the next open), never a partial run under a real id. Writes gather
what the client sent into 1 MiB blocks before each write, and file I/O runs on worker threads: the
event loop never blocks on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import BinaryIO

from lamina.store.bucket_ports import StoredData

BLOCK = 1024 * 1024


class FilesystemObjectData:
    def __init__(self, root: Path) -> None:
        self._root = root
        self._tmp = root / "tmp"

    async def open(self) -> None:
        def prepare() -> None:
            self._root.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.rmtree(self._tmp, ignore_errors=True)  # runs a crash left unfinished
            self._tmp.mkdir(mode=0o700)

        await asyncio.to_thread(prepare)

    async def close(self) -> None:
        return None

    def _path(self, data_id: str) -> Path:
        if len(data_id) != 32 or not all(char in "0123456789abcdef" for char in data_id):
            raise KeyError(data_id)
        return self._root / data_id[:2] / data_id

    async def write(self, chunks: AsyncIterator[bytes]) -> StoredData:
        data_id = uuid.uuid4().hex
        temporary = self._tmp / data_id
        handle: BinaryIO = await asyncio.to_thread(open, temporary, "xb", buffering=0)
        size = 0
        pending: list[bytes] = []
        pending_size = 0
        try:
            async for chunk in chunks:
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= BLOCK:
                    await asyncio.to_thread(_write_all, handle.fileno(), pending)
                    size += pending_size
                    pending, pending_size = [], 0
            if pending:
                await asyncio.to_thread(_write_all, handle.fileno(), pending)
                size += pending_size
            await asyncio.to_thread(handle.close)
            final = self._path(data_id)
            await asyncio.to_thread(_move_into_place, temporary, final)
        except BaseException:
            handle.close()
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        return StoredData(data_id, size)

    async def read(self, data_id: str, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        path = self._path(data_id)
        try:
            handle: BinaryIO = await asyncio.to_thread(open, path, "rb")
        except FileNotFoundError:
            raise KeyError(data_id) from None
        try:
            if start:
                await asyncio.to_thread(handle.seek, start)
            remaining = length
            while remaining is None or remaining > 0:
                want = BLOCK if remaining is None else min(BLOCK, remaining)
                chunk = await asyncio.to_thread(handle.read, want)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            handle.close()

    async def delete(self, data_ids: Iterable[str]) -> None:
        paths = []
        for data_id in data_ids:
            with contextlib.suppress(KeyError):
                paths.append(self._path(data_id))

        def unlink() -> None:
            for path in paths:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

        if paths:
            await asyncio.to_thread(unlink)

    async def data_ids(self) -> set[str]:
        def scan() -> set[str]:
            found: set[str] = set()
            for folder in self._root.iterdir():
                if folder.is_dir() and len(folder.name) == 2:
                    found.update(entry.name for entry in folder.iterdir())
            return found

        return await asyncio.to_thread(scan)


def _write_all(descriptor: int, chunks: list[bytes]) -> None:
    """Write the chunks in order with as few system calls as the kernel allows, and no joining copy."""
    views = [memoryview(chunk) for chunk in chunks if chunk]
    while views:
        written = os.writev(descriptor, views[:1024])
        while written and views:
            if written >= len(views[0]):
                written -= len(views[0])
                views.pop(0)
            else:
                views[0] = views[0][written:]
                written = 0


def _move_into_place(temporary: Path, final: Path) -> None:
    final.parent.mkdir(exist_ok=True, mode=0o700)
    os.replace(temporary, final)
