"""PostgreSQL implementation of EventQueue: accepted Event invocations, durable once `put` returns,
scoped per account and region, and shared by the servers on the database.

Each event is owned by the server that accepted it, and only its owner delivers it: an event is
run once however many servers share the queue. A server that stops (its beats in `lamina_servers`
lapse, database.py) leaves its events to the others: the first to claim one owns it from then on
(`orphans`). A server keeps its id across restarts, so after its own restart it finds its events
at once (`pending`), without waiting for its old beats to lapse."""

from __future__ import annotations

import json

from lamina.domain.async_events import QueuedEvent
from lamina.store.postgres.database import LIVE_SERVERS, SERVERS_MIGRATIONS, DatabaseUser, PostgresDatabase

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
    # The server delivering each event ('' for none: anyone alive may claim it).
    "ALTER TABLE async_events ADD COLUMN owner TEXT NOT NULL DEFAULT '';",
)


class PostgresEventQueue(DatabaseUser):
    def __init__(self, database: PostgresDatabase | str, scope: str) -> None:
        """`database`: a shared one (the server's to open and close), or a URL to own one."""
        super().__init__(database)
        self._scope = scope
        self._owner = self._database.server_id or ""

    async def open(self) -> None:
        await self._open_database("event-queue", _MIGRATIONS)
        await self._database.migrate("servers", SERVERS_MIGRATIONS)  # whose events are whose

    async def put(self, event: QueuedEvent) -> None:
        document = json.dumps(event.to_record(), separators=(",", ":"))
        async with self._database.transaction() as connection:
            await connection.execute(
                "INSERT INTO async_events (scope, event_id, enqueued_at_ms, record, owner) "
                "VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (scope, event_id) DO UPDATE SET record = excluded.record",
                (self._scope, event.event_id, event.enqueued_at_ms, document, self._owner),
            )

    async def remove(self, event_id: str) -> None:
        async with self._database.transaction() as connection:
            await connection.execute(
                "DELETE FROM async_events WHERE scope = %s AND event_id = %s", (self._scope, event_id)
            )

    async def pending(self) -> list[QueuedEvent]:
        """This server's events, and those of servers no longer alive (claimed now)."""
        return await self._claim(f"(owner = %(me)s OR owner NOT IN ({LIVE_SERVERS}))")

    async def orphans(self) -> list[QueuedEvent]:
        return await self._claim(f"owner <> %(me)s AND owner NOT IN ({LIVE_SERVERS})")

    async def _claim(self, which: str) -> list[QueuedEvent]:
        # Two servers claiming at once: the row lock makes the second see the first's claim (a
        # live owner now) when it re-checks the condition, so it claims nothing.
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                f"UPDATE async_events SET owner = %(me)s WHERE scope = %(scope)s AND {which} "
                "RETURNING enqueued_at_ms, event_id, record",
                {"me": self._owner, "scope": self._scope},
            )
            rows = sorted(await cursor.fetchall(), key=lambda row: (row[0], row[1].encode()))
            return [QueuedEvent.from_record(json.loads(row[2])) for row in rows]
