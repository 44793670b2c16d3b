"""A request body handed to its handler while it still arrives, for bodies too large to buffer.

An object upload may be gigabytes; buffering it would put the whole object in memory. The
connection instead queues the request as soon as its head is read, with one of these as its body:
the handler reads it chunk by chunk, and the connection stops reading from the socket while more
than `HIGH_WATER` bytes wait here unread (the client's TCP window then slows it), so a connection
holds at most about that much of a body however large it is.

A client that sent `Expect: 100-continue` is told to go on only when the handler first reads, so a
request the handler refuses at once (no such bucket, access denied) costs no upload.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

__all__ = ["HIGH_WATER", "BodyStream"]

# Bytes buffered before reading from the socket pauses, and resumes below half of it.
HIGH_WATER = 1024 * 1024


class BodyStream:
    """One streamed body. `feed`, `end` and `fail` are called by the connection; `read` by the
    handler. Not thread-safe: everything runs on the connection's event loop."""

    def __init__(
        self,
        declared_length: int | None,
        on_start: Callable[[], None],
        on_drained: Callable[[], None],
    ) -> None:
        """`on_start`: the handler's first read (send `100 Continue`, start reading);
        `on_drained`: the buffer went below the low-water mark after a pause."""
        self._declared_length = declared_length
        self._on_start = on_start
        self._on_drained = on_drained
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self.started = False
        self.ended = False  # the last byte arrived
        self.failed = False  # the connection went before the last byte
        self.over_high_water = False

    @property
    def declared_length(self) -> int | None:
        return self._declared_length

    @property
    def finished(self) -> bool:
        """Everything arrived and was read."""
        return self.ended and not self._chunks

    def feed(self, data: bytes) -> bool:
        """Queue `data`; True when the connection should stop reading until `on_drained`."""
        self._chunks.append(data)
        self._buffered += len(data)
        self._wake()
        if self._buffered >= HIGH_WATER:
            self.over_high_water = True
        return self.over_high_water

    def end(self) -> None:
        self.ended = True
        self._wake()

    def fail(self) -> None:
        if not self.ended:
            self.failed = True
        self._wake()

    async def read(self) -> bytes:
        """The next bytes of the body; b"" at its end. Raises ConnectionError when the client went
        away before sending all of it."""
        if not self.started:
            self.started = True
            self._on_start()
        while not self._chunks:
            if self.ended:
                return b""
            if self.failed:
                raise ConnectionError("the client closed the connection before sending the whole body")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self.over_high_water and self._buffered < HIGH_WATER // 2:
            self.over_high_water = False
            self._on_drained()
        return chunk

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
