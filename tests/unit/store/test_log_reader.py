"""Paged stream reads: by byte offset forward and backward, windows, limits, buffered events, and
reads from the end that touch a bounded number of bytes however large the stream."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.store.log_reader import (
    BLOCK_BYTES,
    HEADER_PROBE_BYTES,
    StreamBytes,
    StreamSnapshot,
    lines_backward,
    lines_forward,
    read_backward,
    read_forward,
    summarize,
)
from lamina.store.logs import FileLogStore
from lamina.store.ports import PagedEvent, TimeWindow

GROUP, STREAM = "/aws/lambda/paged", "stream"
EVERYTHING = TimeWindow()


def written(root: Path, count: int, *, pad: int = 0, start: int = 0) -> tuple[FileLogStore, Path]:
    store = FileLogStore(root)
    store.create_stream(GROUP, STREAM)
    store.append(
        GROUP, STREAM, [(1000 + index, f"event {index}" + "x" * pad) for index in range(start, count)]
    )
    store.flush()
    [path] = root.rglob("*.jsonl")
    return store, path


def source_of(path: Path, buffered: bytes = b"") -> StreamBytes:
    return StreamBytes(StreamSnapshot(path, path.stat().st_size, buffered))


def messages(page_events: list[PagedEvent]) -> list[str]:
    return [item.event.message for item in page_events]


def test_forward_pages_chain_by_offset_to_the_end(tmp_path: Path) -> None:
    store, path = written(tmp_path, 25)
    seen, position = [], 0
    with source_of(path) as source:
        for _ in range(10):
            page = read_forward(source, position, 7, EVERYTHING)
            seen += messages(page.events)
            if not page.events:
                break
            assert source.starts_line(page.resume)
            position = page.resume
        assert position == source.size  # ran out: the resume point is the end
    assert seen == [f"event {index}" for index in range(25)]
    store.close()


def test_backward_pages_return_the_latest_first_page_in_stream_order(tmp_path: Path) -> None:
    store, path = written(tmp_path, 25)
    with source_of(path) as source:
        latest = read_backward(source, source.size, 10, EVERYTHING)
        assert messages(latest.events) == [f"event {index}" for index in range(15, 25)]
        assert latest.resume == latest.events[0].offset
        earlier = read_backward(source, latest.resume, 10, EVERYTHING)
        assert messages(earlier.events) == [f"event {index}" for index in range(5, 15)]
        first = read_backward(source, earlier.resume, 10, EVERYTHING)
        assert messages(first.events) == [f"event {index}" for index in range(5)]
        assert read_backward(source, first.resume, 10, EVERYTHING).events == []
        # An event's end is where the next one starts: a forward read from there continues.
        after = read_forward(source, latest.events[4].end, 3, EVERYTHING)
        assert messages(after.events) == ["event 20", "event 21", "event 22"]
    store.close()


def test_time_windows_limit_the_events_returned(tmp_path: Path) -> None:
    store, path = written(tmp_path, 50)
    with source_of(path) as source:
        window = TimeWindow(1010, 1013)
        assert messages(read_forward(source, 0, 100, window).events) == ["event 10", "event 11", "event 12"]
        assert messages(read_backward(source, source.size, 2, window).events) == ["event 11", "event 12"]
        inclusive = TimeWindow(1010, 1013, end_inclusive=True)
        assert len(read_forward(source, 0, 100, inclusive).events) == 4
    store.close()


def test_a_page_holds_at_most_a_megabyte_of_events(tmp_path: Path) -> None:
    store, path = written(tmp_path, 40, pad=100_000)  # 40 events of ~100 KB
    with source_of(path) as source:
        forward = read_forward(source, 0, 10_000, EVERYTHING)
        backward = read_backward(source, source.size, 10_000, EVERYTHING)
    assert len(forward.events) == len(backward.events) == 10
    assert messages(backward.events)[-1].startswith("event 39")
    store.close()


def test_buffered_events_follow_the_file_at_the_offsets_they_will_have(tmp_path: Path) -> None:
    store, path = written(tmp_path, 3)
    disk_size = path.stat().st_size
    store.append(GROUP, STREAM, [(2000, "buffered 1"), (2001, "buffered 2")])
    buffered = b"".join(chunk.encode() for chunk in store._pending[(GROUP, STREAM)])
    with StreamBytes(StreamSnapshot(path, disk_size, buffered)) as source:
        before_flush = read_backward(source, source.size, 3, EVERYTHING)
    assert messages(before_flush.events) == ["event 2", "buffered 1", "buffered 2"]
    store.flush()
    with source_of(path) as source:
        assert [item.offset for item in read_backward(source, source.size, 3, EVERYTHING).events] == [
            item.offset for item in before_flush.events
        ]
    store.close()


def test_a_torn_last_line_is_skipped_and_buffered_events_start_on_a_line_of_their_own(tmp_path: Path) -> None:
    store, path = written(tmp_path, 2)
    store.close()
    with open(path, "ab") as file:
        file.write(b'{"t": 3, "m": "tor')
    with source_of(path) as source:
        assert messages(read_backward(source, source.size, 10, EVERYTHING).events) == ["event 0", "event 1"]
        assert messages(read_forward(source, 0, 10, EVERYTHING).events) == ["event 0", "event 1"]
    with source_of(path, b'{"t": 4, "m": "after", "i": 1}\n') as source:
        assert messages(read_forward(source, 0, 10, EVERYTHING).events) == ["event 0", "event 1", "after"]


def test_line_iterators_agree_across_block_boundaries(tmp_path: Path) -> None:
    store, path = written(tmp_path, 3000, pad=37)  # lines straddle many 64 KB blocks
    with source_of(path) as source:
        forward = list(lines_forward(source, 0))
        backward = list(lines_backward(source, source.size))
    assert source.size > 3 * BLOCK_BYTES
    assert forward == backward[::-1]
    assert len(forward) == 3001  # the creation record and every event
    store.close()


def test_tokens_must_point_at_a_line_start(tmp_path: Path) -> None:
    store, path = written(tmp_path, 3)
    with source_of(path) as source:
        page = read_forward(source, 0, 1, EVERYTHING)
        assert source.starts_line(page.resume) and source.starts_line(0) and source.starts_line(source.size)
        assert not source.starts_line(page.resume + 1)
        assert not source.starts_line(source.size + 1)
    store.close()


@pytest.mark.parametrize("events", [10_000, 320_000])
def test_reading_the_tail_touches_a_bounded_number_of_bytes_whatever_the_stream_size(
    tmp_path: Path, events: int
) -> None:
    store, path = written(tmp_path, events, pad=60)  # ~1 MB and ~32 MB
    with source_of(path) as source:
        page = read_backward(source, source.size, 100, EVERYTHING)
        assert messages(page.events)[-1].startswith(f"event {events - 1}")
        assert len(page.events) == 100
        # 100 lines of ~100 bytes: one block read, whatever the size.
        assert source.bytes_read <= HEADER_PROBE_BYTES + BLOCK_BYTES + 1
    # A summary for DescribeLogStreams reads the first and last blocks only (each line-aligned).
    with source_of(path) as source:
        summary = summarize(source)
        assert (summary.first_event_ms, summary.last_event_ms) == (1000, 1000 + events - 1)
        assert source.bytes_read <= HEADER_PROBE_BYTES + 4 * BLOCK_BYTES
    with source_of(path) as source:
        middle = read_forward(source, page.events[0].offset, 100, EVERYTHING)
        assert [item.offset for item in middle.events] == [item.offset for item in page.events]
        assert source.bytes_read <= HEADER_PROBE_BYTES + BLOCK_BYTES
    store.close()
