"""Group commit: many callers that each need "everything so far is durable" share one write.

Asynchronous delivery acknowledges an event only once the run's log lines and metrics are stored
(see docs/architecture.md, "Durability"). Writing the metrics is a SQLite transaction over every
series touched (about 2 ms); doing one per finished event made them the bottleneck of a busy
queue. So callers wait together: one write runs at a time, writes start at most every `interval`
seconds, and each caller returns after a write that began after it called (so it covers what the
caller recorded). A lone caller on a quiet server is written at once; under load, writes run at
most 1/interval times a second whatever the event rate, and an acknowledgement waits at most
`interval` plus one write. The same idea as a database's group commit (PostgreSQL's commit_delay).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class GroupCommit:
    def __init__(
        self,
        write: Callable[[], Awaitable[None]],
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`write()` stores everything recorded before it was called, or raises."""
        self._write = write
        self._interval = interval
        self._clock = clock
        self._next: asyncio.Future[None] | None = None  # the write the callers arriving now share
        self._writer: asyncio.Task[None] | None = None
        self._last_start = float("-inf")

    async def commit(self) -> None:
        """Return once a write that started after this call has finished; raise what it raised.
        Cancelling a caller does not cancel the write the others wait for."""
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            # Nobody may be left to read a failure; reading it here keeps asyncio from warning.
            self._next.add_done_callback(_observe)
        waiting = self._next
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_while_waited_for())
        await asyncio.shield(waiting)

    async def _write_while_waited_for(self) -> None:
        batch: asyncio.Future[None] | None = None
        try:
            while self._next is not None:
                delay = self._last_start + self._interval - self._clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                batch, self._next = self._next, None
                self._last_start = self._clock()
                try:
                    await self._write()
                except Exception as error:
                    batch.set_exception(error)
                else:
                    batch.set_result(None)
        finally:
            self._writer = None
            # Cancelled (the server stops): nobody is told "durable" for a write that did not end.
            for waiting in (batch, self._next):
                if waiting is not None and not waiting.done():
                    waiting.cancel()
            self._next = None


def _observe(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
