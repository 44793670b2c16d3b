"""EventQueue conformance: what is put stays until removed, across close and reopen."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from lamina.domain.async_events import QueuedEvent
from lamina.store.sqlite.event_queue import SqliteEventQueue

T = TypeVar("T")


def with_queue(path: Path, scenario: Callable[[SqliteEventQueue], Awaitable[T]]) -> T:
    async def main() -> T:
        queue = SqliteEventQueue(path)
        await queue.open()
        try:
            return await scenario(queue)
        finally:
            await queue.close()

    return asyncio.run(main())


def event(event_id: str, enqueued_at_ms: int) -> QueuedEvent:
    return QueuedEvent(event_id, "f", None, b'{"n": 1}', enqueued_at_ms)


def test_put_replace_remove_and_order(tmp_path: Path) -> None:
    async def scenario(queue: SqliteEventQueue) -> None:
        await queue.put(event("b", 2))
        await queue.put(event("a", 1))
        retried = replace(event("b", 2), runs=1, next_attempt_at_ms=60_002)
        await queue.put(retried)
        assert await queue.pending() == [event("a", 1), retried]
        await queue.remove("a")
        await queue.remove("a")
        assert await queue.pending() == [retried]

    with_queue(tmp_path / "queue.db", scenario)


def test_events_survive_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "queue.db"

    async def write(queue: SqliteEventQueue) -> None:
        await queue.put(event("kept", 5))

    with_queue(path, write)
    assert with_queue(path, lambda queue: queue.pending()) == [event("kept", 5)]
