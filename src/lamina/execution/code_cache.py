"""Unpacked code, once per code SHA, read-only, shared by every environment running it; and each
list of layers a function uses, merged once into one folder that environments see as /opt.

Folders are removed by the code collector (functions/code_collector.py) once nothing uses them;
`holding` marks the folders an environment being started needs, so they are not removed under it.

Each folder is closed to everyone but the server (mode 0500) when this process first uses it: the
sandbox opens it to the uid of each environment that runs it, for that environment's lifetime
(sandbox/code_access.py). Everything below the folder keeps its modes; it cannot be reached without it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from lamina.execution.sandbox.code_access import close_folder
from lamina.store.code_files import extract_package, make_read_only, remove_tree
from lamina.store.ports import BlobStore

_FOLDER_NAME = re.compile(r"(layers-)?[0-9a-f]{64}")


def layers_folder(sha256_hexes: Sequence[str]) -> str:
    """The name of the merged folder of a list of two or more layers."""
    return "layers-" + hashlib.sha256(":".join(sha256_hexes).encode()).hexdigest()


def folders_of(code_sha256_hex: str, layer_sha256_hexes: Sequence[str]) -> set[str]:
    """Every folder a function's environments read: its code, each layer, and the merged layers."""
    folders = {code_sha256_hex, *layer_sha256_hexes}
    if len(layer_sha256_hexes) > 1:
        folders.add(layers_folder(layer_sha256_hexes))
    return folders


class CodeCache:
    def __init__(self, root: Path, blobs: BlobStore) -> None:
        self._root = root
        self._blobs = blobs
        self._ready: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._held: collections.Counter[str] = collections.Counter()
        root.mkdir(parents=True, exist_ok=True, mode=0o711)

    @contextlib.contextmanager
    def holding(self, code_sha256_hex: str, layer_sha256_hexes: Sequence[str]) -> Iterator[None]:
        """Keep a function's folders while an environment of it starts; once started, the pool
        knows the environment and the collector keeps its folders for as long as it lives."""
        folders = folders_of(code_sha256_hex, layer_sha256_hexes)
        self._held.update(folders)
        try:
            yield
        finally:
            self._held.subtract(folders)
            for folder in folders:
                if self._held[folder] <= 0:
                    del self._held[folder]

    def held(self) -> set[str]:
        return set(self._held)

    def folders(self) -> set[str]:
        """Every unpacked or merged folder (staging folders of unpacking in progress are not).
        Blocking: call from a worker thread."""
        with contextlib.suppress(FileNotFoundError):
            return {path.name for path in self._root.iterdir() if _FOLDER_NAME.fullmatch(path.name)}
        return set()

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
                await asyncio.to_thread(close_folder, path)
                self._ready.add(sha256_hex)
        # Callers still waiting hold the lock itself and find the folder ready; the dict would
        # otherwise keep a lock for every package ever unpacked.
        if self._locks.get(sha256_hex) is lock and not lock.locked():
            del self._locks[sha256_hex]
        return path

    async def layers(self, sha256_hexes: Sequence[str]) -> Path | None:
        """One folder holding the layers in order (a later layer's files replace an earlier one's),
        as AWS extracts them into /opt; None without layers. Merged from hard links, once per list."""
        if not sha256_hexes:
            return None
        parts = [await self.ensure(sha256_hex) for sha256_hex in sha256_hexes]
        if len(parts) == 1:
            return parts[0]
        key = layers_folder(sha256_hexes)
        path = self._root / key
        if key in self._ready:
            return path
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._ready:
                if not await asyncio.to_thread(path.is_dir):
                    await asyncio.to_thread(_merge, parts, path)
                await asyncio.to_thread(close_folder, path)
                self._ready.add(key)
        return path

    async def discard(self, folder: str) -> bool:
        """Remove an unpacked or merged folder unless an environment being started holds it;
        whether it was removed. An `ensure` that comes later unpacks it again (from the blob)."""
        lock = self._locks.setdefault(folder, asyncio.Lock())
        async with lock:
            if folder in self._held:
                return False
            self._ready.discard(folder)
            await asyncio.to_thread(remove_tree, self._root / folder)
        return True


def _merge(parts: list[Path], destination: Path) -> None:
    """Hard-link every file of `parts` into `destination`, later parts winning; atomic."""
    staging = destination.with_name(destination.name + ".tmp")
    remove_tree(staging)
    staging.mkdir(parents=True)
    for part in parts:
        for folder, _, files in os.walk(part):
            target_folder = staging / os.path.relpath(folder, part)
            target_folder.mkdir(parents=True, exist_ok=True)
            os.chmod(target_folder, 0o755)
            for name in files:
                target = target_folder / name
                if target.exists() or target.is_symlink():
                    target.unlink()
                os.link(Path(folder) / name, target)
    make_read_only(staging)
    os.replace(staging, destination)
