"""Unpacked code, once per code SHA, read-only, shared by every environment running it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lamina.domain.code import extract_package, remove_tree
from lamina.store.ports import BlobStore


class CodeCache:
    def __init__(self, root: Path, blobs: BlobStore) -> None:
        self._root = root
        self._blobs = blobs
        self._ready: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        root.mkdir(parents=True, exist_ok=True, mode=0o711)

    def path_for(self, sha256_hex: str) -> Path:
        return self._root / sha256_hex

    async def ensure(self, sha256_hex: str, data: bytes | None = None) -> Path:
        """The unpacked folder; unpacks from `data` or the blob store on first use."""
        path = self.path_for(sha256_hex)
        if sha256_hex in self._ready:
            return path
        lock = self._locks.setdefault(sha256_hex, asyncio.Lock())
        async with lock:
            if sha256_hex not in self._ready:
                if not await asyncio.to_thread(path.is_dir):
                    package = (
                        data if data is not None else await asyncio.to_thread(self._blobs.get, sha256_hex)
                    )
                    await asyncio.to_thread(extract_package, package, path)
                self._ready.add(sha256_hex)
        return path

    async def discard(self, sha256_hex: str) -> None:
        self._ready.discard(sha256_hex)
        await asyncio.to_thread(remove_tree, self.path_for(sha256_hex))
