"""SQLite implementation of BucketStore: `buckets.db` in the data directory, one for every
account and region (bucket names are global, as on S3)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from lamina.domain.buckets.listing import prefix_end
from lamina.domain.buckets.records import BucketRecord, ObjectRecord, PartRecord, UploadRecord
from lamina.store.bucket_ports import FinishedUpload
from lamina.store.sqlite.database import SqliteDatabase

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE buckets (
        name TEXT PRIMARY KEY,
        record TEXT NOT NULL
    );
    CREATE TABLE objects (
        bucket TEXT NOT NULL REFERENCES buckets(name),
        key TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (bucket, key)
    );
    CREATE TABLE uploads (
        upload_id TEXT PRIMARY KEY,
        bucket TEXT NOT NULL REFERENCES buckets(name),
        key TEXT NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX uploads_by_bucket ON uploads(bucket, key);
    CREATE TABLE parts (
        upload_id TEXT NOT NULL REFERENCES uploads(upload_id),
        number INTEGER NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        modified REAL NOT NULL,
        data_id TEXT NOT NULL,
        PRIMARY KEY (upload_id, number)
    );
    """,
)


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))


def _part(row: tuple[Any, ...]) -> PartRecord:
    return PartRecord(str(row[0]), int(row[1]), int(row[2]), str(row[3]), float(row[4]), str(row[5]))


_PART_COLUMNS = "upload_id, number, size, etag, modified, data_id"


