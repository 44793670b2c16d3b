"""SQLite implementation of QueueStore: `queues.db` in the data directory, its own file (and
thread), so a burst of messages never waits behind other writes."""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from lamina.domain.queues.messages import Message
from lamina.store.queue_ports import QueueKey, QueueRecord, Received
from lamina.store.sqlite.database import SqliteDatabase

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE queues (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        name TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (account, region, name)
    );
    CREATE TABLE messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        message_id TEXT NOT NULL,
        visible_at INTEGER NOT NULL,
        sent_at INTEGER NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        group_id TEXT,
        dedup_id TEXT,
        record TEXT NOT NULL
    );
    CREATE INDEX messages_visible ON messages(queue, visible_at);
    CREATE INDEX messages_by_id ON messages(queue, message_id);
    CREATE INDEX messages_dedup ON messages(queue, dedup_id);
    CREATE TABLE deduplication (
        queue TEXT NOT NULL,
        dedup_id TEXT NOT NULL,
        sent_at INTEGER NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (queue, dedup_id)
    );
    """,
)


def _queue_id(key: QueueKey) -> str:
    return "/".join(key)


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))


class SqliteQueueStore:
    def __init__(self, path: Path) -> None:
        self._database = SqliteDatabase(path, MIGRATIONS, "sqlite-queues")

    async def open(self) -> None:
        await self._database.open()

    async def close(self) -> None:
        await self._database.close()

    async def create_queue(self, queue: QueueRecord) -> bool:
        def create(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "INSERT INTO queues(account, region, name, record) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (*queue.key, _dump(queue.to_record())),
            )
            return cursor.rowcount == 1

        return await self._database.atomic(create)

    async def get_queue(self, key: QueueKey) -> QueueRecord | None:
        row = await self._database.atomic(
            lambda db: db.execute(
                "SELECT record FROM queues WHERE account = ? AND region = ? AND name = ?", key
            ).fetchone()
        )
        return QueueRecord.from_record(*key, json.loads(row[0])) if row is not None else None

    async def list_queues(self, account_id: str, region: str) -> list[QueueRecord]:
        rows = await self._database.atomic(
            lambda db: db.execute(
                "SELECT name, record FROM queues WHERE account = ? AND region = ? ORDER BY name",
                (account_id, region),
            ).fetchall()
        )
        return [
            QueueRecord.from_record(account_id, region, name, json.loads(record)) for name, record in rows
        ]

    async def update_queue(self, queue: QueueRecord) -> bool:
        def update(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "UPDATE queues SET record = ? WHERE account = ? AND region = ? AND name = ?",
                (_dump(queue.to_record()), *queue.key),
            )
            return cursor.rowcount == 1

        return await self._database.atomic(update)

    async def delete_queue(self, key: QueueKey) -> bool:
        queue = _queue_id(key)

        def delete(db: sqlite3.Connection) -> bool:
            db.execute("DELETE FROM messages WHERE queue = ?", (queue,))
            db.execute("DELETE FROM deduplication WHERE queue = ?", (queue,))
            return (
                db.execute("DELETE FROM queues WHERE account = ? AND region = ? AND name = ?", key).rowcount
                == 1
            )

        return await self._database.atomic(delete)

    async def send(self, key: QueueKey, messages: list[Message], dedup_after_ms: int | None) -> list[Message]:
        queue = _queue_id(key)

        def send(db: sqlite3.Connection) -> list[Message]:
            if (
                db.execute(
                    "SELECT 1 FROM queues WHERE account = ? AND region = ? AND name = ?", key
                ).fetchone()
                is None
            ):
                raise KeyError(queue)
            stored = []
            if dedup_after_ms is not None:
                db.execute(
                    "DELETE FROM deduplication WHERE queue = ? AND sent_at < ?", (queue, dedup_after_ms)
                )
            for message in messages:
                if dedup_after_ms is not None and message.deduplication_id is not None:
                    earlier = db.execute(
                        "SELECT record FROM deduplication WHERE queue = ? AND dedup_id = ?",
                        (queue, message.deduplication_id),
                    ).fetchone()
                    if earlier is not None:
                        stored.append(Message.from_record(json.loads(earlier[0])))
                        continue
                cursor = db.execute(
                    "INSERT INTO messages(queue, message_id, visible_at, sent_at, group_id, dedup_id, "
                    "receive_count, record) VALUES (?, ?, ?, ?, ?, ?, ?, '')",
                    (
                        queue,
                        message.message_id,
                        message.visible_at,
                        message.sent_at,
                        message.group_id,
                        message.deduplication_id,
                        message.receive_count,
                    ),
                )
                numbered = (
                    replace(message, sequence_number=f"{cursor.lastrowid:020d}")
                    if message.group_id
                    else message
                )
                db.execute(
                    "UPDATE messages SET record = ? WHERE seq = ?",
                    (_dump(numbered.to_record()), cursor.lastrowid),
                )
                if dedup_after_ms is not None and message.deduplication_id is not None:
                    db.execute(
                        "INSERT INTO deduplication(queue, dedup_id, sent_at, record) VALUES (?, ?, ?, ?)",
                        (queue, message.deduplication_id, message.sent_at, _dump(numbered.to_record())),
                    )
                stored.append(numbered)
            return stored

        return await self._database.atomic(send)

    async def receive(
        self,
        key: QueueKey,
        now_ms: int,
        limit: int,
        visibility_ms: int,
        *,
        fifo: bool,
        max_receives: int | None,
        retention_ms: int,
    ) -> Received:
        queue = _queue_id(key)

        def receive(db: sqlite3.Connection) -> Received:
            db.execute("DELETE FROM messages WHERE queue = ? AND sent_at < ?", (queue, now_ms - retention_ms))
            sql = "SELECT seq, record FROM messages WHERE queue = ? AND visible_at <= ?"
            args: list[Any] = [queue, now_ms]
            if fifo:
                sql += (
                    " AND (group_id IS NULL OR group_id NOT IN (SELECT group_id FROM messages"
                    " WHERE queue = ? AND visible_at > ? AND receive_count > 0 AND group_id IS NOT NULL))"
                )
                args += [queue, now_ms]
            sql += " ORDER BY seq LIMIT ?"
            args.append(limit)
            taken: list[Message] = []
            dead: list[Message] = []
            for seq, record in db.execute(sql, args).fetchall():
                message = Message.from_record(json.loads(record))
                if max_receives is not None and message.receive_count >= max_receives:
                    db.execute("DELETE FROM messages WHERE seq = ?", (seq,))
                    dead.append(message)
                    continue
                received = replace(
                    message,
                    receive_count=message.receive_count + 1,
                    first_received_at=message.first_received_at or now_ms,
                    receipt=uuid.uuid4().hex,
                    visible_at=now_ms + visibility_ms,
                )
                db.execute(
                    "UPDATE messages SET visible_at = ?, receive_count = ?, record = ? WHERE seq = ?",
                    (received.visible_at, received.receive_count, _dump(received.to_record()), seq),
                )
                taken.append(received)
            return Received(taken, dead)

        return await self._database.atomic(receive)

    async def delete_message(self, key: QueueKey, message_id: str, receipt: str) -> bool:
        queue = _queue_id(key)

        def delete(db: sqlite3.Connection) -> bool:
            row = db.execute(
                "SELECT seq, record FROM messages WHERE queue = ? AND message_id = ?", (queue, message_id)
            ).fetchone()
            if row is None or json.loads(row[1]).get("receipt") != receipt:
                return False
            db.execute("DELETE FROM messages WHERE seq = ?", (row[0],))
            return True

        return await self._database.atomic(delete)

    async def delete_messages(self, key: QueueKey, receipts: list[tuple[str, str]]) -> None:
        queue = _queue_id(key)

        def delete(db: sqlite3.Connection) -> None:
            for message_id, receipt in receipts:
                row = db.execute(
                    "SELECT seq, record FROM messages WHERE queue = ? AND message_id = ?", (queue, message_id)
                ).fetchone()
                if row is not None and json.loads(row[1]).get("receipt") == receipt:
                    db.execute("DELETE FROM messages WHERE seq = ?", (row[0],))

        await self._database.atomic(delete)

    async def change_visibility(
        self, key: QueueKey, message_id: str, receipt: str, visible_at_ms: int, now_ms: int
    ) -> bool:
        queue = _queue_id(key)

        def change(db: sqlite3.Connection) -> bool:
            row = db.execute(
                "SELECT seq, record, visible_at FROM messages WHERE queue = ? AND message_id = ?",
                (queue, message_id),
            ).fetchone()
            if row is None:
                return False
            message = Message.from_record(json.loads(row[1]))
            if message.receipt != receipt or row[2] <= now_ms:
                return False
            changed = replace(message, visible_at=visible_at_ms)
            db.execute(
                "UPDATE messages SET visible_at = ?, record = ? WHERE seq = ?",
                (visible_at_ms, _dump(changed.to_record()), row[0]),
            )
            return True

        return await self._database.atomic(change)

    async def purge(self, key: QueueKey) -> None:
        queue = _queue_id(key)
        await self._database.atomic(lambda db: db.execute("DELETE FROM messages WHERE queue = ?", (queue,)))

    async def counts(self, key: QueueKey, now_ms: int) -> tuple[int, int, int]:
        queue = _queue_id(key)

        def count(db: sqlite3.Connection) -> tuple[int, int, int]:
            row = db.execute(
                "SELECT "
                "COALESCE(SUM(CASE WHEN visible_at <= ? THEN 1 ELSE 0 END), 0), "
                "COALESCE(SUM(CASE WHEN visible_at > ? AND receive_count > 0 THEN 1 ELSE 0 END), 0), "
                "COALESCE(SUM(CASE WHEN visible_at > ? AND receive_count = 0 THEN 1 ELSE 0 END), 0) "
                "FROM messages WHERE queue = ?",
                (now_ms, now_ms, now_ms, queue),
            ).fetchone()
            return int(row[0]), int(row[1]), int(row[2])

        return await self._database.atomic(count)
