"""Turns an environment's merged stdout/stderr pipe into log events, without a reader thread.

The pipe is read with loop.add_reader. The runtime flushes its output before it posts a result,
so `drain()` at that moment collects every line of the invocation deterministically — lines are
never attributed to the wrong request.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

_READ_SIZE = 65536
_MAX_LINE = 256 * 1024  # CloudWatch Logs caps an event at 256 KB

LineSink = Callable[[int, str], None]


def _pieces(line: bytes) -> list[bytes]:
    """A line longer than the event cap becomes several events; no byte is lost."""
    if len(line) <= _MAX_LINE:
        return [line]
    return [line[start : start + _MAX_LINE] for start in range(0, len(line), _MAX_LINE)]


class PipeLogCapture:
    def __init__(self, sink: LineSink) -> None:
        self._sink = sink
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        self.read_fd = read_fd
        self.write_fd = write_fd
        self._partial = b""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def start(self) -> None:
        """Begin reading; call after the child has the write end (the parent closes its copy)."""
        os.close(self.write_fd)
        self.write_fd = -1
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.read_fd, self.drain)

    def drain(self) -> None:
        """Read everything available now and emit complete lines."""
        if self._closed:
            return
        while True:
            try:
                chunk = os.read(self.read_fd, _READ_SIZE)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                self._stop_reading()
                break
            self._consume(chunk)

    def _consume(self, chunk: bytes) -> None:
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        now = int(time.time() * 1000)
        for line in lines:
            for piece in _pieces(line):
                self._sink(now, piece.decode("utf-8", "replace").rstrip("\r"))
        # A line still growing past the cap is emitted in full-size pieces as they complete.
        while len(self._partial) > _MAX_LINE:
            piece, self._partial = self._partial[:_MAX_LINE], self._partial[_MAX_LINE:]
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
