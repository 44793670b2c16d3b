"""FileLogStore's read side for the Logs API: nothing is flushed to be listed or read, stats stay in
memory, deleted groups free their name at once, and retention cuts files only when worth it."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lamina.store.log_queries import needle_of, scan_source
from lamina.store.log_reader import StreamBytes, read_forward
from lamina.store.logs import FileLogStore
from lamina.store.ports import TimeWindow

GROUP = "/aws/lambda/reader"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FileLogStore]:
    logs = FileLogStore(tmp_path / "logs")
    yield logs
    logs.close()


def stream_files(store: FileLogStore) -> list[Path]:
    return list(store._root.rglob("*.jsonl"))


def test_listing_sees_buffered_streams_without_writing_them(store: FileLogStore) -> None:
    store.append(GROUP, "buffered", [(1, "in memory")])
    assert store.list_groups() == [GROUP]
    assert store.list_streams(GROUP) == ["buffered"]
    assert asyncio.run(store.groups()) == [GROUP]
    assert asyncio.run(store.stream_names(GROUP)) == ["buffered"]
    assert stream_files(store) == []  # still buffered: listing flushed nothing


def test_reads_merge_buffered_events_with_the_file(store: FileLogStore) -> None:
    store.append(GROUP, "s", [(1, "on disk")])
    store.flush()
    store.append(GROUP, "s", [(2, "buffered")])

    def read_all(open_stream: object) -> list[str]:
        with open_stream("s") as source:  # type: ignore[operator]
            assert isinstance(source, StreamBytes)
            return [item.event.message for item in read_forward(source, 0, 10, TimeWindow()).events]

    assert asyncio.run(store.read_streams(GROUP, ["s"], read_all)) == ["on disk", "buffered"]
    assert store._pending  # the read did not flush


def test_stream_stats_come_from_memory_and_count_buffered_events(store: FileLogStore) -> None:
    store.create_stream(GROUP, "s")
    store.append(GROUP, "s", [(10, "a"), (30, "b")], ingested=99)
    store.flush()
    store.append(GROUP, "s", [(50, "c")], ingested=100)
    fresh = FileLogStore(store._root)  # nothing in memory: the file's ends are read once
    fresh.append(GROUP, "s", [(70, "d")], ingested=101)
    stats = asyncio.run(fresh.stats_of(GROUP, ["s", "missing"]))
    assert list(stats) == ["s"]
    assert (stats["s"].first_event_ms, stats["s"].last_event_ms, stats["s"].last_ingestion_ms) == (
        10,
        70,
        101,
    )
    fresh.append(GROUP, "s", [(90, "e")], ingested=102)
    assert asyncio.run(fresh.stats_of(GROUP, ["s"]))["s"].last_event_ms == 90
    assert fresh._pending  # stats flushed nothing
    fresh._pending.clear()
    fresh.close()


def test_a_deleted_groups_name_is_free_at_once(store: FileLogStore) -> None:
    store.append(GROUP, "s", [(1, "old")])
    store.flush()

    async def delete_and_recreate() -> list[str]:
        assert await store.remove_group(GROUP) is True
        assert await store.groups() == []
        assert store.group_info(GROUP) is None
        store.append(GROUP, "s", [(2, "new")])
        store.flush()
        await asyncio.gather(*store._removals)  # the old folder's removal, in the background
        return [event.message for event in store.read(GROUP, "s")]

    assert asyncio.run(delete_and_recreate()) == ["new"]
    assert [path.name for path in store._root.iterdir()] == ["%2Faws%2Flambda%2Freader"]
    assert asyncio.run(store.remove_group("/never/made")) is False


def test_a_buffered_only_group_can_be_deleted(store: FileLogStore) -> None:
    store.append(GROUP, "s", [(1, "never flushed")])
    assert asyncio.run(store.remove_group(GROUP)) is True
    store.flush()
    assert store.list_groups() == []


def test_retention_sweep_rewrites_a_stream_only_when_a_quarter_has_expired(store: FileLogStore) -> None:
    store.append(GROUP, "s", [(index, f"event {index:03d}") for index in range(100)])
    store.flush()
    [path] = stream_files(store)
    inode = path.stat().st_ino
    assert asyncio.run(store.expire_group(GROUP, 10)) == 0  # a tenth: not worth a rewrite
    assert path.stat().st_ino == inode
    assert asyncio.run(store.expire_group(GROUP, 30)) == 30
    assert path.stat().st_ino != inode
    store.append(GROUP, "s", [(200, "after the cut")])  # the writer reopens the new file
    messages = [event.message for event in store.read(GROUP, "s")]
    assert messages[0] == "event 030" and messages[-1] == "after the cut" and len(messages) == 71
    assert store.stream_stats(GROUP, "s") is not None
    assert store.stream_stats(GROUP, "s").first_event_ms == 30  # type: ignore[union-attr]


def test_events_flushed_while_a_cut_is_planned_are_kept(store: FileLogStore) -> None:
    from lamina.store.log_retention import plan_expiry

    store.append(GROUP, "s", [(index, f"event {index}") for index in range(10)])
    store.flush()
    [path] = stream_files(store)
    plan = plan_expiry(path, 5)
    assert plan is not None and plan.removed == 5
    store.append(GROUP, "s", [(20, "written meanwhile")])
    store.flush()
    assert store.commit_expiry(GROUP, "s", plan) == 5
    assert [event.message for event in store.read(GROUP, "s")] == [
        *(f"event {index}" for index in range(5, 10)),
        "written meanwhile",
    ]


def test_a_flush_while_a_read_runs_neither_duplicates_nor_loses_events(store: FileLogStore) -> None:
    store.append(GROUP, "s", [(1, "flushed before")])
    store.flush()
    store.append(GROUP, "s", [(2, "buffered")])
    may_open = threading.Event()
    runs: list[int] = []

    def read_all(open_stream: Callable[[str], StreamBytes]) -> list[str]:
        runs.append(len(runs))
        may_open.wait(10)
        with open_stream("s") as source:
            return [item.event.message for item in read_forward(source, 0, 10, TimeWindow()).events]

    async def flush_while_reading() -> list[str]:
        reading = asyncio.create_task(store.read_streams(GROUP, ["s"], read_all))
        for _ in range(3):
            await asyncio.sleep(0)  # the read has captured the buffer and waits in its thread
        store.flush()  # the buffered event reaches the file before the read opens it
        may_open.set()
        return await reading

    assert asyncio.run(flush_while_reading()) == ["flushed before", "buffered"]
    assert len(runs) == 2  # the first result held the event twice and was read again


def test_a_search_over_many_streams_holds_no_file_open_between_chunks(store: FileLogStore) -> None:
    streams = [f"s{index:03d}" for index in range(200)]
    for stream in streams:
        store.append(GROUP, stream, [(1, f"hello from {stream}"), (2, "other")])
    store.flush()
    store.close()  # the writer's handles: only the search's files are counted
    baseline = len(os.listdir("/proc/self/fd"))

    def search(open_stream: Callable[[str], StreamBytes]) -> int:
        scans = [scan_source(open_stream(stream), stream, [needle_of("hello")]) for stream in streams]
        firsts = [next(scan) for scan in scans]  # every stream's search is under way at once
        opened = len(os.listdir("/proc/self/fd")) - baseline
        for scan in scans:
            scan.close()
        assert len(firsts) == len(streams)
        return opened

    assert asyncio.run(store.read_streams(GROUP, streams, search)) < 10


def test_offsets_and_so_page_tokens_survive_a_retention_cut(store: FileLogStore) -> None:
    store.create_stream(GROUP, "s")
    store.append(GROUP, "s", [(index, f"event {index:03d}") for index in range(100)])
    store.flush()
    [path] = stream_files(store)

    def page_from(offset: int) -> list[tuple[int, str]]:
        with StreamBytes.current(path) as source:
            assert source.starts_line(offset)
            page = read_forward(source, max(offset, source.start), 3, TimeWindow())
            return [(item.offset, item.event.message) for item in page.events]

    before = {found.event.message: found.offset for found in store.scan(GROUP, "s")}
    token = before["event 050"]
    expected = page_from(token)
    assert store.expire(GROUP, 40) == 40
    after = {found.event.message: found.offset for found in store.scan(GROUP, "s")}
    assert after == {message: offset for message, offset in before.items() if message >= "event 040"}
    assert page_from(token) == expected  # the same token reads the same events
    # A token from before the cut, pointing at an event now gone, reads from the first one kept.
    assert page_from(before["event 010"])[0][1] == "event 040"
    # Cut again: offsets still hold, and the file keeps its creation time.
    created = store.stream_stats(GROUP, "s").created_ms  # type: ignore[union-attr]
    assert store.expire(GROUP, 80) == 40
    assert page_from(before["event 090"]) == [
        (before[f"event {index:03d}"], f"event {index:03d}") for index in range(90, 93)
    ]
    assert FileLogStore(store._root).stream_stats(GROUP, "s").created_ms == created  # type: ignore[union-attr]
    store.append(GROUP, "s", [(200, "appended after the cuts")])
    store.flush()
    assert page_from(before["event 099"])[1][1] == "appended after the cuts"
