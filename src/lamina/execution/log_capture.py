"""Turns an environment's merged stdout/stderr pipe into log events, without a reader thread.

The pipe is read with loop.add_reader. The runtime flushes its output before it posts a result,
so `drain()` at that moment collects every line of the invocation deterministically — lines are
never attributed to the wrong request.

What a function prints is not trusted to be reasonable: with a `LineMeter` (log_budget) each line
is charged to the function's log budget and dropped, unread, when the budget is spent; a read pass
stops after `_DRAIN_BYTES` so that a writer faster than the server cannot hold the event loop (the
reader is called again on the next turn). What is held here is at most one partial line.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

from lamina.execution.log_budget import EVENT_OVERHEAD_BYTES, LineMeter, TokenBucket

_READ_SIZE = 65536
_MAX_LINE = 256 * 1024  # CloudWatch Logs caps an event at 256 KB
# A pipe holds 64 KB by default: everything the runtime wrote before it posted its result fits in
# far less than this, and more can only come from a process still writing.
_DRAIN_BYTES = 1024 * 1024

LineSink = Callable[[int, str], None]


def _pieces(line: bytes) -> list[bytes]:
    """A line longer than the event cap becomes several events; no byte is lost."""
    if len(line) <= _MAX_LINE:
        return [line]
    return [line[start : start + _MAX_LINE] for start in range(0, len(line), _MAX_LINE)]


class PipeLogCapture:
    def __init__(self, sink: LineSink, meter: LineMeter | None = None) -> None:
        """`meter`: the log budget lines are charged to (None: every line is kept)."""
        self._sink = sink
        self._meter = meter
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        self.read_fd = read_fd
        self.write_fd = write_fd
        self._partial = b""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def adopt(self, read_fd: int) -> None:
        """Read another pipe instead of this one's (a standby's, whose write end its process holds
        already); call before `start()`."""
        os.close(self.read_fd)
        if self.write_fd != -1:
            os.close(self.write_fd)
            self.write_fd = -1
        os.set_blocking(read_fd, False)
        self.read_fd = read_fd

    def start(self) -> None:
        """Begin reading; call after the child has the write end (the parent closes its copy)."""
        if self.write_fd != -1:
            os.close(self.write_fd)
            self.write_fd = -1
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.read_fd, self.drain)

    def drain(self) -> None:
        """Read what is available now (up to a bound) and emit complete lines."""
        if self._closed:
            return
        read = 0
        while read < _DRAIN_BYTES:
            try:
                chunk = os.read(self.read_fd, _READ_SIZE)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                self._stop_reading()
                break
            read += len(chunk)
            self._consume(chunk)

    def _consume(self, chunk: bytes) -> None:
        data = self._partial + chunk
        now = int(time.time() * 1000)
        meter = self._meter
        if meter is None:
            *lines, self._partial = data.split(b"\n")
            for line in lines:
                for piece in _pieces(line):
                    self._sink(now, piece.decode("utf-8", "replace").rstrip("\r"))
            self._emit_long_partial(now, None)
            return
        end = data.rfind(b"\n") + 1
        self._partial = data[end:]
        bucket = meter.open()
        start = 0
        if bucket is not None and bucket.tokens >= EVENT_OVERHEAD_BYTES:
            while start < end:
                newline = data.find(b"\n", start, end)
                pieces = _pieces(data[start:newline])
                if not bucket.take(newline - start + EVENT_OVERHEAD_BYTES * len(pieces)):
                    break
                for piece in pieces:
                    self._sink(now, piece.decode("utf-8", "replace").rstrip("\r"))
                start = newline + 1
        if start < end:
            # The budget is spent for the rest of this chunk (it refills between reads, not within
            # one): its lines are counted, never split or decoded.
            meter.dropped(data.count(b"\n", start, end), end - start)
        self._emit_long_partial(now, bucket)

    def _emit_long_partial(self, now: int, bucket: TokenBucket | None) -> None:
        """A line still growing past the cap is emitted in full-size pieces as they complete."""
        while len(self._partial) > _MAX_LINE:
            piece, self._partial = self._partial[:_MAX_LINE], self._partial[_MAX_LINE:]
            if self._meter is not None and (
                bucket is None or not bucket.take(_MAX_LINE + EVENT_OVERHEAD_BYTES)
            ):
                self._meter.dropped(1, _MAX_LINE)
                continue
            self._sink(now, piece.decode("utf-8", "replace"))

    def _stop_reading(self) -> None:
        if self._loop is not None and not self._closed:
            self._loop.remove_reader(self.read_fd)
        if self._partial:
            self._sink(int(time.time() * 1000), self._partial.decode("utf-8", "replace"))
            self._partial = b""

    def close(self) -> None:
        if self._closed:
            return
        self.drain()
        self._stop_reading()
        self._closed = True
        os.close(self.read_fd)
        if self.write_fd != -1:
            os.close(self.write_fd)
            self.write_fd = -1
