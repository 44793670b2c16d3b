"""Recorded invocations in SQLite (`recordings.db` per account-region): one row per invocation,
its event sealed with AES-GCM under the server's recordings key and bound to the function and
request id (a copied row cannot pass for another), as code is encrypted at rest."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lamina.domain.recordings import RecordedInvocation
from lamina.store.sqlite.database import SqliteDatabase

_NONCE_BYTES = 12
_MIGRATIONS = (
    """
    CREATE TABLE recordings (
        function TEXT NOT NULL,
        request_id TEXT NOT NULL,
        at REAL NOT NULL,
        version TEXT NOT NULL,
        status TEXT NOT NULL,
        duration_ms REAL NOT NULL,
        size INTEGER NOT NULL,
        sealed BLOB NOT NULL,
        PRIMARY KEY (function, request_id)
    );
    CREATE INDEX recordings_by_time ON recordings (function, at);
    """,
)


class SqliteRecordingStore:
    def __init__(self, path: Path, key: bytes) -> None:
        self._database = SqliteDatabase(path, _MIGRATIONS, "lamina-recordings")
        self._cipher = AESGCM(key)

    async def open(self) -> None:
        await self._database.open()

    async def close(self) -> None:
        await self._database.close()

    def _seal(self, item: RecordedInvocation) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        bound = f"{item.function}/{item.request_id}".encode()
        return nonce + self._cipher.encrypt(nonce, item.payload, bound)

    def _open(self, function: str, request_id: str, sealed: bytes) -> bytes:
        bound = f"{function}/{request_id}".encode()
        return self._cipher.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], bound)

    async def add(self, recorded: Sequence[RecordedInvocation]) -> None:
        rows = [
            (
                item.function,
                item.request_id,
                item.at,
                item.version,
                item.status,
                item.duration_ms,
                len(item.payload),
                self._seal(item),
            )
            for item in recorded
        ]

        def work(connection: sqlite3.Connection) -> None:
            connection.executemany("INSERT OR REPLACE INTO recordings VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

        await self._database.run(work)

    async def recent(self, function: str, limit: int) -> list[RecordedInvocation]:
        def work(connection: sqlite3.Connection) -> list[tuple[str, float, str, str, float, int]]:
            return connection.execute(
                "SELECT request_id, at, version, status, duration_ms, size FROM recordings "
                "WHERE function = ? ORDER BY at DESC LIMIT ?",
                (function, limit),
            ).fetchall()

        return [
            RecordedInvocation(function, request_id, at, version, status, duration, b"", size)
            for request_id, at, version, status, duration, size in await self._database.run(work)
        ]

    async def get(self, function: str, request_id: str) -> RecordedInvocation | None:
        def work(connection: sqlite3.Connection) -> tuple[float, str, str, float, int, bytes] | None:
            found: tuple[float, str, str, float, int, bytes] | None = connection.execute(
                "SELECT at, version, status, duration_ms, size, sealed FROM recordings "
                "WHERE function = ? AND request_id = ?",
                (function, request_id),
            ).fetchone()
            return found

        row = await self._database.run(work)
        if row is None:
            return None
        at, version, status, duration, size, sealed = row
        payload = self._open(function, request_id, bytes(sealed))
        return RecordedInvocation(function, request_id, at, version, status, duration, payload, size)

    async def prune(self, function: str, before: float, max_bytes: int) -> None:
        def work(connection: sqlite3.Connection) -> None:
            connection.execute("DELETE FROM recordings WHERE function = ? AND at < ?", (function, before))
            rows = connection.execute(
                "SELECT request_id, size FROM recordings WHERE function = ? ORDER BY at DESC", (function,)
            ).fetchall()
            kept, dropped = 0, []
            for request_id, size in rows:
                kept += size
                if kept > max_bytes:
                    dropped.append((function, request_id))
            connection.executemany("DELETE FROM recordings WHERE function = ? AND request_id = ?", dropped)

        await self._database.run(work)

    async def forget(self, function: str) -> None:
        def work(connection: sqlite3.Connection) -> None:
            connection.execute("DELETE FROM recordings WHERE function = ?", (function,))

        await self._database.run(work)

    async def functions(self) -> list[str]:
        def work(connection: sqlite3.Connection) -> list[str]:
            return [row[0] for row in connection.execute("SELECT DISTINCT function FROM recordings")]

        return await self._database.run(work)
