"""The sparse time index: reads bounded by time visit only the runs of lines that may hold such
times, return what a full scan returns (in or out of time order), and grow with the file."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.store.log_index import TimeIndex, index_more
from lamina.store.log_queries import scan_source
from lamina.store.log_reader import (
    BLOCK_BYTES,
    HEADER_PROBE_BYTES,
    StreamBytes,
    StreamSnapshot,
    read_backward,
    read_forward,
)
from lamina.store.logs import FileLogStore
from lamina.store.ports import TimeWindow

GROUP, STREAM = "/aws/lambda/indexed", "s"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FileLogStore]:
    logs = FileLogStore(tmp_path)
    yield logs
    logs.close()


def write(store: FileLogStore, events: list[tuple[int, str]]) -> Path:
    store.append(GROUP, STREAM, events)
    store.flush()
    [path] = store._root.rglob("*.jsonl")
    return path


def source_of(path: Path) -> StreamBytes:
    return StreamBytes(StreamSnapshot(path, path.stat().st_size))


def test_a_time_window_in_a_large_stream_reads_only_nearby_blocks(store: FileLogStore) -> None:
    path = write(store, [(1_000_000 + index, f"event {index:07d} " + "x" * 60) for index in range(100_000)])
    index = index_more(path, TimeIndex())
    assert index.end == path.stat().st_size and len(index.blocks) > 100
    window = TimeWindow(1_050_000, 1_050_010)
    with source_of(path) as source:
        page = read_forward(source, 0, 100, window, ranges=index.forward_ranges(window, 0, source.size))
        assert [item.event.timestamp_ms for item in page.events] == list(range(1_050_000, 1_050_010))
        assert source.bytes_read <= HEADER_PROBE_BYTES + 3 * BLOCK_BYTES
    with source_of(path) as source:
        latest = read_backward(
            source, source.size, 3, window, ranges=index.backward_ranges(window, source.size)
        )
        assert [item.event.timestamp_ms for item in latest.events] == [1_050_007, 1_050_008, 1_050_009]
        assert source.bytes_read <= HEADER_PROBE_BYTES + 3 * BLOCK_BYTES
    with source_of(path) as source:
        inclusive = TimeWindow(1_050_000, 1_050_010, end_inclusive=True)
        found = list(scan_source(source, STREAM, ranges=index.forward_ranges(inclusive, 0, source.size)))
        assert len([item for item in found if inclusive.holds(item.event.timestamp_ms)]) == 11
        assert source.bytes_read <= HEADER_PROBE_BYTES + 3 * BLOCK_BYTES  # the search saw only nearby blocks


def test_indexed_reads_match_full_scans_even_out_of_time_order(store: FileLogStore) -> None:
    shuffle = random.Random(7)
    # Mostly in time order, with every 37th event late (an earlier timestamp, as a second writer's).
    events = [
        (
            shuffle.randrange(0, index * 2 + 1) if index % 37 == 0 else index * 2,
            f"event {index} " + "y" * (index % 300),
        )
        for index in range(6_000)
    ]
    path = write(store, events)
    index = index_more(path, TimeIndex())
    with source_of(path) as source:
        for _ in range(25):
            start = shuffle.randrange(0, 12_000)
            window = TimeWindow(start, start + shuffle.randrange(1, 200))
            limit = shuffle.randrange(1, 500)
            plain = read_forward(source, 0, limit, window)
            indexed = read_forward(
                source, 0, limit, window, ranges=index.forward_ranges(window, 0, source.size)
            )
            assert indexed.events == plain.events
            back_plain = read_backward(source, source.size, limit, window)
            back_indexed = read_backward(
                source, source.size, limit, window, ranges=index.backward_ranges(window, source.size)
            )
            assert back_indexed.events == back_plain.events


def test_the_index_grows_with_the_file_and_keeps_what_it_had(store: FileLogStore) -> None:
    path = write(store, [(index, "first " + "z" * 100) for index in range(5_000)])
    first = index_more(path, TimeIndex())
    assert index_more(path, first) is first  # nothing new: nothing read
    write(store, [(10_000 + index, "second " + "z" * 100) for index in range(5_000)])
    second = index_more(path, first)
    assert second.blocks[: len(first.blocks)] == first.blocks
    assert second.end == path.stat().st_size
    # What the index does not cover yet (written since) is read as it is.
    write(store, [(20_000, "third")])
    window = TimeWindow(20_000, 20_001)
    with source_of(path) as source:
        page = read_forward(source, 0, 10, window, ranges=second.forward_ranges(window, 0, source.size))
    assert [item.event.message for item in page.events] == ["third"]


def test_the_store_keeps_indexes_of_existing_streams_only(store: FileLogStore) -> None:
    write(store, [(index, "event") for index in range(10)])
    indexes = asyncio.run(store.time_indexes(GROUP, [STREAM, "never-written"]))
    assert indexes[STREAM].end > 0 and indexes["never-written"].end == 0
    assert set(store._indexes) == {(GROUP, STREAM)}
    assert asyncio.run(store.time_indexes(GROUP, [STREAM]))[STREAM] is indexes[STREAM]  # nothing new
    store.expire(GROUP, 5)  # a retention cut moves offsets: the index goes
    assert set(store._indexes) == set()
