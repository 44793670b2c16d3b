"""PostgreSQL implementation of ObjectDataStore: object bytes in the shared database, in rows of
exactly BLOCK bytes (the last shorter), so a range read starts at the row its offset falls in.

A run is written in one transaction: if the upload fails midway, no row of it stays. Reads take a
row at a time, each in its own short transaction, so a large object never sits in memory here
and a slow reader holds no connection. So that a read begun before a `delete` still completes (the
port's promise, which files keep by their open handle), a deleted run is only marked freed, and
its rows go `grace_seconds` later: a download slower than that racing a delete ends early.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable

from lamina.store.bucket_ports import StoredData
from lamina.store.postgres.database import DatabaseUser, PostgresDatabase

BLOCK = 1024 * 1024
GRACE_SECONDS = 900
_NOT_FREED = " AND NOT EXISTS (SELECT 1 FROM s3_data_freed f WHERE f.data_id = s3_data.data_id)"
_MIGRATIONS = (
    """
    CREATE TABLE s3_data (
        data_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        bytes BYTEA NOT NULL,
        PRIMARY KEY (data_id, seq)
    );
    CREATE TABLE s3_data_freed (
        data_id TEXT PRIMARY KEY,
        freed_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    """,
)


class PostgresObjectData(DatabaseUser):
    def __init__(self, database: PostgresDatabase | str, *, grace_seconds: float = GRACE_SECONDS) -> None:
        super().__init__(database)
        self._grace_seconds = grace_seconds

    async def open(self) -> None:
        await self._open_database("object-data", _MIGRATIONS)

    async def write(self, chunks: AsyncIterator[bytes]) -> StoredData:
        data_id = uuid.uuid4().hex
        size = 0
        seq = 0
        pending = bytearray()
        async with self._database.transaction() as connection:
            async for chunk in chunks:
                pending += chunk
                size += len(chunk)
                while len(pending) >= BLOCK:
                    await connection.execute(
                        "INSERT INTO s3_data (data_id, seq, bytes) VALUES (%s, %s, %s)",
                        (data_id, seq, bytes(pending[:BLOCK])),
                    )
                    del pending[:BLOCK]
                    seq += 1
            if pending or seq == 0:
                await connection.execute(
                    "INSERT INTO s3_data (data_id, seq, bytes) VALUES (%s, %s, %s)",
                    (data_id, seq, bytes(pending)),
                )
        return StoredData(data_id, size)

    async def read(self, data_id: str, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        seq = start // BLOCK
        skip = start - seq * BLOCK
        remaining = length
        first = True
        while remaining is None or remaining > 0:
            async with self._database.transaction() as connection:
                # A read starts only on a run not freed; once started, it finishes within the grace.
                cursor = await connection.execute(
                    "SELECT bytes FROM s3_data WHERE data_id = %s AND seq = %s"
                    + (_NOT_FREED if first else ""),
                    (data_id, seq),
                )
                row = await cursor.fetchone()
            if row is None:
                if first and not await self._exists(data_id):
                    raise KeyError(data_id)
                return
            first = False
            block = bytes(row[0])[skip:]
            skip = 0
            if remaining is not None:
                block = block[:remaining]
                remaining -= len(block)
            if not block:
                return
            yield block
            seq += 1

    async def _exists(self, data_id: str) -> bool:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "SELECT 1 FROM s3_data WHERE data_id = %s AND seq = 0" + _NOT_FREED, (data_id,)
            )
            return await cursor.fetchone() is not None

    async def delete(self, data_ids: Iterable[str]) -> None:
        """Mark runs freed; rows freed longer than the grace ago go now."""
        ids = list(data_ids)
        async with self._database.transaction() as connection:
            if ids:
                await connection.execute(
                    "INSERT INTO s3_data_freed (data_id) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
                    (ids,),
                )
            cursor = await connection.execute(
                "DELETE FROM s3_data_freed WHERE freed_at <= now() - make_interval(secs => %s) RETURNING data_id",
                (self._grace_seconds,),
            )
            expired = [str(row[0]) for row in await cursor.fetchall()]
            if expired:
                await connection.execute("DELETE FROM s3_data WHERE data_id = ANY(%s)", (expired,))

    async def data_ids(self) -> set[str]:
        """Stored runs not freed."""
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "SELECT DISTINCT data_id FROM s3_data WHERE data_id NOT IN (SELECT data_id FROM s3_data_freed)"
            )
            rows = await cursor.fetchall()
        return {str(row[0]) for row in rows}
