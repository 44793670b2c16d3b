"""FileLogStore: ordered events per stream, AWS-style names, crash-tolerant reads."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.store.logs import FileLogStore
from lamina.store.ports import LogEvent

GROUP = "/aws/lambda/my-function"
STREAM = "2024/01/31/[$LATEST]0123456789abcdef0123456789abcdef"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "root"


@pytest.fixture
def store(root: Path) -> Iterator[FileLogStore]:
    logs = FileLogStore(root)
    yield logs
    logs.close()


def messages(events: list[LogEvent]) -> list[str]:
    return [event.message for event in events]


def open_fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_events_are_read_back_in_append_order(store: FileLogStore) -> None:
    before = int(time.time() * 1000)
    store.append(GROUP, STREAM, [(1000, "START"), (1001, "hello")])
    store.append(GROUP, STREAM, [(999, "late timestamp"), (1002, "END")])
    after = int(time.time() * 1000)
    events = store.read(GROUP, STREAM)
    assert [(event.timestamp_ms, event.message) for event in events] == [
        (1000, "START"),
        (1001, "hello"),
        (999, "late timestamp"),
        (1002, "END"),
    ]
    assert all(before <= event.ingestion_time_ms <= after for event in events)


def test_start_index_skips_earlier_events(store: FileLogStore) -> None:
    store.append(GROUP, STREAM, [(index, f"line {index}") for index in range(5)])
    assert messages(store.read(GROUP, STREAM, start_index=2)) == ["line 2", "line 3", "line 4"]
    assert messages(store.read(GROUP, STREAM, start_index=5)) == []
    assert messages(store.read(GROUP, STREAM, start_index=50)) == []


def test_messages_keep_newlines_tabs_quotes_and_unicode(store: FileLogStore) -> None:
    odd = ["multi\nline", "tab\there", 'quote " and \\ backslash', "ünïcødé ✓ 🎉", "", '{"json": true}']
    store.append(GROUP, STREAM, [(1, message) for message in odd])
    assert messages(store.read(GROUP, STREAM)) == odd


def test_messages_with_unicode_line_separators_survive(store: FileLogStore) -> None:
    odd = ["para\u2028graph", "next\u2029para", "nel\x85line", "vt\x0bff\x0c"]
    store.append(GROUP, STREAM, [(1, message) for message in odd])
    assert messages(store.read(GROUP, STREAM)) == odd


def test_empty_append_creates_nothing(store: FileLogStore) -> None:
    store.append(GROUP, STREAM, [])
    assert store.list_groups() == []
    assert store.list_streams(GROUP) == []
    assert store.read(GROUP, STREAM) == []


def test_unknown_group_and_stream_read_empty(store: FileLogStore) -> None:
    store.append(GROUP, STREAM, [(1, "x")])
    assert store.read(GROUP, "other") == []
    assert store.read("/aws/lambda/other", STREAM) == []
    assert store.list_streams("/aws/lambda/other") == []


def test_names_with_slashes_brackets_and_dollars_are_listed_exactly(store: FileLogStore, root: Path) -> None:
    streams = [
        STREAM,
        "2024/02/01/[7]fedcba9876543210fedcba9876543210",
        "odd name %2F with spaces & ?query#frag",
        "..",
        "...",
    ]
    for stream in streams:
        store.append(GROUP, stream, [(1, stream)])
    store.append("/aws/lambda/other-fn", STREAM, [(1, "other")])
    assert sorted(store.list_streams(GROUP)) == sorted(streams)
    assert store.list_groups() == ["/aws/lambda/my-function", "/aws/lambda/other-fn"]
    for stream in streams:
        assert messages(store.read(GROUP, stream)) == [stream]
    # Every group is one folder directly under the root and every stream one file inside it.
    assert sorted(path.name for path in root.iterdir()) == sorted(
        ["%2Faws%2Flambda%2Fmy-function", "%2Faws%2Flambda%2Fother-fn"]
    )
    assert all(path.parent.parent == root for path in root.rglob("*.jsonl"))


def test_dot_dot_group_stays_inside_the_root(store: FileLogStore, root: Path) -> None:
    store.append("..", "escape", [(1, "x")])
    assert sorted(path.name for path in root.parent.iterdir()) == ["root"]
    assert store.list_groups() == [".."]
    assert messages(store.read("..", "escape")) == ["x"]


def test_a_torn_last_line_is_skipped(store: FileLogStore, root: Path) -> None:
    store.append(GROUP, STREAM, [(1, "one"), (2, "two")])
    store.close()
    [path] = root.rglob("*.jsonl")
    with open(path, "a", encoding="utf-8") as file:
        file.write('{"t": 3, "m": "thr')  # the process died mid-write
    reopened = FileLogStore(root)
    try:
        assert messages(reopened.read(GROUP, STREAM)) == ["one", "two"]
    finally:
        reopened.close()


def test_appends_after_a_torn_line_are_kept(store: FileLogStore, root: Path) -> None:
    store.append(GROUP, STREAM, [(1, "one")])
    store.close()
    [path] = root.rglob("*.jsonl")
    with open(path, "a", encoding="utf-8") as file:
        file.write('{"t": 2, "m": "tw')
    reopened = FileLogStore(root)
    try:
        reopened.append(GROUP, STREAM, [(3, "after restart")])
        assert messages(reopened.read(GROUP, STREAM)) == ["one", "after restart"]
    finally:
        reopened.close()


def test_more_streams_than_open_handles_are_all_readable(store: FileLogStore) -> None:
    baseline = open_fd_count()
    count = 300  # above the 256 open-handle cap
    for index in range(count):
        store.append(GROUP, f"stream-{index:03d}", [(index, f"first {index}")])
    assert open_fd_count() - baseline <= 256
    for index in range(count):  # the evicted handles are reopened for appending
        store.append(GROUP, f"stream-{index:03d}", [(index, f"second {index}")])
    assert open_fd_count() - baseline <= 256
    for index in range(count):
        assert messages(store.read(GROUP, f"stream-{index:03d}")) == [f"first {index}", f"second {index}"]
    assert sorted(store.list_streams(GROUP)) == [f"stream-{index:03d}" for index in range(count)]
    store.close()
    assert open_fd_count() == baseline


def test_close_is_idempotent_and_appends_reopen(store: FileLogStore) -> None:
    store.append(GROUP, STREAM, [(1, "before")])
    store.close()
    store.close()
    store.append(GROUP, STREAM, [(2, "after")])
    assert messages(store.read(GROUP, STREAM)) == ["before", "after"]


def test_data_survives_a_new_instance(store: FileLogStore, root: Path) -> None:
    store.append(GROUP, STREAM, [(1, "persisted")])
    store.close()
    reopened = FileLogStore(root)
    try:
        assert reopened.list_groups() == [GROUP]
        assert reopened.list_streams(GROUP) == [STREAM]
        assert messages(reopened.read(GROUP, STREAM)) == ["persisted"]
    finally:
        reopened.close()


def test_list_groups_is_sorted(store: FileLogStore) -> None:
    for group in ["/aws/lambda/zeta", "/aws/lambda/alpha", "custom-group", "/aws/lambda/Mid"]:
        store.append(group, "s", [(1, "x")])
    assert store.list_groups() == ["/aws/lambda/Mid", "/aws/lambda/alpha", "/aws/lambda/zeta", "custom-group"]


def test_appends_wait_in_memory_until_flush_and_survive_more_streams_than_open_files(root: Path) -> None:
    store = FileLogStore(root)
    streams = [f"2026/11/29/[$LATEST]{index:04d}" for index in range(600)]  # more than the open-file cap
    for round_number in range(2):
        for stream in streams:
            store.append("/aws/lambda/many", stream, [(round_number, f"line {round_number}")])
    assert not any(root.rglob("*.jsonl"))  # nothing written yet: appends are memory only
    store.flush()
    assert len(list(root.rglob("*.jsonl"))) == len(streams)
    for stream in streams[::97]:
        assert [event.message for event in store.read("/aws/lambda/many", stream)] == ["line 0", "line 1"]
    store.close()