class SqliteBucketStore:
    def __init__(self, path: Path) -> None:
        self._database = SqliteDatabase(path, MIGRATIONS, "sqlite-buckets")

    async def open(self) -> None:
        await self._database.open()

    async def close(self) -> None:
        await self._database.close()

    # buckets
    async def create_bucket(self, bucket: BucketRecord) -> bool:
        def create(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "INSERT INTO buckets(name, record) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
                (bucket.name, _dump(bucket.to_record())),
            )
            return cursor.rowcount == 1

        return await self._database.atomic(create)

    async def get_bucket(self, name: str) -> BucketRecord | None:
        row = await self._database.atomic(
            lambda db: db.execute("SELECT record FROM buckets WHERE name = ?", (name,)).fetchone()
        )
        return BucketRecord.from_record(json.loads(row[0])) if row is not None else None

    async def list_buckets(self) -> list[BucketRecord]:
        rows = await self._database.atomic(
            lambda db: db.execute("SELECT record FROM buckets ORDER BY name").fetchall()
        )
        return [BucketRecord.from_record(json.loads(row[0])) for row in rows]

    async def update_bucket(self, bucket: BucketRecord) -> bool:
        def update(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "UPDATE buckets SET record = ? WHERE name = ?", (_dump(bucket.to_record()), bucket.name)
            )
            return cursor.rowcount == 1

        return await self._database.atomic(update)

    async def delete_bucket(self, name: str) -> bool:
        def delete(db: sqlite3.Connection) -> bool:
            if not _is_empty(db, name):
                return False
            return db.execute("DELETE FROM buckets WHERE name = ?", (name,)).rowcount == 1

        return await self._database.atomic(delete)

    async def is_empty(self, name: str) -> bool:
        return await self._database.atomic(lambda db: _is_empty(db, name))

    # objects
    async def put_object(self, record: ObjectRecord) -> ObjectRecord | None:
        def put(db: sqlite3.Connection) -> ObjectRecord | None:
            replaced = _object(db, record.bucket, record.key)
            try:
                db.execute(
                    "INSERT INTO objects(bucket, key, record) VALUES (?, ?, ?) "
                    "ON CONFLICT(bucket, key) DO UPDATE SET record = excluded.record",
                    (record.bucket, record.key, _dump(record.to_record())),
                )
            except sqlite3.IntegrityError:
                raise KeyError(record.bucket) from None
            return replaced

        return await self._database.atomic(put)

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        return await self._database.atomic(lambda db: _object(db, bucket, key))

    async def delete_object(self, bucket: str, key: str) -> ObjectRecord | None:
        def delete(db: sqlite3.Connection) -> ObjectRecord | None:
            found = _object(db, bucket, key)
            if found is not None:
                db.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
            return found

        return await self._database.atomic(delete)

    async def list_objects(self, bucket: str, prefix: str, after: str, limit: int) -> list[ObjectRecord]:
        end = prefix_end(prefix)
        low = max(prefix, after)

        def select(db: sqlite3.Connection) -> list[tuple[str, str]]:
            sql = "SELECT key, record FROM objects WHERE bucket = ? AND key >= ? AND key > ?"
            args: list[Any] = [bucket, low, after]
            if end is not None:
                sql += " AND key < ?"
                args.append(end)
            sql += " ORDER BY key LIMIT ?"
            args.append(limit)
            return db.execute(sql, args).fetchall()

        rows = await self._database.atomic(select)
        return [ObjectRecord.from_record(bucket, key, json.loads(record)) for key, record in rows]

    # uploads
    async def create_upload(self, upload: UploadRecord) -> None:
        def create(db: sqlite3.Connection) -> None:
            try:
                db.execute(
                    "INSERT INTO uploads(upload_id, bucket, key, record) VALUES (?, ?, ?, ?)",
                    (upload.upload_id, upload.bucket, upload.key, _dump(upload.to_record())),
                )
            except sqlite3.IntegrityError:
                raise KeyError(upload.bucket) from None

        await self._database.atomic(create)

    async def get_upload(self, upload_id: str) -> UploadRecord | None:
        row = await self._database.atomic(
            lambda db: db.execute("SELECT record FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone()
        )
        return UploadRecord.from_record(upload_id, json.loads(row[0])) if row is not None else None

    async def list_uploads(self, bucket: str) -> list[UploadRecord]:
        rows = await self._database.atomic(
            lambda db: db.execute(
                "SELECT upload_id, record FROM uploads WHERE bucket = ? ORDER BY key, rowid", (bucket,)
            ).fetchall()
        )
        return [UploadRecord.from_record(upload_id, json.loads(record)) for upload_id, record in rows]

    async def put_part(self, part: PartRecord) -> PartRecord | None:
        def put(db: sqlite3.Connection) -> PartRecord | None:
            row = db.execute(
                f"SELECT {_PART_COLUMNS} FROM parts WHERE upload_id = ? AND number = ?",
                (part.upload_id, part.number),
            ).fetchone()
            try:
                db.execute(
                    f"INSERT INTO parts({_PART_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(upload_id, number) DO UPDATE SET size = excluded.size, "
                    "etag = excluded.etag, modified = excluded.modified, data_id = excluded.data_id",
                    (part.upload_id, part.number, part.size, part.etag, part.last_modified, part.data_id),
                )
            except sqlite3.IntegrityError:
                raise KeyError(part.upload_id) from None
            return _part(row) if row is not None else None

        return await self._database.atomic(put)

    async def list_parts(self, upload_id: str) -> list[PartRecord]:
        rows = await self._database.atomic(
            lambda db: db.execute(
                f"SELECT {_PART_COLUMNS} FROM parts WHERE upload_id = ? ORDER BY number", (upload_id,)
            ).fetchall()
        )
        return [_part(row) for row in rows]

    async def finish_upload(self, upload_id: str, record: ObjectRecord | None) -> FinishedUpload | None:
        def finish(db: sqlite3.Connection) -> FinishedUpload | None:
            if db.execute("SELECT 1 FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone() is None:
                return None
            parts = [
                _part(row)
                for row in db.execute(
                    f"SELECT {_PART_COLUMNS} FROM parts WHERE upload_id = ? ORDER BY number", (upload_id,)
                )
            ]
            db.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
            db.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
            replaced = None
            if record is not None:
                replaced = _object(db, record.bucket, record.key)
                db.execute(
                    "INSERT INTO objects(bucket, key, record) VALUES (?, ?, ?) "
                    "ON CONFLICT(bucket, key) DO UPDATE SET record = excluded.record",
                    (record.bucket, record.key, _dump(record.to_record())),
                )
            return FinishedUpload(parts, replaced)

        return await self._database.atomic(finish)


def _is_empty(db: sqlite3.Connection, name: str) -> bool:
    return (
        db.execute("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (name,)).fetchone() is None
        and db.execute("SELECT 1 FROM uploads WHERE bucket = ? LIMIT 1", (name,)).fetchone() is None
    )


def _object(db: sqlite3.Connection, bucket: str, key: str) -> ObjectRecord | None:
    row = db.execute("SELECT record FROM objects WHERE bucket = ? AND key = ?", (bucket, key)).fetchone()
    return ObjectRecord.from_record(bucket, key, json.loads(row[0])) if row is not None else None
