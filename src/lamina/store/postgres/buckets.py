"""PostgreSQL implementation of BucketStore: buckets, objects, uploads and parts in the database
several servers share. Keys use the "C" collation, so they sort by their UTF-8 bytes as on S3.

Replacing an object (or a part) reads the record it replaces in the same transaction, under a
per-key advisory lock: two servers writing one key at once each free exactly what they replaced.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg import AsyncConnection

from lamina.domain.buckets.listing import prefix_end
from lamina.domain.buckets.records import BucketRecord, ObjectRecord, PartRecord, UploadRecord
from lamina.store.bucket_ports import FinishedUpload
from lamina.store.postgres.database import DatabaseUser, PostgresDatabase

_MIGRATIONS = (
    """
    CREATE TABLE s3_buckets (
        name TEXT COLLATE "C" PRIMARY KEY,
        record TEXT NOT NULL
    );
    CREATE TABLE s3_objects (
        bucket TEXT COLLATE "C" NOT NULL REFERENCES s3_buckets(name),
        key TEXT COLLATE "C" NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (bucket, key)
    );
    CREATE TABLE s3_uploads (
        upload_id TEXT PRIMARY KEY,
        bucket TEXT COLLATE "C" NOT NULL REFERENCES s3_buckets(name),
        key TEXT COLLATE "C" NOT NULL,
        made BIGSERIAL,
        record TEXT NOT NULL
    );
    CREATE INDEX s3_uploads_by_bucket ON s3_uploads(bucket, key, made);
    CREATE TABLE s3_parts (
        upload_id TEXT NOT NULL REFERENCES s3_uploads(upload_id),
        number INTEGER NOT NULL,
        size BIGINT NOT NULL,
        etag TEXT NOT NULL,
        modified DOUBLE PRECISION NOT NULL,
        data_id TEXT NOT NULL,
        PRIMARY KEY (upload_id, number)
    );
    """,
)
_PART_COLUMNS = "upload_id, number, size, etag, modified, data_id"


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))


def _part(row: Any) -> PartRecord:
    return PartRecord(str(row[0]), int(row[1]), int(row[2]), str(row[3]), float(row[4]), str(row[5]))


async def _lock_key(connection: AsyncConnection[Any], bucket: str, key: str) -> None:
    await connection.execute(
        "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"s3:{len(bucket)}:{bucket}/{key}",)
    )


async def _object(connection: AsyncConnection[Any], bucket: str, key: str) -> ObjectRecord | None:
    cursor = await connection.execute(
        "SELECT record FROM s3_objects WHERE bucket = %s AND key = %s", (bucket, key)
    )
    row = await cursor.fetchone()
    return ObjectRecord.from_record(bucket, key, json.loads(row[0])) if row is not None else None


async def _upsert_object(connection: AsyncConnection[Any], record: ObjectRecord) -> None:
    await connection.execute(
        "INSERT INTO s3_objects (bucket, key, record) VALUES (%s, %s, %s) "
        "ON CONFLICT (bucket, key) DO UPDATE SET record = excluded.record",
        (record.bucket, record.key, _dump(record.to_record())),
    )


class PostgresBucketStore(DatabaseUser):
    def __init__(self, database: PostgresDatabase | str) -> None:
        super().__init__(database)

    async def open(self) -> None:
        await self._open_database("buckets", _MIGRATIONS)

    # buckets
    async def create_bucket(self, bucket: BucketRecord) -> bool:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "INSERT INTO s3_buckets (name, record) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                (bucket.name, _dump(bucket.to_record())),
            )
            return cursor.rowcount == 1

    async def get_bucket(self, name: str) -> BucketRecord | None:
        async with self._database.transaction() as connection:
            cursor = await connection.execute("SELECT record FROM s3_buckets WHERE name = %s", (name,))
            row = await cursor.fetchone()
        return BucketRecord.from_record(json.loads(row[0])) if row is not None else None

    async def list_buckets(self) -> list[BucketRecord]:
        async with self._database.transaction() as connection:
            cursor = await connection.execute("SELECT record FROM s3_buckets ORDER BY name")
            rows = await cursor.fetchall()
        return [BucketRecord.from_record(json.loads(row[0])) for row in rows]

    async def update_bucket(self, bucket: BucketRecord) -> bool:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "UPDATE s3_buckets SET record = %s WHERE name = %s", (_dump(bucket.to_record()), bucket.name)
            )
            return cursor.rowcount == 1

    async def delete_bucket(self, name: str) -> bool:
        async with self._database.transaction() as connection:
            await connection.execute("SELECT 1 FROM s3_buckets WHERE name = %s FOR UPDATE", (name,))
            if not await self._empty(connection, name):
                return False
            cursor = await connection.execute("DELETE FROM s3_buckets WHERE name = %s", (name,))
            return cursor.rowcount == 1

    async def is_empty(self, name: str) -> bool:
        async with self._database.transaction() as connection:
            return await self._empty(connection, name)

    @staticmethod
    async def _empty(connection: AsyncConnection[Any], name: str) -> bool:
        cursor = await connection.execute(
            "SELECT EXISTS (SELECT 1 FROM s3_objects WHERE bucket = %s) "
            "OR EXISTS (SELECT 1 FROM s3_uploads WHERE bucket = %s)",
            (name, name),
        )
        row = await cursor.fetchone()
        return row is not None and not row[0]

    # objects
    async def put_object(self, record: ObjectRecord) -> ObjectRecord | None:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "SELECT 1 FROM s3_buckets WHERE name = %s FOR SHARE", (record.bucket,)
            )
            if await cursor.fetchone() is None:
                raise KeyError(record.bucket)
            await _lock_key(connection, record.bucket, record.key)
            replaced = await _object(connection, record.bucket, record.key)
            await _upsert_object(connection, record)
            return replaced

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        async with self._database.transaction() as connection:
            return await _object(connection, bucket, key)

    async def delete_object(self, bucket: str, key: str) -> ObjectRecord | None:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "DELETE FROM s3_objects WHERE bucket = %s AND key = %s RETURNING record", (bucket, key)
            )
            row = await cursor.fetchone()
        return ObjectRecord.from_record(bucket, key, json.loads(row[0])) if row is not None else None

    async def list_objects(self, bucket: str, prefix: str, after: str, limit: int) -> list[ObjectRecord]:
        end = prefix_end(prefix)
        sql = "SELECT key, record FROM s3_objects WHERE bucket = %s AND key >= %s AND key > %s"
        args: list[Any] = [bucket, max(prefix, after), after]
        if end is not None:
            sql += " AND key < %s"
            args.append(end)
        sql += " ORDER BY key LIMIT %s"
        args.append(limit)
        async with self._database.transaction() as connection:
            cursor = await connection.execute(sql, args)
            rows = await cursor.fetchall()
        return [ObjectRecord.from_record(bucket, key, json.loads(record)) for key, record in rows]

    # uploads
    async def create_upload(self, upload: UploadRecord) -> None:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "SELECT 1 FROM s3_buckets WHERE name = %s FOR SHARE", (upload.bucket,)
            )
            if await cursor.fetchone() is None:
                raise KeyError(upload.bucket)
            await connection.execute(
                "INSERT INTO s3_uploads (upload_id, bucket, key, record) VALUES (%s, %s, %s, %s)",
                (upload.upload_id, upload.bucket, upload.key, _dump(upload.to_record())),
            )

    async def get_upload(self, upload_id: str) -> UploadRecord | None:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "SELECT record FROM s3_uploads WHERE upload_id = %s", (upload_id,)
            )
            row = await cursor.fetchone()
        return UploadRecord.from_record(upload_id, json.loads(row[0])) if row is not None else None

    async def list_uploads(self, bucket: str) -> list[UploadRecord]:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "SELECT upload_id, record FROM s3_uploads WHERE bucket = %s ORDER BY key, made", (bucket,)
            )
            rows = await cursor.fetchall()
        return [UploadRecord.from_record(upload_id, json.loads(record)) for upload_id, record in rows]

    async def put_part(self, part: PartRecord) -> PartRecord | None:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "SELECT 1 FROM s3_uploads WHERE upload_id = %s FOR SHARE", (part.upload_id,)
            )
            if await cursor.fetchone() is None:
                raise KeyError(part.upload_id)
            await _lock_key(connection, part.upload_id, str(part.number))
            cursor = await connection.execute(
                f"SELECT {_PART_COLUMNS} FROM s3_parts WHERE upload_id = %s AND number = %s",
                (part.upload_id, part.number),
            )
            row = await cursor.fetchone()
            await connection.execute(
                f"INSERT INTO s3_parts ({_PART_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (upload_id, number) DO UPDATE SET size = excluded.size, "
                "etag = excluded.etag, modified = excluded.modified, data_id = excluded.data_id",
                (part.upload_id, part.number, part.size, part.etag, part.last_modified, part.data_id),
            )
            return _part(row) if row is not None else None

    async def list_parts(self, upload_id: str) -> list[PartRecord]:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                f"SELECT {_PART_COLUMNS} FROM s3_parts WHERE upload_id = %s ORDER BY number", (upload_id,)
            )
            rows = await cursor.fetchall()
        return [_part(row) for row in rows]

    async def finish_upload(self, upload_id: str, record: ObjectRecord | None) -> FinishedUpload | None:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "SELECT 1 FROM s3_uploads WHERE upload_id = %s FOR UPDATE", (upload_id,)
            )
            if await cursor.fetchone() is None:
                return None
            cursor = await connection.execute(
                f"DELETE FROM s3_parts WHERE upload_id = %s RETURNING {_PART_COLUMNS}", (upload_id,)
            )
            parts = sorted((_part(row) for row in await cursor.fetchall()), key=lambda part: part.number)
            await connection.execute("DELETE FROM s3_uploads WHERE upload_id = %s", (upload_id,))
            replaced = None
            if record is not None:
                await _lock_key(connection, record.bucket, record.key)
                replaced = await _object(connection, record.bucket, record.key)
                await _upsert_object(connection, record)
            return FinishedUpload(parts, replaced)
