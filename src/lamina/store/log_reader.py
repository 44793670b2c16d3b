"""Reading one log stream a page at a time, touching only the bytes near what a page returns.

A stream is its file (one JSON line per event after a `{"c": created}` record) followed by the
events the store still buffers in memory. A `StreamSnapshot` captures both on the event loop: the
file's length at that moment and a copy of the buffered bytes. A thread may then read it while the
loop keeps appending, because the file only grows past the captured length and the buffered bytes
reach the disk at exactly the offsets they have in the snapshot.

Offsets are byte positions in that concatenation, so a page token that carries one lets the next page
seek there, and a page "from the end" reads backwards in blocks until it has enough lines: a tail
read of 100 events costs the same on a 1 MB stream as on a 1 GB one (the Logs soak found a 1.2 s tail
read of a 31 MB stream that parsed every line).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lamina.store.ports import LogEvent, Page, PagedEvent, TimeWindow

BLOCK_BYTES = 65_536
# A stream file's first line: `{"c": created}`, and `"s": "<digits>"` once retention cut its front
# (log_retention): how many bytes came before the file's first byte.
HEADER_PROBE_BYTES = 128  # read at the start of every file: more than a creation record takes
CREATION_RECORD = re.compile(rb'\{"c": (-?\d+)(?:, "s": "(\d+)")?\}\n')
# GetLogEvents: "as many log events as can fit in a response size of 1 MB", counting 26 bytes per
# event besides its message (the same accounting as PutLogEvents).
PAGE_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26


@dataclass(frozen=True, slots=True)
class StreamSnapshot:
    """A stream as it was at one moment: the first `disk_size` bytes of `path`, then `buffered`."""

    path: Path
    disk_size: int
    buffered: bytes = b""


def parse_line(line: bytes) -> LogEvent | None:
    """An event record's line; None for a stream's creation record or a torn line after a crash."""
    try:
        record = json.loads(line)
        return LogEvent(record["t"], record["m"], record["i"])
    except (ValueError, KeyError, TypeError):
        return None


Opener = Callable[[Path], BinaryIO]


def _open_binary(path: Path) -> BinaryIO:
    return open(path, "rb")  # closed by StreamBytes.close


class StreamBytes:
    """Random access to a snapshot's bytes; blocking, for a thread. `bytes_read` counts what came
    from the file, so tests can check that a page read only what it returns.

    A file torn by a crash (no final newline) gets a newline before the buffered bytes, as the
    writer adds one before its next append."""

    def __init__(self, snapshot: StreamSnapshot, opener: Opener = _open_binary) -> None:
        self._snapshot = snapshot
        self._file: BinaryIO | None = None
        self._opener = opener
        self.bytes_read = 0
        buffered = snapshot.buffered
        self._disk_size = snapshot.disk_size
        # Offsets are the file's own plus the bytes retention cut from its front over the years (its
        # creation record says how many): a page token stays good across a cut.
        self.start = self.header_end = 0
        self.created_ms: int | None = None
        if self._disk_size:
            header = CREATION_RECORD.match(self._read_disk(0, min(self._disk_size, HEADER_PROBE_BYTES)))
            if header is not None:
                self.created_ms = int(header.group(1))
                self.start = int(header.group(2) or 0)
                self.header_end = self.start + header.end()
        if self._disk_size and buffered and self._read_disk(self._disk_size - 1, self._disk_size) != b"\n":
            buffered = b"\n" + buffered
        self._buffered = buffered
        self.size = self.start + self._disk_size + len(buffered)

    @classmethod
    def current(cls, path: Path, buffered: bytes = b"") -> StreamBytes:
        """The file as long as it is now, then `buffered` (the caller captured it before this)."""
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            size = 0
        return cls(StreamSnapshot(path, size, buffered))

    def _read_disk(self, start: int, end: int) -> bytes:
        if start >= end:
            return b""
        if self._file is None:
            try:
                self._file = self._opener(self._snapshot.path)
            except FileNotFoundError:  # deleted since the snapshot: nothing to read
                self._disk_size = 0
                return b""
        self._file.seek(start)
        data = self._file.read(end - start)
        self.bytes_read += len(data)
        return data

    def read(self, start: int, end: int) -> bytes:
        """Bytes from `start` to `end` (clamped to the snapshot: from `self.start` to `self.size`)."""
        start, end = max(start, self.start) - self.start, min(end, self.size) - self.start
        if start >= end:
            return b""
        disk_end = min(end, self._disk_size)
        head = self._read_disk(start, disk_end) if start < disk_end else b""
        if end <= self._disk_size:
            return head
        return head + self._buffered[max(start - self._disk_size, 0) : end - self._disk_size]

    def starts_line(self, offset: int) -> bool:
        """Whether `offset` is where a line starts (or the end): what a genuine page token holds.
        Any offset up to the first event is good: it may point at events retention removed since."""
        if offset <= self.header_end or offset == self.size:
            return True
        return offset < self.size and self.read(offset - 1, offset) == b"\n"

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> StreamBytes:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def lines_forward(source: StreamBytes, start: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line without its newline) of each complete line from `start`, in block reads. A last
    line without a newline (torn) is not complete and is not yielded."""
    start = max(start, source.start)
    carry, carry_offset, position = b"", start, start
    while position < source.size:
        block = source.read(position, position + BLOCK_BYTES)
        position += len(block)
        data = carry + block
        begin = 0
        while True:
            newline = data.find(b"\n", begin)
            if newline == -1:
                break
            yield carry_offset + begin, data[begin:newline]
            begin = newline + 1
        carry, carry_offset = data[begin:], carry_offset + begin


