"""PostgreSQL implementation of QueueStore: queues and messages in the database several servers
share. A receive locks the rows it takes (`FOR UPDATE SKIP LOCKED`), so two servers receiving
from one queue at once never hand out the same message; sends of one FIFO queue take the queue's
row lock, so deduplication holds across servers."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from typing import Any

from psycopg import AsyncConnection

from lamina.domain.queues.messages import Message
from lamina.store.postgres.database import DatabaseUser, PostgresDatabase
from lamina.store.queue_ports import QueueKey, QueueRecord, Received

_MIGRATIONS = (
    """
    CREATE TABLE sqs_queues (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        name TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (account, region, name)
    );
    CREATE TABLE sqs_messages (
        seq BIGSERIAL PRIMARY KEY,
        queue TEXT NOT NULL,
        message_id TEXT NOT NULL,
        visible_at BIGINT NOT NULL,
        sent_at BIGINT NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        group_id TEXT,
        dedup_id TEXT,
        record TEXT NOT NULL
    );
    CREATE INDEX sqs_messages_visible ON sqs_messages(queue, visible_at);
    CREATE INDEX sqs_messages_by_id ON sqs_messages(queue, message_id);
    CREATE TABLE sqs_deduplication (
        queue TEXT NOT NULL,
        dedup_id TEXT NOT NULL,
        sent_at BIGINT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (queue, dedup_id)
    );
    """,
)


def _queue_id(key: QueueKey) -> str:
    return "/".join(key)


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))


async def _locked_queue(connection: AsyncConnection[Any], key: QueueKey) -> bool:
    cursor = await connection.execute(
        "SELECT 1 FROM sqs_queues WHERE account = %s AND region = %s AND name = %s FOR UPDATE", key
    )
    return await cursor.fetchone() is not None


class PostgresQueueStore(DatabaseUser):
    def __init__(self, database: PostgresDatabase | str) -> None:
        super().__init__(database)

    async def open(self) -> None:
        await self._open_database("queues", _MIGRATIONS)

    async def create_queue(self, queue: QueueRecord) -> bool:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "INSERT INTO sqs_queues (account, region, name, record) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (*queue.key, _dump(queue.to_record())),
            )
            return cursor.rowcount == 1

    async def get_queue(self, key: QueueKey) -> QueueRecord | None:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "SELECT record FROM sqs_queues WHERE account = %s AND region = %s AND name = %s", key
            )
            row = await cursor.fetchone()
        return QueueRecord.from_record(*key, json.loads(row[0])) if row is not None else None

    async def list_queues(self, account_id: str, region: str) -> list[QueueRecord]:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                'SELECT name, record FROM sqs_queues WHERE account = %s AND region = %s ORDER BY name COLLATE "C"',
                (account_id, region),
            )
            rows = await cursor.fetchall()
        return [
            QueueRecord.from_record(account_id, region, name, json.loads(record)) for name, record in rows
        ]

    async def update_queue(self, queue: QueueRecord) -> bool:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "UPDATE sqs_queues SET record = %s WHERE account = %s AND region = %s AND name = %s",
                (_dump(queue.to_record()), *queue.key),
            )
            return cursor.rowcount == 1

    async def delete_queue(self, key: QueueKey) -> bool:
        queue = _queue_id(key)
        async with self._database.transaction() as connection:
            await connection.execute("DELETE FROM sqs_messages WHERE queue = %s", (queue,))
            await connection.execute("DELETE FROM sqs_deduplication WHERE queue = %s", (queue,))
            cursor = await connection.execute(
                "DELETE FROM sqs_queues WHERE account = %s AND region = %s AND name = %s", key
            )
            return cursor.rowcount == 1

    async def send(self, key: QueueKey, messages: list[Message], dedup_after_ms: int | None) -> list[Message]:
        queue = _queue_id(key)
        stored: list[Message] = []
        async with self._database.transaction() as connection:
            if dedup_after_ms is not None:
                if not await _locked_queue(connection, key):
                    raise KeyError(queue)
                await connection.execute(
                    "DELETE FROM sqs_deduplication WHERE queue = %s AND sent_at < %s", (queue, dedup_after_ms)
                )
            else:
                cursor = await connection.execute(
                    "SELECT 1 FROM sqs_queues WHERE account = %s AND region = %s AND name = %s FOR SHARE", key
                )
                if await cursor.fetchone() is None:
                    raise KeyError(queue)
            for message in messages:
                if dedup_after_ms is not None and message.deduplication_id is not None:
                    cursor = await connection.execute(
                        "SELECT record FROM sqs_deduplication WHERE queue = %s AND dedup_id = %s",
                        (queue, message.deduplication_id),
                    )
                    earlier = await cursor.fetchone()
                    if earlier is not None:
                        stored.append(Message.from_record(json.loads(earlier[0])))
                        continue
                cursor = await connection.execute(
                    "INSERT INTO sqs_messages (queue, message_id, visible_at, sent_at, group_id, dedup_id, "
                    "receive_count, record) VALUES (%s, %s, %s, %s, %s, %s, %s, '') RETURNING seq",
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
                row = await cursor.fetchone()
                assert row is not None
                seq = int(row[0])
                numbered = replace(message, sequence_number=f"{seq:020d}") if message.group_id else message
                await connection.execute(
                    "UPDATE sqs_messages SET record = %s WHERE seq = %s", (_dump(numbered.to_record()), seq)
                )
                if dedup_after_ms is not None and message.deduplication_id is not None:
                    await connection.execute(
                        "INSERT INTO sqs_deduplication (queue, dedup_id, sent_at, record) VALUES (%s, %s, %s, %s)",
                        (queue, message.deduplication_id, message.sent_at, _dump(numbered.to_record())),
                    )
                stored.append(numbered)
        return stored

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
        taken: list[Message] = []
        dead: list[Message] = []
        async with self._database.transaction() as connection:
            await connection.execute(
                "DELETE FROM sqs_messages WHERE queue = %s AND sent_at < %s", (queue, now_ms - retention_ms)
            )
            if fifo:  # one receiver of a FIFO queue at a time: group order must hold across servers
                await _locked_queue(connection, key)
            sql = "SELECT seq, record FROM sqs_messages WHERE queue = %s AND visible_at <= %s"
            args: list[Any] = [queue, now_ms]
            if fifo:
                sql += (
                    " AND (group_id IS NULL OR group_id NOT IN (SELECT group_id FROM sqs_messages"
                    " WHERE queue = %s AND visible_at > %s AND receive_count > 0 AND group_id IS NOT NULL))"
                )
                args += [queue, now_ms]
            sql += " ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED"
            args.append(limit)
            cursor = await connection.execute(sql, args)
            for seq, record in await cursor.fetchall():
                message = Message.from_record(json.loads(record))
                if max_receives is not None and message.receive_count >= max_receives:
                    await connection.execute("DELETE FROM sqs_messages WHERE seq = %s", (seq,))
                    dead.append(message)
                    continue
                received = replace(
                    message,
                    receive_count=message.receive_count + 1,
                    first_received_at=message.first_received_at or now_ms,
                    receipt=uuid.uuid4().hex,
                    visible_at=now_ms + visibility_ms,
                )
                await connection.execute(
                    "UPDATE sqs_messages SET visible_at = %s, receive_count = %s, record = %s WHERE seq = %s",
                    (received.visible_at, received.receive_count, _dump(received.to_record()), seq),
                )
                taken.append(received)
        return Received(taken, dead)

    async def delete_message(self, key: QueueKey, message_id: str, receipt: str) -> bool:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "SELECT seq, record FROM sqs_messages WHERE queue = %s AND message_id = %s FOR UPDATE",
                (_queue_id(key), message_id),
            )
            row = await cursor.fetchone()
            if row is None or json.loads(row[1]).get("receipt") != receipt:
                return False
            await connection.execute("DELETE FROM sqs_messages WHERE seq = %s", (row[0],))
            return True

    async def delete_messages(self, key: QueueKey, receipts: list[tuple[str, str]]) -> None:
        queue = _queue_id(key)
        async with self._database.transaction() as connection:
            for message_id, receipt in receipts:
                cursor = await connection.execute(
                    "SELECT seq, record FROM sqs_messages WHERE queue = %s AND message_id = %s FOR UPDATE",
                    (queue, message_id),
                )
                row = await cursor.fetchone()
                if row is not None and json.loads(row[1]).get("receipt") == receipt:
                    await connection.execute("DELETE FROM sqs_messages WHERE seq = %s", (row[0],))

    async def change_visibility(
        self, key: QueueKey, message_id: str, receipt: str, visible_at_ms: int, now_ms: int
    ) -> bool:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "SELECT seq, record, visible_at FROM sqs_messages WHERE queue = %s AND message_id = %s FOR UPDATE",
                (_queue_id(key), message_id),
            )
            row = await cursor.fetchone()
            if row is None:
                return False
            message = Message.from_record(json.loads(row[1]))
            if message.receipt != receipt or int(row[2]) <= now_ms:
                return False
            changed = replace(message, visible_at=visible_at_ms)
            await connection.execute(
                "UPDATE sqs_messages SET visible_at = %s, record = %s WHERE seq = %s",
                (visible_at_ms, _dump(changed.to_record()), row[0]),
            )
            return True

    async def purge(self, key: QueueKey) -> None:
        async with self._database.transaction() as connection:
            await connection.execute("DELETE FROM sqs_messages WHERE queue = %s", (_queue_id(key),))

    async def counts(self, key: QueueKey, now_ms: int) -> tuple[int, int, int]:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "SELECT "
                "COALESCE(SUM(CASE WHEN visible_at <= %(now)s THEN 1 ELSE 0 END), 0), "
                "COALESCE(SUM(CASE WHEN visible_at > %(now)s AND receive_count > 0 THEN 1 ELSE 0 END), 0), "
                "COALESCE(SUM(CASE WHEN visible_at > %(now)s AND receive_count = 0 THEN 1 ELSE 0 END), 0) "
                "FROM sqs_messages WHERE queue = %(queue)s",
                {"now": now_ms, "queue": _queue_id(key)},
            )
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])
