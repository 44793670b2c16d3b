"""Log names of any valid length (CloudWatch allows 512 characters) fit the file system, and a
stream's file is given back once nobody writes it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.store import logs as logs_module
from lamina.store.log_names import file_name
from lamina.store.logs import FileLogStore

LONG_NAMES = ["b" * 512, "/aws/" + "é" * 200, "🙂" * 60, "x." * 256]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FileLogStore]:
    logs = FileLogStore(tmp_path / "logs")
    yield logs
    logs.close()


@pytest.mark.parametrize("name", ["short", "a/b[$LATEST]", "..", "", *LONG_NAMES])
def test_every_name_is_one_file_name_the_file_system_takes(name: str) -> None:
    encoded = file_name(name)
    assert "/" not in encoded and encoded not in (".", "..")
    assert len(f".{encoded}.jsonl.name".encode()) <= 255


def test_long_group_and_stream_names_are_stored_listed_read_and_deleted(store: FileLogStore) -> None:
    group, stream, other = LONG_NAMES[0], LONG_NAMES[2], LONG_NAMES[3]
    assert store.create_group(group)
    assert store.create_stream(group, stream)
    store.append(group, other, [(1, "hello"), (2, "world")])
    store.flush()
    assert group in store.list_groups()
    assert sorted(store.list_streams(group)) == sorted([stream, other])
    assert [event.message for event in store.read(group, other)] == ["hello", "world"]
    assert store.delete_stream(group, other)
    assert store.list_streams(group) == [stream]
    # The stream's file and its name file are both gone: only the group's own files and one stream's.
    group_dir = store._group_dir(group)
    assert sorted(os.listdir(group_dir)) == sorted(
        [".group.json", ".name", f"{file_name(stream)}.jsonl", f".{file_name(stream)}.name"]
    )
    assert store.delete_group(group)
    assert group not in store.list_groups()


def test_a_fresh_store_reads_long_names_back_from_disk(tmp_path: Path) -> None:
    first = FileLogStore(tmp_path / "logs")
    first.append(LONG_NAMES[1], LONG_NAMES[0], [(1, "kept")])
    first.close()
    second = FileLogStore(tmp_path / "logs")
    try:
        assert second.list_groups() == [LONG_NAMES[1]]
        assert second.list_streams(LONG_NAMES[1]) == [LONG_NAMES[0]]
    finally:
        second.close()


def _open_files_under(root: Path) -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(str(root)):
                count += 1
        except OSError:
            continue
    return count


def test_streams_not_written_for_a_while_give_their_files_back(
    store: FileLogStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(5):
        store.append("/aws/lambda/f", f"stream-{index}", [(1, "line")])
    store.flush()
    assert _open_files_under(tmp_path / "logs") == 5  # written just now: kept open
    monkeypatch.setattr(logs_module, "_IDLE_HANDLE_SECONDS", 0.0)
    store._next_idle_sweep = 0.0
    store.flush()
    assert _open_files_under(tmp_path / "logs") == 0
    # Written again later: reopened, appended to, read back whole.
    store.append("/aws/lambda/f", "stream-0", [(2, "again")])
    store.flush()
    assert [event.message for event in store.read("/aws/lambda/f", "stream-0")] == ["line", "again"]
