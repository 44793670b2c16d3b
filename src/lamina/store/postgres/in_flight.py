"""PostgreSQL implementation of InFlightExchange: servers sharing a database tell each other how
many invocations each runs under every concurrency limit, so that a reservation of 10 means 10 in
flight on all of them together.

Each server keeps its counts in memory and checks them there (the invocation path makes no database
round trip); a few times a second it writes the counts that changed and reads the sums of the other
live servers, which its checks then add to its own. A server that stops counts for nothing once its
beats lapse (database.py), and its rows are removed.
"""

from __future__ import annotations

from collections.abc import Mapping

from lamina.store.postgres.database import LIVE_SERVERS, SERVERS_MIGRATIONS, DatabaseUser, PostgresDatabase

_MIGRATIONS = (
    """
    CREATE TABLE in_flight (
        server_id TEXT NOT NULL,
        key TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (server_id, key)
    );
    """,
)


class PostgresInFlight(DatabaseUser):
    def __init__(self, database: PostgresDatabase) -> None:
        """`database` has this server's id (it beats while open)."""
        super().__init__(database)
        if database.server_id is None:
            raise ValueError("exchanging counts needs the server's id")
        self._me = database.server_id
        self._published: dict[str, int] = {}

    async def open(self) -> None:
        await self._open_database("in-flight", _MIGRATIONS)
        await self._database.migrate("servers", SERVERS_MIGRATIONS)
        async with self._database.transaction() as connection:  # counts of this server's last run
            await connection.execute("DELETE FROM in_flight WHERE server_id = %s", (self._me,))

    async def exchange(self, here: Mapping[str, int]) -> dict[str, int]:
        changed = {key: n for key, n in here.items() if self._published.get(key, 0) != n}
        changed.update({key: 0 for key in self._published if key not in here})
        async with self._database.transaction() as connection:
            if changed:
                await connection.execute(
                    "INSERT INTO in_flight (server_id, key, n) SELECT %s, * FROM unnest(%s::text[], %s::int[]) "
                    "ON CONFLICT (server_id, key) DO UPDATE SET n = excluded.n",
                    (self._me, list(changed), list(changed.values())),
                )
                await connection.execute("DELETE FROM in_flight WHERE server_id = %s AND n = 0", (self._me,))
            await connection.execute(f"DELETE FROM in_flight WHERE server_id NOT IN ({LIVE_SERVERS})")
            cursor = await connection.execute(
                "SELECT key, sum(n) FROM in_flight WHERE server_id <> %s GROUP BY key HAVING sum(n) > 0",
                (self._me,),
            )
            elsewhere = {str(key): int(total) for key, total in await cursor.fetchall()}
        self._published = {key: n for key, n in here.items() if n}
        return elsewhere
