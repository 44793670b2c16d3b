"""Metric alarms and their history in SQLite (`alarms.db` per account)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from lamina.store.sqlite.database import SqliteDatabase

_MIGRATIONS = (
    """
    CREATE TABLE alarms (
        name TEXT PRIMARY KEY,
        record TEXT NOT NULL
    );
    CREATE TABLE history (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        timestamp REAL NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX history_by_name ON history (name, timestamp);
    """,
)


class SqliteAlarmStore:
    def __init__(self, path: Path) -> None:
        self._database = SqliteDatabase(path, _MIGRATIONS, "lamina-alarms")

    async def open(self) -> None:
        await self._database.open()

    async def close(self) -> None:
        await self._database.close()

    async def load(self) -> list[dict[str, Any]]:
        def work(connection: sqlite3.Connection) -> list[dict[str, Any]]:
            return [
                json.loads(row[0]) for row in connection.execute("SELECT record FROM alarms ORDER BY name")
            ]

        return await self._database.run(work)

    async def put(self, name: str, record: dict[str, Any]) -> None:
        text = json.dumps(record)
        await self._database.run(
            lambda connection: connection.execute(
                "INSERT OR REPLACE INTO alarms (name, record) VALUES (?, ?)", (name, text)
            )
        )

    async def delete(self, names: list[str]) -> None:
        def work(connection: sqlite3.Connection) -> None:
            connection.executemany("DELETE FROM alarms WHERE name = ?", [(name,) for name in names])

        await self._database.run(work)

    async def add_history(self, name: str, timestamp: float, record: dict[str, Any]) -> None:
        text = json.dumps(record)
        await self._database.run(
            lambda connection: connection.execute(
                "INSERT INTO history (name, timestamp, record) VALUES (?, ?, ?)", (name, timestamp, text)
            )
        )

    async def history(self, name: str | None, start: float, end: float) -> list[dict[str, Any]]:
        """Newest first."""

        def work(connection: sqlite3.Connection) -> list[dict[str, Any]]:
            if name is None:
                rows = connection.execute(
                    "SELECT record FROM history WHERE timestamp >= ? AND timestamp < ? ORDER BY timestamp DESC, id DESC",
                    (start, end),
                )
            else:
                rows = connection.execute(
                    "SELECT record FROM history WHERE name = ? AND timestamp >= ? AND timestamp < ? "
                    "ORDER BY timestamp DESC, id DESC",
                    (name, start, end),
                )
            return [json.loads(row[0]) for row in rows]

        return await self._database.run(work)
