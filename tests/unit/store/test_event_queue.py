"""EventQueue conformance: what is put stays until removed, across close and reopen; every adapter
(SQLite, and PostgreSQL against a real throwaway server) passes the same tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import pytest

from lamina.domain.async_events import QueuedEvent
from lamina.store.ports import EventQueue
from lamina.store.postgres.event_queue import PostgresEventQueue
from lamina.store.sqlite.event_queue import SqliteEventQueue

T = TypeVar("T")
QueueFactory = Callable[[Path], EventQueue]
"""An unopened queue whose data lives at `path`; two calls share the same data."""


@pytest.fixture(params=["sqlite", "postgres"])
def factory(request: pytest.FixtureRequest) -> QueueFactory:
    if request.param == "sqlite":
        return SqliteEventQueue
    url = request.getfixturevalue("postgres").new_database()
    return lambda path: PostgresEventQueue(url, "123456789012/us-east-1")


def with_queue(factory: QueueFactory, path: Path, scenario: Callable[[EventQueue], Awaitable[T]]) -> T:
    async def main() -> T:
        queue = factory(path)
        await queue.open()
        try:
            return await scenario(queue)
        finally:
            await queue.close()

    return asyncio.run(main())


def event(event_id: str, enqueued_at_ms: int) -> QueuedEvent:
    return QueuedEvent(event_id, "f", None, b'{"n": 1}', enqueued_at_ms)


def test_put_replace_remove_and_order(factory: QueueFactory, tmp_path: Path) -> None:
    async def scenario(queue: EventQueue) -> None:
        await queue.put(event("b", 2))
        await queue.put(event("a", 1))
        retried = replace(event("b", 2), runs=1, next_attempt_at_ms=60_002)
        await queue.put(retried)
        assert await queue.pending() == [event("a", 1), retried]
        await queue.remove("a")
        await queue.remove("a")
        assert await queue.pending() == [retried]

    with_queue(factory, tmp_path / "queue.db", scenario)


def test_events_survive_close_and_reopen(factory: QueueFactory, tmp_path: Path) -> None:
    path = tmp_path / "nested" / "queue.db"

    async def write(queue: EventQueue) -> None:
        await queue.put(event("kept", 5))

    with_queue(factory, path, write)
    assert with_queue(factory, path, lambda queue: queue.pending()) == [event("kept", 5)]
