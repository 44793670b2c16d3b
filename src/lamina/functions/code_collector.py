"""Collecting code that nothing uses any more: stored blobs and unpacked folders.

Mark and sweep, not reference counts: what references code is the metadata itself (every account's
functions, published versions and layer versions) plus the environments running it, so there is no
second count to keep in step with them, and a sweep at start also cleans what a crash left behind.
Blobs are content-addressed and shared by every account, so a sweep always marks from all of them.

Races, and how each is closed:
- A request storing a package holds it (`storing`) from before the blob is written until its
  metadata is, so a sweep between the two cannot remove it; holding and sweeping share one lock.
  A sweep looks at what is held before it reads the metadata: a package let go of during that
  read is in the metadata by then (a soak found the other order collecting a function's new code).
- An environment being started holds its folders in the code cache (`CodeCache.holding`); once
  started the pool lists it, and its folders are kept for as long as it lives. A folder kept only
  for running environments is swept again a little later.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence

from lamina.domain.code import PackageSummary, inspect_package, read_package
from lamina.execution.code_cache import CodeCache, folders_of
from lamina.execution.pool import EnvironmentPool
from lamina.functions.registry import FunctionRegistry
from lamina.store.ports import BlobStore, MetadataStore

_log = logging.getLogger(__name__)

# (package digest, layer digests in order): what one function configuration or layer version uses.
CodeUse = tuple[str, tuple[str, ...]]
# Seconds before sweeping again folders that were kept only because environments still ran them.
RETRY_SECONDS = 5.0


class CodeCollector:
    def __init__(
        self,
        blobs: BlobStore,
        code: CodeCache,
        stored: Callable[[], Awaitable[Iterable[CodeUse]]],
        running: Callable[[], Iterable[CodeUse]],
        *,
        retry_seconds: float = RETRY_SECONDS,
        sweep_folders: Callable[[], bool] = lambda: True,
    ) -> None:
        """`stored()`: the code every account's metadata references; `running()`: the code of
        every live environment; `sweep_folders()`: whether unpacked folders may go now (not while
        workers of --workers run environments this process cannot see: theirs go at the next
        start, before any worker runs)."""
        self._sweep_folders = sweep_folders
        self._blobs = blobs
        self._code = code
        self._stored = stored
        self._running = running
        self._retry_seconds = retry_seconds
        self._lock = asyncio.Lock()
        self._storing: collections.Counter[str] = collections.Counter()
        self._retry: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def storing(self, sha256_hex: str) -> AsyncIterator[None]:
        """Hold a package while a request stores it and writes the metadata that references it.
        When the request fails, whatever it stored is collected unless something else uses it:
        nothing stays on disk for a rejected request."""
        async with self._lock:
            self._storing[sha256_hex] += 1
        try:
            yield
        except Exception:
            self._release(sha256_hex)
            await self.collect_quietly()
            raise
        except BaseException:
            self._release(sha256_hex)
            raise
        self._release(sha256_hex)

    @contextlib.asynccontextmanager
    async def store_package(self, data: bytes) -> AsyncIterator[PackageSummary]:
        """Check and store an uploaded package, held (see `storing`) while the caller writes the
        metadata that references it.

        Every entry is read to its end before the blob is written, so a corrupt deflate stream is
        found before anything is stored; writing the files out is left to the background work
        that follows a create or an update (functions/settling.py), as on AWS.
        """
        summary = await asyncio.to_thread(inspect_package, data)
        await asyncio.to_thread(read_package, data)
        digest = summary.digest.sha256_hex
        async with self.storing(digest):
            await asyncio.to_thread(self._blobs.put, digest, data)
            yield summary

    async def collect_quietly(self) -> None:
        """`collect`, for callers whose own work is done: a failure is logged, not raised."""
        try:
            await self.collect()
        except Exception:
            _log.exception("collecting unused code failed")

    def _release(self, sha256_hex: str) -> None:
        self._storing[sha256_hex] -= 1
        if self._storing[sha256_hex] <= 0:
            del self._storing[sha256_hex]

    async def collect(self) -> None:
        """Delete every blob and folder that no account's metadata, running environment or
        request in progress uses."""
        async with self._lock:
            # What is in progress first: a request lets go of its package (`_release`, which needs
            # no lock) only after the metadata references it, and an environment of its folders
            # only after the pool lists it. Looked at after the metadata (whose reading awaits),
            # a package could be released in between and be in neither look: collected while used.
            storing, held = set(self._storing), self._code.held()
            stored = _folders(await self._stored()) | storing
            running = _folders(self._running())
            blobs = await asyncio.to_thread(self._blobs.digests)
            for digest in sorted(blobs - stored - held):
                await asyncio.to_thread(self._blobs.delete, digest)
            if not self._sweep_folders():
                return
            folders = await asyncio.to_thread(self._code.folders)
            waiting = bool((folders - stored) & running)
            for folder in sorted(folders - stored - running):
                waiting |= not await self._code.discard(folder)
        if waiting:
            self._collect_later()

    def _collect_later(self) -> None:
        if self._retry is None or self._retry.done():
            self._retry = asyncio.get_running_loop().create_task(self._collect_after_delay())

    async def _collect_after_delay(self) -> None:
        await asyncio.sleep(self._retry_seconds)
        await self.collect_quietly()

    async def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry


def _folders(uses: Iterable[CodeUse]) -> set[str]:
    """Package and layer digests (which name both blobs and folders) and merged layer folders."""
    found: set[str] = set()
    for code, layers in uses:
        found |= folders_of(code, layers)
    return found


async def stored_code(accounts: Sequence[tuple[FunctionRegistry, MetadataStore]]) -> list[CodeUse]:
    """What the accounts' functions, versions and layer versions use."""
    uses: list[CodeUse] = []
    for registry, metadata in accounts:
        for config in registry.all_configs():
            uses.append((config.code.sha256_hex, tuple(layer.content.sha256_hex for layer in config.layers)))
        for layer in await metadata.list_layer_versions():
            uses.append((layer.content.sha256_hex, ()))
    return uses


def running_code(pools: Iterable[EnvironmentPool]) -> list[CodeUse]:
    """What the live environments run (a deleted version's environments may still be finishing)."""
    return [
        (
            environment.config.code.sha256_hex,
            tuple(layer.content.sha256_hex for layer in environment.config.layers),
        )
        for pool in pools
        for environment in pool.environments
    ]
