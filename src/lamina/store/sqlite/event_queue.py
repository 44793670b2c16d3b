"""SQLite implementation of EventQueue: its own database file, so that a burst of Event
invocations never waits behind metadata writes (and the reverse)."""

from __future__ import annotations

import json
from pathlib import Path

from lamina.domain.async_events import QueuedEvent
from lamina.store.sqlite.database import SqliteDatabase

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE events (
        event_id TEXT PRIMARY KEY,
        enqueued_at_ms INTEGER NOT NULL,
        record TEXT NOT NULL
    );
    """,
)


class SqliteEventQueue:
    def __init__(self, path: Path) -> None:
        self._database = SqliteDatabase(path, MIGRATIONS, "sqlite-queue")

    async def open(self) -> None:
        await self._database.open()

    async def close(self) -> None:
        await self._database.close()

    async def put(self, event: QueuedEvent) -> None:
        document = json.dumps(event.to_record(), separators=(",", ":"))
        await self._database.run(
            lambda db: db.execute(
                "INSERT INTO events(event_id, enqueued_at_ms, record) VALUES (?, ?, ?) "
                "ON CONFLICT(event_id) DO UPDATE SET record = excluded.record",
                (event.event_id, event.enqueued_at_ms, document),
            )
        )

    async def remove(self, event_id: str) -> None:
        await self._database.run(lambda db: db.execute("DELETE FROM events WHERE event_id = ?", (event_id,)))

    async def pending(self) -> list[QueuedEvent]:
        rows = await self._database.run(
            lambda db: db.execute("SELECT record FROM events ORDER BY enqueued_at_ms, event_id").fetchall()
        )
        return [QueuedEvent.from_record(json.loads(row[0])) for row in rows]

    async def orphans(self) -> list[QueuedEvent]:
        """One server owns this file: nobody else's events to take over."""
        return []
