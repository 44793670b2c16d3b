"""The Logs API's queries through its port (LogQueryStore) on the file adapter: pages of one stream
by position in either direction, and searches merged across streams in key order, with buffered
events included and nothing flushed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.domain.log_patterns import compile_pattern
from lamina.store.logs import FileLogStore
from lamina.store.ports import (
    InvalidLogPosition,
    LogQueryStore,
    Page,
    PageQuery,
    SearchQuery,
    StoredEvent,
    TimeWindow,
)

GROUP = "/aws/lambda/queried"
EVERYTHING = TimeWindow()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FileLogStore]:
    logs = FileLogStore(tmp_path / "logs")
    yield logs
    logs.close()


def page(
    store: LogQueryStore,
    stream: str,
    *,
    forward: bool,
    position: int | None,
    limit: int = 3,
    use_time_index: bool = False,
) -> tuple[Page, int] | None:
    query = PageQuery(EVERYTHING, forward, position, limit, use_time_index)
    return asyncio.run(store.read_page(GROUP, stream, query))


def search(
    store: LogQueryStore,
    streams: list[str],
    pattern: str,
    *,
    limit: int,
    after: tuple[int, str, int] | None = None,
    use_time_index: bool = False,
) -> list[StoredEvent]:
    query = SearchQuery(compile_pattern(pattern), EVERYTHING, limit, after, use_time_index)
    return asyncio.run(store.search(GROUP, streams, query))


def test_pages_follow_each_other_by_position_in_both_directions(store: FileLogStore) -> None:
    store.append(GROUP, "s", [(index, f"event {index}") for index in range(5)])
    store.flush()
    store.append(GROUP, "s", [(5, "still buffered")])
    found = page(store, "s", forward=True, position=0)
    assert found is not None
    first, origin = found
    assert origin == 0 and [item.event.message for item in first.events] == ["event 0", "event 1", "event 2"]
    found = page(store, "s", forward=True, position=first.resume)
    assert found is not None and [item.event.message for item in found[0].events] == [
        "event 3",
        "event 4",
        "still buffered",
    ]
    found = page(store, "s", forward=False, position=None, limit=2)
    assert found is not None
    last, end = found
    assert [item.event.message for item in last.events] == ["event 4", "still buffered"]
    assert end == last.events[-1].end and last.resume == last.events[0].offset
    assert store._pending  # nothing was flushed to be read


def test_a_position_inside_a_record_is_refused_and_a_missing_stream_is_none(store: FileLogStore) -> None:
    store.append(GROUP, "s", [(1, "one"), (2, "two")])
    found = page(store, "s", forward=True, position=0)
    assert found is not None
    with pytest.raises(InvalidLogPosition):
        page(store, "s", forward=True, position=found[0].events[0].offset + 1)
    assert page(store, "never-written", forward=True, position=0) is None


def test_indexed_pages_read_what_unindexed_ones_do(store: FileLogStore) -> None:
    store.append(GROUP, "s", [(index, f"event {index}") for index in range(50)])
    store.flush()
    for forward, position in [(True, 0), (False, None)]:
        plain = page(store, "s", forward=forward, position=position, limit=7)
        indexed = page(store, "s", forward=forward, position=position, limit=7, use_time_index=True)
        assert plain == indexed


def test_searches_merge_streams_by_time_stream_and_position_past_the_token(store: FileLogStore) -> None:
    store.append(GROUP, "b", [(1, "b ERROR 1"), (3, "b ok"), (5, "b ERROR 5")])
    store.flush()
    store.append(GROUP, "a", [(1, "a ERROR 1"), (4, "a ERROR 4")])  # buffered only
    found = search(store, ["a", "b"], "ERROR", limit=2)
    assert [item.event.message for item in found] == ["a ERROR 1", "b ERROR 1", "a ERROR 4"]  # limit + 1
    rest = search(store, ["a", "b"], "ERROR", limit=2, after=found[1].key)
    assert [item.event.message for item in rest] == ["a ERROR 4", "b ERROR 5"]
    assert [item.key for item in rest] == sorted(item.key for item in rest)
    indexed = search(store, ["a", "b"], "ERROR", limit=2, after=found[1].key, use_time_index=True)
    assert indexed == rest


def test_searches_keep_to_the_window_and_to_json_patterns(store: FileLogStore) -> None:
    store.append(GROUP, "s", [(1, '{"level": "ERROR"}'), (2, "level ERROR"), (3, '{"level": "ERROR"}')])
    query = SearchQuery(compile_pattern('{ $.level = "ERROR" }'), TimeWindow(2, 3, end_inclusive=True), 10)
    found = asyncio.run(store.search(GROUP, ["s"], query))
    assert [(item.event.timestamp_ms, item.event.message) for item in found] == [(3, '{"level": "ERROR"}')]
