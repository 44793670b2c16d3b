"""One PostgreSQL database shared by every store of every Lamina server that names it.

Each store keeps its tables under its own name, with a `scope` column (the account and region it
belongs to, as each SQLite store is a file per account and region) so that several servers, and
all the accounts of each, share one database. Migrations are numbered per store and applied once,
under an advisory lock, whichever server starts first (psycopg 3, a pool of async connections).
"""

from __future__ import annotations

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


class PostgresDatabase:
    """A pool of connections to one database; stores share it. `open()` before use."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 8) -> None:
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            url, min_size=min_size, max_size=max_size, open=False, kwargs={"autocommit": False}
        )

    async def open(self) -> None:
        await self._pool.open(wait=True, timeout=10)

    async def close(self) -> None:
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
