"""The memory budget every execution environment draws from.

An environment costs its function's MemorySize from the moment the pool decides to start it until
it is stopped. The budget is pure bookkeeping with no awaits, so a reservation taken before the
await that starts an environment can never be shared by two concurrent starts.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from lamina.execution.counts import Counts, LocalCounts

MEMORY_KEY = "memory/reserved"
IDLE_KEY = "memory/idle"


class MemoryBudgetExhausted(Exception):
    """No room for another environment: the budget is in use by busy (or starting) environments,
    or the function needs more than the whole budget (`never_fits`)."""

    def __init__(self, needed_mb: int, used_mb: int, total_mb: int) -> None:
        self.needed_mb = needed_mb
        self.used_mb = used_mb
        self.total_mb = total_mb
        if self.never_fits:
            message = f"needs {needed_mb} MB, more than the whole memory budget ({total_mb} MB)"
        else:
            message = f"needs {needed_mb} MB; {used_mb} of {total_mb} MB are in use by busy environments"
        super().__init__(message)

    @property
    def never_fits(self) -> bool:
        return self.needed_mb > self.total_mb


class GpusExhausted(MemoryBudgetExhausted):
    """No GPU free that could meet a function's request (`never_fits`: this host's GPUs never
    could). A kind of MemoryBudgetExhausted so callers throttle and wait for it the same way."""

    def __init__(self, request: str, *, never: bool) -> None:
        """`request`: what the function asked for, as its variable says (LAMINA_GPUS=1)."""
        Exception.__init__(
            self,
            f"needs {request}, and this server's GPUs never could meet it"
            if never
            else f"needs {request}; every GPU that could meet it is held by another environment",
        )
        self.needed_mb, self.used_mb, self.total_mb = 0, 0, 0
        self._never = never

    @property
    def never_fits(self) -> bool:
        return self._never


class IdleHolder(Protocol):
    """A pool drawing from the budget (one per account): others may evict its idle environments."""

    @property
    def idle_memory_mb(self) -> int: ...

    def evict_oldest_idle(self) -> asyncio.Task[None] | None:
        """Stop its least recently used idle environment (its memory is free at once)."""

    def capacity_freed(self) -> None:
        """Memory was given back elsewhere: wake whoever waits for room."""


class MemoryBudget:
    """Megabytes reserved against a fixed total, shared by the pools of every account: a pool short
    of room evicts its own idle environments first, then other pools'. Not thread-safe: one event
    loop owns it.

    With several workers (`--workers`) the total is theirs together: reservations are counted in
    `counts` (shared by all), each worker publishes how much idle memory it holds, and a worker
    short of room while others hold idle environments asks them to stop some (`reclaim(mb)`,
    through the primary) before giving up."""

    def __init__(
        self,
        total_mb: int,
        counts: Counts | None = None,
        reclaim: Callable[[int], Awaitable[bool]] | None = None,
    ) -> None:
        if total_mb <= 0:
            raise ValueError("the memory budget must be positive")
        self.total_mb = total_mb
        self._counts: Counts = counts if counts is not None else LocalCounts()
        self._reclaim = reclaim
        self.own_mb = 0  # reserved by this process
        self._holders: list[IdleHolder] = []

    @property
    def shared(self) -> bool:
        return self._reclaim is not None

    @property
    def used_mb(self) -> int:
        return self._counts.total(MEMORY_KEY)

    def join(self, holder: IdleHolder) -> None:
        self._holders.append(holder)

    def leave(self, holder: IdleHolder) -> None:
        if holder in self._holders:
            self._holders.remove(holder)

    def idle_elsewhere_mb(self, holder: IdleHolder) -> int:
        return sum(other.idle_memory_mb for other in self._holders if other is not holder)

    def evict_elsewhere(self, holder: IdleHolder) -> asyncio.Task[None] | None:
        """Evict one idle environment of the other pool holding the most idle memory."""
        others = [other for other in self._holders if other is not holder and other.idle_memory_mb > 0]
        if not others:
            return None
        return max(others, key=lambda other: other.idle_memory_mb).evict_oldest_idle()

    def announce_freed(self, holder: IdleHolder) -> None:
        for other in list(self._holders):
            if other is not holder:
                other.capacity_freed()

    @property
    def available_mb(self) -> int:
        return self.total_mb - self.used_mb

    def try_reserve(self, mb: int) -> bool:
        """Reserve `mb` if it fits; False (and nothing reserved) otherwise."""
        if not self._counts.try_add(MEMORY_KEY, mb, self.total_mb):
            return False
        self.own_mb += mb
        return True

    def release(self, mb: int) -> None:
        """Give back a reservation; each reservation is released exactly once."""
        if mb > self.own_mb:
            raise RuntimeError(f"releasing {mb} MB but only {self.own_mb} MB are reserved")
        self.own_mb -= mb
        self._counts.add(MEMORY_KEY, -mb)

    # several workers ---------------------------------------------------------------------------
    def idle_memory_mb(self) -> int:
        return sum(holder.idle_memory_mb for holder in self._holders)

    def publish_idle(self) -> None:
        """Tell the other workers how much idle memory this one holds (they may ask for it)."""
        if self.shared:
            self._counts.set_own(IDLE_KEY, self.idle_memory_mb())

    def idle_in_other_workers(self) -> list[tuple[int, int]]:
        """(worker, idle MB) of the other workers holding idle memory, the most first."""
        return sorted(self._counts.others(IDLE_KEY), key=lambda pair: -pair[1])

    async def reclaim_elsewhere(self, needed_mb: int) -> bool:
        """Ask other workers to stop idle environments until `needed_mb` may fit; False when none
        holds idle memory (or they freed too little)."""
        if self._reclaim is None or not self._counts.others(IDLE_KEY):
            return False
        return await self._reclaim(needed_mb)

    async def evict_idle(self, mb: int) -> int:
        """Stop idle environments of this process, least recently used first, until `mb` are free
        (another worker asked); returns the MB freed."""
        freed = 0
        stopping: list[asyncio.Task[None]] = []
        while freed < mb:
            holders = [holder for holder in self._holders if holder.idle_memory_mb > 0]
            if not holders:
                break
            before = self.own_mb
            task = max(holders, key=lambda holder: holder.idle_memory_mb).evict_oldest_idle()
            if task is None:
                break
            stopping.append(task)
            freed += before - self.own_mb
        if stopping:
            await asyncio.wait(stopping)
        self.publish_idle()
        return freed


def machine_memory_mb(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """MemTotal in MB (Linux), else physical pages × page size where the OS reports them."""
    try:
        with open(meminfo, "rb") as lines:
            for line in lines:
                if line.startswith(b"MemTotal:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1024 * 1024)
    except (AttributeError, ValueError, OSError):
        return None


def default_memory_budget_mb(share: float, machine_mb: int | None = None) -> int:
    """`share` of the machine's RAM; 1024 MB when the machine's RAM is unknown."""
    total = machine_mb if machine_mb is not None else machine_memory_mb()
    if total is None:
        return 1024
    return max(1, int(total * share))
