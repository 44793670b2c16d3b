"""Metric alarms and their history in PostgreSQL: the AlarmStore port (records as JSON text, as the
SQLite store keeps them: a threshold may be infinite, which JSONB cannot hold)."""

from __future__ import annotations

import json
from typing import Any

from lamina.store.postgres.database import DatabaseUser, PostgresDatabase

_MIGRATIONS = (
    """
    CREATE TABLE alarms (
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (scope, name)
    );
    CREATE TABLE alarm_history (
        id BIGSERIAL PRIMARY KEY,
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        timestamp DOUBLE PRECISION NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX alarm_history_by_time ON alarm_history (scope, timestamp);
    """,
)


class PostgresAlarmStore(DatabaseUser):
    def __init__(self, database: PostgresDatabase | str, scope: str) -> None:
        """`database`: a shared one (the server's to open and close), or a URL to own one; `scope`:
        the account and region whose data this is (e.g. "123456789012/us-east-1")."""
        super().__init__(database)
        self._scope = scope

    async def open(self) -> None:
        await self._open_database("alarms", _MIGRATIONS)

    async def load(self) -> list[dict[str, Any]]:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "SELECT record FROM alarms WHERE scope = %s ORDER BY name", (self._scope,)
            )
            return [json.loads(row[0]) for row in await cursor.fetchall()]

    async def put(self, name: str, record: dict[str, Any]) -> None:
        async with self._database.transaction() as connection:
            await connection.execute(
                "INSERT INTO alarms (scope, name, record) VALUES (%s, %s, %s) "
                "ON CONFLICT (scope, name) DO UPDATE SET record = excluded.record",
                (self._scope, name, json.dumps(record)),
            )

    async def delete(self, names: list[str]) -> None:
        async with self._database.transaction() as connection:
            await connection.execute(
                "DELETE FROM alarms WHERE scope = %s AND name = ANY(%s)", (self._scope, list(names))
            )

    async def add_history(self, name: str, timestamp: float, record: dict[str, Any]) -> None:
        async with self._database.transaction() as connection:
            await connection.execute(
                "INSERT INTO alarm_history (scope, name, timestamp, record) VALUES (%s, %s, %s, %s)",
                (self._scope, name, timestamp, json.dumps(record)),
            )

    async def history(self, name: str | None, start: float, end: float) -> list[dict[str, Any]]:
        """Newest first."""
        query = "SELECT record FROM alarm_history WHERE scope = %s AND timestamp >= %s AND timestamp < %s"
        values: list[Any] = [self._scope, start, end]
        if name is not None:
            query += " AND name = %s"
            values.append(name)
        async with self._database.transaction() as connection:
            cursor = await connection.execute(query + " ORDER BY timestamp DESC, id DESC", values)
            return [json.loads(row[0]) for row in await cursor.fetchall()]
