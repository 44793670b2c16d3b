"""Recorded invocations in SQLite: events sealed and bound to their row, listings newest first
without events, pruning by age then by size, forgetting a function."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from lamina.domain.recordings import RecordedInvocation, recording_policy
from lamina.store.sqlite.recordings import SqliteRecordingStore

KEY = b"k" * 32


def _item(
    request_id: str, at: float, payload: bytes = b'{"a": 1}', function: str = "fn"
) -> RecordedInvocation:
    return RecordedInvocation(function, request_id, at, "$LATEST", "Succeeded", 12.5, payload, len(payload))


def _run(tmp_path: Path, scenario: Callable[[SqliteRecordingStore], Awaitable[None]]) -> None:
    async def run() -> None:
        store = SqliteRecordingStore(tmp_path / "recordings.db", KEY)
        await store.open()
        try:
            await scenario(store)
        finally:
            await store.close()

    asyncio.run(run())


def test_sealed_listed_and_read_back(tmp_path: Path) -> None:
    async def scenario(store: SqliteRecordingStore) -> None:
        await store.add([_item("r1", 100.0, b"plain-text-marker"), _item("r2", 200.0)])
        listed = await store.recent("fn", 10)
        assert [(item.request_id, item.payload, item.size) for item in listed] == [
            ("r2", b"", 8),
            ("r1", b"", 17),
        ]
        found = await store.get("fn", "r1")
        assert found is not None and found.payload == b"plain-text-marker"
        assert await store.get("fn", "missing") is None
        assert await store.functions() == ["fn"]

    _run(tmp_path, scenario)
    assert b"plain-text-marker" not in (tmp_path / "recordings.db").read_bytes()


def test_a_sealed_event_moved_to_another_row_does_not_open(tmp_path: Path) -> None:
    async def scenario(store: SqliteRecordingStore) -> None:
        await store.add([_item("r1", 1.0, b"one"), _item("r2", 2.0, b"two")])

    _run(tmp_path, scenario)
    connection = sqlite3.connect(tmp_path / "recordings.db")
    sealed = connection.execute("SELECT sealed FROM recordings WHERE request_id = 'r1'").fetchone()[0]
    connection.execute("UPDATE recordings SET sealed = ? WHERE request_id = 'r2'", (sealed,))
    connection.commit()
    connection.close()

    async def read(store: SqliteRecordingStore) -> None:
        with pytest.raises(InvalidTag):
            await store.get("fn", "r2")

    _run(tmp_path, read)


def test_pruning_by_age_then_size_and_forgetting(tmp_path: Path) -> None:
    async def scenario(store: SqliteRecordingStore) -> None:
        await store.add([_item(f"r{index}", float(index), b"x" * 10) for index in range(10)])
        await store.add([_item("other", 5.0, function="other")])
        await store.prune("fn", before=3.0, max_bytes=1000)  # r0..r2 are too old
        assert [item.request_id for item in await store.recent("fn", 100)] == [
            f"r{i}" for i in range(9, 2, -1)
        ]
        await store.prune("fn", before=0.0, max_bytes=35)  # the newest three fit in 35 bytes
        assert [item.request_id for item in await store.recent("fn", 100)] == ["r9", "r8", "r7"]
        await store.forget("fn")
        assert await store.recent("fn", 100) == [] and await store.functions() == ["other"]

    _run(tmp_path, scenario)


def test_the_policy_comes_from_the_environment() -> None:
    assert recording_policy({}) is None and recording_policy({"LAMINA_RECORD_EVENTS": "off"}) is None
    policy = recording_policy({"LAMINA_RECORD_EVENTS": "ON"})
    assert policy is not None and (policy.hours, policy.max_bytes) == (24.0, 16 * 1024 * 1024)
    bounded = recording_policy(
        {
            "LAMINA_RECORD_EVENTS": "on",
            "LAMINA_RECORD_EVENTS_HOURS": "99999",
            "LAMINA_RECORD_EVENTS_MB": "nan",
        }
    )
    assert bounded is not None and bounded.hours == 720.0 and bounded.max_bytes == 16 * 1024 * 1024
