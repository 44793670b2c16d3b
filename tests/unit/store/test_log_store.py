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
    store.flush()  # listing does not write buffered events out
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


def test_groups_carry_their_creation_retention_and_tags(store: FileLogStore) -> None:
    assert store.create_group("g", {"team": "a"}) is True
    assert store.create_group("g") is False
    info = store.group_info("g")
    assert info is not None and info.tags == {"team": "a"} and info.retention_days is None
    info.retention_days = 7
    store.update_group("g", info)
    reloaded = FileLogStore(store._root).group_info("g")
    assert reloaded is not None and reloaded.retention_days == 7 and reloaded.created_ms == info.created_ms
    assert store.delete_group("g") is True
    assert store.group_info("g") is None
    assert store.delete_group("g") is False


def test_a_group_written_by_an_environment_exists_with_a_creation_time(store: FileLogStore) -> None:
    store.append(GROUP, STREAM, [(1, "hello")])
    info = store.group_info(GROUP)
    assert info is not None and info.created_ms > 0
    assert store.list_groups() == [GROUP]


def test_stream_stats_follow_appends(store: FileLogStore) -> None:
    assert store.create_stream(GROUP, "s") is True
    assert store.create_stream(GROUP, "s") is False
    empty = store.stream_stats(GROUP, "s")
    assert empty is not None and empty.first_event_ms is None and empty.created_ms > 0
    store.append(GROUP, "s", [(50, "b"), (10, "a")], ingested=99)
    stats = store.stream_stats(GROUP, "s")
    assert stats is not None
    assert (stats.first_event_ms, stats.last_event_ms, stats.last_ingestion_ms) == (10, 50, 99)
    fresh = FileLogStore(store._root).stream_stats(GROUP, "s")
    assert fresh is not None and (fresh.first_event_ms, fresh.last_event_ms) == (10, 50)
    assert store.read(GROUP, "s")[0].message == "b"  # the creation record is not an event


def test_scans_skip_lines_without_the_needles_and_never_miss_escaped_text(store: FileLogStore) -> None:
    from lamina.store.log_queries import needle_of

    messages_in = ['say "hi"', "tab\there", "plain", "ünï ✓", "nothing"]
    store.append(GROUP, STREAM, [(index, message) for index, message in enumerate(messages_in)])
    for term, expected in [('"hi"', ['say "hi"']), ("\t", ["tab\there"]), ("ï ✓", ["ünï ✓"]), ("zzz", [])]:
        found = [item.event.message for item in store.scan(GROUP, STREAM, [needle_of(term)])]
        assert found == expected
    assert len(list(store.scan(GROUP, STREAM))) == len(messages_in)
    offsets = [item.offset for item in store.scan(GROUP, STREAM)]
    assert offsets == sorted(set(offsets))


def test_expire_deletes_only_older_events(store: FileLogStore) -> None:
    store.append(GROUP, STREAM, [(100, "old"), (200, "keep"), (300, "keep too")])
    assert store.expire(GROUP, 150) == 1
    assert messages(store.read(GROUP, STREAM)) == ["keep", "keep too"]
    store.append(GROUP, STREAM, [(400, "after")])
    assert messages(store.read(GROUP, STREAM)) == ["keep", "keep too", "after"]


def test_tapped_groups_keep_a_copy_of_appends(store: FileLogStore) -> None:
    store.append(GROUP, STREAM, [(1, "before the tap")])
    store.tap(frozenset({GROUP}))
    store.append(GROUP, STREAM, [(2, "seen")])
    store.append("/other", STREAM, [(3, "not tapped")])
    assert store.drain_tapped() == [(GROUP, STREAM, [(2, "seen")])]
    assert store.drain_tapped() == []


def test_json_message_scans_keep_every_json_object_message(store: FileLogStore) -> None:
    messages_in = ['{"a": 1}', '  {"a": 2}', '\n\t{"a": 3}', "plain {", "x{}", "[1, 2]", ""]
    store.append(GROUP, STREAM, [(index, message) for index, message in enumerate(messages_in)])
    found = [item.event.message for item in store.scan(GROUP, STREAM, json_messages=True)]
    assert found == ['{"a": 1}', '  {"a": 2}', '\n\t{"a": 3}']
