"""PipeLogCapture: a runtime's output pipe becomes ordered log lines (CloudWatch caps an event at 256 KB)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from lamina.execution.log_capture import PipeLogCapture

MAX_LINE = 256 * 1024
PIPE_PIECE = 65536  # one Linux pipe buffer: a write this size never blocks an empty pipe


@dataclass
class Captured:
    """The capture under test plus the test's own copy of the pipe's write end."""

    capture: PipeLogCapture
    writer: int
    events: list[tuple[int, str]] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return [line for _, line in self.events]

    def write(self, data: bytes) -> None:
        """Write in pipe-sized pieces, draining after each so the pipe never fills."""
        for start in range(0, len(data), PIPE_PIECE):
            os.write(self.writer, data[start : start + PIPE_PIECE])
            self.capture.drain()

    def close_writer(self) -> None:
        if self.writer != -1:
            os.close(self.writer)
            self.writer = -1


def run(scenario: Callable[[Captured], Awaitable[None]]) -> None:
    async def main() -> None:
        events: list[tuple[int, str]] = []
        capture = PipeLogCapture(lambda timestamp, line: events.append((timestamp, line)))
        # start() closes the parent's write end (the child owns it then), so keep a copy to write with.
        captured = Captured(capture, os.dup(capture.write_fd), events)
        capture.start()
        try:
            await scenario(captured)
        finally:
            captured.close_writer()
            capture.close()

    asyncio.run(main())


def test_start_gives_up_the_parents_write_end() -> None:
    async def scenario(captured: Captured) -> None:
        assert captured.capture.write_fd == -1

    run(scenario)


def test_drain_emits_complete_lines_in_order_with_timestamps() -> None:
    async def scenario(captured: Captured) -> None:
        before = int(time.time() * 1000)
        captured.write(b"first\nsecond\n")
        captured.write(b"third\n")
        after = int(time.time() * 1000)
        assert captured.lines == ["first", "second", "third"]
        assert all(before <= timestamp <= after for timestamp, _ in captured.events)

    run(scenario)


def test_a_partial_line_is_held_until_its_newline() -> None:
    async def scenario(captured: Captured) -> None:
        captured.write(b"par")
        assert captured.lines == []
        captured.write(b"tial")
        assert captured.lines == []
        captured.write(b" line\nnext")
        assert captured.lines == ["partial line"]

    run(scenario)


def test_empty_lines_are_kept() -> None:
    async def scenario(captured: Captured) -> None:
        captured.write(b"a\n\n\nb\n")
        assert captured.lines == ["a", "", "", "b"]

    run(scenario)


def test_carriage_returns_before_the_newline_are_stripped() -> None:
    async def scenario(captured: Captured) -> None:
        captured.write(b"windows\r\nbare cr\rinside\r\n\r\nplain\n")
        assert captured.lines == ["windows", "bare cr\rinside", "", "plain"]

    run(scenario)


def test_utf8_is_decoded_even_when_split_across_writes_and_bad_bytes_are_replaced() -> None:
    async def scenario(captured: Captured) -> None:
        captured.write(b"caf\xc3")
        captured.write(b"\xa9 \xe2\x9c")
        captured.write(b"\x93\n")
        captured.write(b"bad \xff byte\n")
        assert captured.lines == ["café ✓", "bad \ufffd byte"]

    run(scenario)


def test_the_event_loop_reader_drains_without_explicit_calls() -> None:
    async def scenario(captured: Captured) -> None:
        os.write(captured.writer, b"via add_reader\n")
        for _ in range(100):
            if captured.lines:
                break
            await asyncio.sleep(0.005)
        assert captured.lines == ["via add_reader"]

    run(scenario)


def test_a_line_of_exactly_the_cap_is_kept_whole() -> None:
    async def scenario(captured: Captured) -> None:
        line = bytes(ord("a") + index % 26 for index in range(MAX_LINE))
        captured.write(line + b"\nafter\n")
        assert captured.lines == [line.decode(), "after"]

    run(scenario)


def test_a_line_over_the_cap_is_never_emitted_longer_than_the_cap() -> None:
    async def scenario(captured: Captured) -> None:
        line = bytes(ord("a") + index % 26 for index in range(300 * 1024))
        captured.write(line + b"\nafter\n")
        assert all(len(text.encode()) <= MAX_LINE for text in captured.lines)
        assert captured.lines[0] == line[:MAX_LINE].decode()
        assert captured.lines[-1] == "after"

    run(scenario)


def test_a_long_line_is_either_split_losslessly_or_capped_to_one_event() -> None:
    async def scenario(captured: Captured) -> None:
        line = bytes(ord("a") + index % 26 for index in range(400 * 1024))
        captured.write(line + b"\nafter\n")
        assert captured.lines[-1] == "after"
        pieces = captured.lines[:-1]
        assert all(len(piece) <= MAX_LINE for piece in pieces)
        assert pieces == [line[:MAX_LINE].decode()] or "".join(pieces) == line.decode()

    run(scenario)


def test_close_flushes_a_trailing_partial_line() -> None:
    async def scenario(captured: Captured) -> None:
        captured.write(b"complete\ntrailing without newline")
        assert captured.lines == ["complete"]
        captured.capture.close()
        assert captured.lines == ["complete", "trailing without newline"]
        captured.capture.close()  # idempotent
        captured.capture.drain()  # a no-op once closed
        assert captured.lines == ["complete", "trailing without newline"]

    run(scenario)


def test_close_reads_what_is_still_in_the_pipe() -> None:
    async def scenario(captured: Captured) -> None:
        os.write(captured.writer, b"unread\nlast")
        captured.capture.close()
        assert captured.lines == ["unread", "last"]
        with pytest.raises(OSError):
            os.fstat(captured.capture.read_fd)

    run(scenario)


def test_end_of_file_flushes_the_partial_line() -> None:
    async def scenario(captured: Captured) -> None:
        captured.write(b"line\nno newline at exit")
        captured.close_writer()  # the runtime process exited
        captured.capture.drain()
        assert captured.lines == ["line", "no newline at exit"]
        captured.capture.close()
        assert captured.lines == ["line", "no newline at exit"]

    run(scenario)


def test_close_without_start_releases_both_ends() -> None:
    capture = PipeLogCapture(lambda timestamp, line: None)
    read_fd, write_fd = capture.read_fd, capture.write_fd
    capture.close()
    assert capture.write_fd == -1
    for fd in (read_fd, write_fd):
        with pytest.raises(OSError):
            os.fstat(fd)
