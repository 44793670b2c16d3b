"""One PostgreSQL database shared by every store of every Lamina server that names it.

Each store keeps its tables under its own name, with a `scope` column (the account and region it
belongs to, as each SQLite store is a file per account and region) so that several servers, and
all the accounts of each, share one database. Migrations are numbered per store and applied once,
under an advisory lock, whichever server starts first (psycopg 3, a pool of async connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

_LEDGER = """
CREATE TABLE IF NOT EXISTS lamina_migrations (
    store TEXT PRIMARY KEY,
    version INTEGER NOT NULL
)
"""

_log = logging.getLogger(__name__)
# A server sharing the database says it is alive this often; one silent for LIVENESS_SECONDS is
# taken for stopped, and what it owned (queued async events) goes to the servers still alive.
BEAT_SECONDS = 2.0
LIVENESS_SECONDS = 6.0
SERVERS_MIGRATIONS = (
    """
    CREATE TABLE lamina_servers (
        server_id TEXT PRIMARY KEY,
        alive_until TIMESTAMPTZ NOT NULL
    );
    """,
)
# Servers that said they are alive recently enough: a query's subselect.
LIVE_SERVERS = "SELECT server_id FROM lamina_servers WHERE alive_until > now()"


class PostgresDatabase:
    """A pool of connections to one database; stores share it. `open()` before use.

    `server_id`: the server this is (the same across its restarts), which then beats in
    `lamina_servers` while open; stores record what it owns under that id."""

    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 8, server_id: str | None = None
    ) -> None:
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            url, min_size=min_size, max_size=max_size, open=False, kwargs={"autocommit": False}
        )
        self.server_id = server_id
        self._beating: asyncio.Task[None] | None = None

    async def open(self) -> None:
        await self._pool.open(wait=True, timeout=10)
        if self.server_id is not None:
            await self.migrate("servers", SERVERS_MIGRATIONS)
            await self._beat()
            self._beating = asyncio.get_running_loop().create_task(self._beat_forever())

    async def _beat(self) -> None:
        async with self.transaction() as connection:
            await connection.execute(
                "INSERT INTO lamina_servers (server_id, alive_until) "
                "VALUES (%s, now() + make_interval(secs => %s)) "
                "ON CONFLICT (server_id) DO UPDATE SET alive_until = excluded.alive_until",
                (self.server_id, LIVENESS_SECONDS),
            )

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(BEAT_SECONDS)
            try:
                await self._beat()
            except Exception as error:  # the database away for a moment: beat again next time
                _log.warning("telling the database this server is alive failed: %s", error)

    async def leads(self) -> bool:
        """Whether this server is the one of those alive that does what only one should (the
        lowest id): another takes over within LIVENESS_SECONDS of its stopping."""
        async with self.transaction() as connection:
            cursor = await connection.execute(f"SELECT min(server_id) FROM ({LIVE_SERVERS}) AS live")
            row = await cursor.fetchone()
        return row is not None and row[0] == self.server_id

    async def close(self) -> None:
        """A server that stops says so: the others take over what it owned at once."""
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
            with contextlib.suppress(Exception):
                async with self.transaction() as connection:
                    await connection.execute(
                        "DELETE FROM lamina_servers WHERE server_id = %s", (self.server_id,)
                    )
        await self._pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection inside a transaction, committed when the block ends without an error."""
        async with self._pool.connection() as connection, connection.transaction():
            yield connection

    async def migrate(self, store: str, migrations: Sequence[str]) -> None:
        """Apply the store's migrations it has not had yet, in order, each once for the database."""
        async with self.transaction() as connection:
            await connection.execute("SELECT pg_advisory_xact_lock(%s)", (zlib.crc32(b"lamina-migrations"),))
            await connection.execute(_LEDGER)
            cursor = await connection.execute(
                "SELECT version FROM lamina_migrations WHERE store = %s", (store,)
            )
            row = await cursor.fetchone()
            applied = int(row[0]) if row is not None else 0
            for script in migrations[applied:]:
                await connection.execute(script)
            if len(migrations) > applied:
                await connection.execute(
                    "INSERT INTO lamina_migrations (store, version) VALUES (%s, %s) "
                    "ON CONFLICT (store) DO UPDATE SET version = excluded.version",
                    (store, len(migrations)),
                )


class DatabaseUser:
    """A store on a database: a shared one (the server opens and closes it) or, given a URL, one of
    its own (for tools and tests), opened and closed with the store."""

    def __init__(self, database: PostgresDatabase | str) -> None:
        self._owns = isinstance(database, str)
        self._database = PostgresDatabase(database) if isinstance(database, str) else database

    async def _open_database(self, store: str, migrations: Sequence[str]) -> None:
        if self._owns:
            await self._database.open()
        await self._database.migrate(store, migrations)

    async def close(self) -> None:
        if self._owns:
            await self._database.close()
