"""PostgreSQL implementation of ObjectDataStore: object bytes in the shared database, in rows of
exactly BLOCK bytes (the last shorter), so a range read starts at the row its offset falls in.

A run is written in one transaction: if the upload fails midway, no row of it stays. Reads take a
row at a time, so a large object never sits in memory here either.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable

from lamina.store.bucket_ports import StoredData
from lamina.store.postgres.database import DatabaseUser, PostgresDatabase

BLOCK = 1024 * 1024
_MIGRATIONS = (
    """
    CREATE TABLE s3_data (
        data_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        bytes BYTEA NOT NULL,
        PRIMARY KEY (data_id, seq)
    );
    """,
)


class PostgresObjectData(DatabaseUser):
    def __init__(self, database: PostgresDatabase | str) -> None:
        super().__init__(database)

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
                cursor = await connection.execute(
                    "SELECT bytes FROM s3_data WHERE data_id = %s AND seq = %s", (data_id, seq)
                )
                row = await cursor.fetchone()
            if row is None:
                if first:
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

    async def delete(self, data_ids: Iterable[str]) -> None:
        ids = list(data_ids)
        if not ids:
            return
        async with self._database.transaction() as connection:
            await connection.execute("DELETE FROM s3_data WHERE data_id = ANY(%s)", (ids,))

    async def data_ids(self) -> set[str]:
        async with self._database.transaction() as connection:
            cursor = await connection.execute("SELECT DISTINCT data_id FROM s3_data")
            rows = await cursor.fetchall()
        return {str(row[0]) for row in rows}
