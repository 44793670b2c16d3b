"""EventQueue conformance: what is put stays until removed, across close and reopen; every adapter
(SQLite, and PostgreSQL against a real throwaway server) passes the same tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import pytest
from tests.support.postgres import PostgresServer

from lamina.domain.async_events import QueuedEvent
from lamina.store.ports import EventQueue
from lamina.store.postgres.database import PostgresDatabase
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


def test_a_queue_one_server_uses_has_no_orphans(factory: QueueFactory, tmp_path: Path) -> None:
    async def scenario(queue: EventQueue) -> list[QueuedEvent]:
        await queue.put(event("mine", 1))
        return await queue.orphans()

    assert with_queue(factory, tmp_path / "queue.db", scenario) == []


# What only a queue several servers share has to get right: each event delivered by one of them.

SCOPE = "123456789012/us-east-1"


def _servers(url: str, *names: str) -> list[PostgresDatabase]:
    return [PostgresDatabase(url, server_id=name) for name in names]


def test_each_server_delivers_what_it_accepted_and_takes_over_a_stopped_ones(
    postgres: PostgresServer,
) -> None:
    url = postgres.new_database()

    async def main() -> None:
        one, two = _servers(url, "one", "two")
        await one.open()
        await two.open()
        first, second = PostgresEventQueue(one, SCOPE), PostgresEventQueue(two, SCOPE)
        await first.open()
        await second.open()
        await first.put(event("a", 1))
        await second.put(event("b", 2))
        assert await first.orphans() == [] and await second.orphans() == []
        # A restart of either finds its own events, not the other's (still alive).
        assert await first.pending() == [event("a", 1)]
        assert await second.pending() == [event("b", 2)]
        await one.close()  # stops: its event is the other's now, once (a second claim finds none)
        assert await second.orphans() == [event("a", 1)]
        assert await second.orphans() == []
        await second.remove("a")
        await second.remove("b")
        await two.close()

    asyncio.run(main())


def test_a_server_whose_beats_lapse_is_taken_over(postgres: PostgresServer) -> None:
    """Killed, it says nothing: its beats stop, and after LIVENESS_SECONDS its events move."""
    url = postgres.new_database()

    async def main() -> None:
        killed, alive = _servers(url, "killed", "alive")
        await killed.open()
        await alive.open()
        accepting, survivor = PostgresEventQueue(killed, SCOPE), PostgresEventQueue(alive, SCOPE)
        await accepting.open()
        await survivor.open()
        await accepting.put(event("x", 1))
        assert await survivor.orphans() == []
        async with alive.transaction() as connection:  # as if its last beat was long ago
            await connection.execute(
                "UPDATE lamina_servers SET alive_until = now() - interval '1 second' WHERE server_id = 'killed'"
            )
        assert await survivor.orphans() == [event("x", 1)]
        await killed.close()
        await alive.close()

    asyncio.run(main())


def test_servers_racing_to_claim_orphans_share_them_out_once(postgres: PostgresServer) -> None:
    url = postgres.new_database()

    async def main() -> None:
        gone, *claimers = _servers(url, "gone", *(f"c{index}" for index in range(4)))
        for database in (gone, *claimers):
            await database.open()
        queue = PostgresEventQueue(gone, SCOPE)
        await queue.open()
        for index in range(200):
            await queue.put(event(f"e{index:03}", index))
        await gone.close()
        claims = await asyncio.gather(*(PostgresEventQueue(db, SCOPE).orphans() for db in claimers))
        claimed = [item.event_id for claim in claims for item in claim]
        assert sorted(claimed) == [f"e{index:03}" for index in range(200)]
        for database in claimers:
            await database.close()

    asyncio.run(main())
