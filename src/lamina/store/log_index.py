"""A sparse time index of one stream file, for reads bounded by time (startTime / endTime).

For each run of about 64 KB of whole lines the index holds the earliest and latest timestamp in it,
so a read for a time window visits only the runs that may hold events in it and skips the rest
unread. PutLogEvents asks for time order within a batch only, so a stream need not be in time order:
the index bounds each run rather than assuming an order, and an out-of-order stream costs more runs
visited, never a missed event.

The index covers the file from its start up to `end`; what was written since is read as it is and
indexed by the next `index_more` (which reads only that). It lives in memory: about 50 KB per GB of
logs, rebuilt by a stream's first time-bounded read after a restart. Offsets are the file's own, so a
retention cut (which rewrites the file) drops it.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

from lamina.store.log_reader import BLOCK_BYTES, StreamBytes, line_chunks
from lamina.store.ports import TimeWindow

# An event record starts `{"t": <timestamp>` (see logs._record_line); the creation record does not.
_TIMESTAMP = re.compile(rb'^\{"t": (-?\d+)', re.MULTILINE)


@dataclass(frozen=True, slots=True)
class IndexBlock:
    """Lines from `start` to `end` (both line starts) with timestamps from `first_ms` to `last_ms`
    (None: no event)."""

    start: int
    end: int
    first_ms: int | None
    last_ms: int | None

    def may_hold(self, window: TimeWindow) -> bool:
        if self.first_ms is None or self.last_ms is None or self.last_ms < window.start_ms:
            return False
        if window.end_ms is None:
            return True
        return self.first_ms <= window.end_ms if window.end_inclusive else self.first_ms < window.end_ms


@dataclass(frozen=True, slots=True, eq=False)
class TimeIndex:
    """Compared by identity: the store replaces a stream's index when it grows or goes stale."""

    blocks: tuple[IndexBlock, ...] = ()
    end: int = 0
    _starts: tuple[int, ...] = field(default=(), repr=False)

    def forward_ranges(self, window: TimeWindow, start: int, size: int) -> list[tuple[int, int]]:
        """The byte ranges from `start` that may hold events in `window`, in order: indexed runs that
        may, then everything not indexed yet (up to `size`). Adjacent ranges are merged."""
        ranges: list[tuple[int, int]] = []
        for block in self.blocks[self._first_block_ending_after(start) :]:
            if block.may_hold(window):
                _add(ranges, max(block.start, start), block.end)
        _add(ranges, max(self.end, start), size)
        return ranges

    def backward_ranges(self, window: TimeWindow, end: int) -> list[tuple[int, int]]:
        """The byte ranges before `end` that may hold events in `window`, in order."""
        ranges: list[tuple[int, int]] = []
        for block in self.blocks:
            if block.start >= end:
                break
            if block.may_hold(window):
                _add(ranges, block.start, min(block.end, end))
        _add(ranges, self.end, end)
        return ranges

    def _first_block_ending_after(self, offset: int) -> int:
        return max(bisect_right(self._starts, offset) - 1, 0)


def _add(ranges: list[tuple[int, int]], start: int, end: int) -> None:
    if start >= end:
        return
    if ranges and ranges[-1][1] == start:
        ranges[-1] = (ranges[-1][0], end)
    else:
        ranges.append((start, end))


def index_more(path: Path, index: TimeIndex) -> TimeIndex:
    """Blocking: `index` extended over what the file gained since, up to its last whole line."""
    blocks = list(index.blocks)
    position = index.end
    with StreamBytes.current(path) as source:
        for offset, data in line_chunks(source, position, BLOCK_BYTES):
            last = data.rfind(b"\n")
            if last == -1:
                break  # a torn last line: indexed once the writer completes it
            whole = data[: last + 1]
            stamps = [int(value) for value in _TIMESTAMP.findall(whole)]
            blocks.append(
                IndexBlock(offset, offset + len(whole), min(stamps, default=None), max(stamps, default=None))
            )
            position = offset + len(whole)
            if len(whole) < len(data):
                break
    if position == index.end:
        return index
    return TimeIndex(tuple(blocks), position, tuple(block.start for block in blocks))