def lines_backward(source: StreamBytes, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line without its newline) of each line that ends before `end`, last first. `end` is
    a line start or the stream's end; a final line without a newline is yielded too."""
    carry, position = b"", min(end, source.size)
    while position > source.start:
        begin = max(position - BLOCK_BYTES, source.start)
        data = source.read(begin, position) + carry
        position = begin
        stop = len(data)
        if data.endswith(b"\n"):
            stop -= 1
        while True:
            newline = data.rfind(b"\n", 0, stop)
            if newline == -1:
                break
            yield position + newline + 1, data[newline + 1 : stop]
            stop = newline
        carry = data[:stop] + (b"\n" if stop < len(data) else b"")
        if position == source.start and stop > 0:
            yield position, data[:stop]


def fits_page(used: int, event: LogEvent, page_bytes: int = PAGE_BYTES) -> tuple[bool, int]:
    """Whether `event` still fits a page of `page_bytes` holding `used` (as AWS counts a response:
    each event its message plus EVENT_OVERHEAD_BYTES); the page's size with it."""
    size = used + len(event.message.encode()) + EVENT_OVERHEAD_BYTES
    return size <= page_bytes, size


def _lines_forward_in(source: StreamBytes, ranges: Sequence[tuple[int, int]]) -> Iterator[tuple[int, bytes]]:
    for begin, end in ranges:
        for offset, line in lines_forward(source, begin):
            if offset >= end:
                break
            yield offset, line


def _lines_backward_in(source: StreamBytes, ranges: Sequence[tuple[int, int]]) -> Iterator[tuple[int, bytes]]:
    for begin, end in reversed(ranges):
        for offset, line in lines_backward(source, end):
            if offset < begin:
                break
            yield offset, line


def read_forward(
    source: StreamBytes,
    start: int,
    limit: int,
    window: TimeWindow,
    page_bytes: int = PAGE_BYTES,
    ranges: Sequence[tuple[int, int]] | None = None,
) -> Page:
    """Up to `limit` events in `window` from offset `start`. `resume` is just past the last event
    returned, or past the last complete line when the stream ran out first. `ranges` (from a time
    index, starting at `start`) limits the lines read to those that may hold events in `window`."""
    events: list[PagedEvent] = []
    used, resume = 0, start
    lines = lines_forward(source, start) if ranges is None else _lines_forward_in(source, ranges)
    for offset, line in lines:
        event = parse_line(line)
        end = offset + len(line) + 1
        if event is not None and window.holds(event.timestamp_ms):
            fits, total = fits_page(used, event, page_bytes)
            if not fits and events:
                break
            events.append(PagedEvent(offset, end, event))
            used = total
            resume = end
            if len(events) >= limit:
                break
        else:
            resume = end
    return Page(events, resume)


def read_backward(
    source: StreamBytes,
    end: int,
    limit: int,
    window: TimeWindow,
    page_bytes: int = PAGE_BYTES,
    ranges: Sequence[tuple[int, int]] | None = None,
) -> Page:
    """Up to `limit` events in `window` that end before offset `end`, the latest of them, in stream
    order. `resume` is the offset of the first event returned, or of the first line read when the
    stream ran out first. `ranges` (from a time index, ending at `end`) as for `read_forward`."""
    found: list[PagedEvent] = []
    used, resume = 0, min(end, source.size)
    lines = lines_backward(source, end) if ranges is None else _lines_backward_in(source, ranges)
    for offset, line in lines:
        event = parse_line(line)
        if event is not None and window.holds(event.timestamp_ms):
            fits, total = fits_page(used, event, page_bytes)
            if not fits and found:
                break
            found.append(PagedEvent(offset, offset + len(line) + 1, event))
            used = total
            resume = offset
            if len(found) >= limit:
                break
        else:
            resume = offset
    found.reverse()
    return Page(found, resume)


def line_chunks(
    source: StreamBytes, start: int = 0, chunk_bytes: int = 1_048_576, end: int | None = None
) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of consecutive runs of whole lines from `start` to `end` (a line start; the
    stream's end by default), each about `chunk_bytes`: searches run over a chunk at a time, so a
    large stream never sits in memory whole. A last line without a newline comes with the final
    chunk."""
    stop = source.size if end is None else min(end, source.size)
    position = max(start, source.start)
    while position < stop:
        data = source.read(position, min(position + chunk_bytes, stop))
        last = data.rfind(b"\n")
        while last == -1 and position + len(data) < stop:  # one line longer than a chunk
            data += source.read(position + len(data), min(position + len(data) + chunk_bytes, stop))
            last = data.rfind(b"\n")
        if last != -1 and position + len(data) < stop:
            data = data[: last + 1]
        yield position, data
        position += len(data)


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """What DescribeLogStreams shows of a stream, from its first and last blocks alone."""

    created_ms: int | None
    first_event_ms: int | None
    last_event_ms: int | None
    last_ingestion_ms: int | None


def summarize(source: StreamBytes) -> StreamSummary:
    """The creation record, the earliest timestamp in the first block, and the latest timestamp and
    last ingestion time in the last block: events are appended in (nearly) time order, and reading
    two blocks costs the same whatever the stream's size."""
    first = last = ingested = None
    for offset, line in lines_forward(source, source.header_end):
        if offset >= source.start + BLOCK_BYTES:
            break
        event = parse_line(line)
        if event is None:
            continue
        first = event.timestamp_ms if first is None else min(first, event.timestamp_ms)
    tail_start = source.size - BLOCK_BYTES
    for offset, line in lines_backward(source, source.size):
        if offset < tail_start:
            break
        event = parse_line(line)
        if event is None:
            continue
        if ingested is None:
            ingested = event.ingestion_time_ms
        last = event.timestamp_ms if last is None else max(last, event.timestamp_ms)
    return StreamSummary(source.created_ms, first, last, ingested)
