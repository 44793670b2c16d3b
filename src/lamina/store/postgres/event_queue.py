"""PostgreSQL implementation of EventQueue: accepted Event invocations, durable once `put` returns,
scoped per account and region. (Which server delivers a shared queue's events is the scale-out's
to decide; this keeps them.)"""

from __future__ import annotations

import json

from lamina.domain.async_events import QueuedEvent
from lamina.store.postgres.database import DatabaseUser, PostgresDatabase

_MIGRATIONS = (
    """
    CREATE TABLE async_events (
        scope TEXT NOT NULL,
        event_id TEXT NOT NULL,
        enqueued_at_ms BIGINT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (scope, event_id)
    );
    """,
)


class PostgresEventQueue(DatabaseUser):
    def __init__(self, database: PostgresDatabase | str, scope: str) -> None:
        """`database`: a shared one (the server's to open and close), or a URL to own one."""
        super().__init__(database)
        self._scope = scope

    async def open(self) -> None:
        await self._open_database("event-queue", _MIGRATIONS)

    async def put(self, event: QueuedEvent) -> None:
        document = json.dumps(event.to_record(), separators=(",", ":"))
        async with self._database.transaction() as connection:
            await connection.execute(
                "INSERT INTO async_events (scope, event_id, enqueued_at_ms, record) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (scope, event_id) DO UPDATE SET record = excluded.record",
                (self._scope, event.event_id, event.enqueued_at_ms, document),
            )

    async def remove(self, event_id: str) -> None:
        async with self._database.transaction() as connection:
            await connection.execute(
                "DELETE FROM async_events WHERE scope = %s AND event_id = %s", (self._scope, event_id)
            )

    async def pending(self) -> list[QueuedEvent]:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                'SELECT record FROM async_events WHERE scope = %s ORDER BY enqueued_at_ms, event_id COLLATE "C"',
                (self._scope,),
            )
            return [QueuedEvent.from_record(json.loads(row[0])) for row in await cursor.fetchall()]
