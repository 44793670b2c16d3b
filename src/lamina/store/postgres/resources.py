"""PostgreSQL implementation of ResourceStore: one table in the database several servers share;
every call is one transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from lamina.store.postgres.database import DatabaseUser, PostgresDatabase
from lamina.store.resource_ports import ResourceKey, Write

_MIGRATIONS = (
    """
    CREATE TABLE resources (
        kind TEXT NOT NULL,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        name TEXT NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (kind, account, region, name)
    );
    """,
)


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))


def _key_values(key: ResourceKey) -> tuple[str, str, str, str]:
    return key.kind, key.account, key.region, key.name


class PostgresResourceStore(DatabaseUser):
    def __init__(self, database: PostgresDatabase | str) -> None:
        super().__init__(database)

    async def open(self) -> None:
        await self._open_database("resources", _MIGRATIONS)

    async def get(self, key: ResourceKey) -> dict[str, Any] | None:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "SELECT document FROM resources WHERE kind = %s AND account = %s AND region = %s AND name = %s",
                _key_values(key),
            )
            row = await cursor.fetchone()
        return json.loads(row[0]) if row is not None else None

    async def list_in(
        self, kind: str, account: str, region: str, prefix: str = ""
    ) -> list[tuple[str, dict[str, Any]]]:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "SELECT name, document FROM resources WHERE kind = %s AND account = %s AND region = %s "
                'AND left(name, %s) = %s ORDER BY name COLLATE "C"',
                (kind, account, region, len(prefix), prefix),
            )
            rows = await cursor.fetchall()
        return [(name, json.loads(document)) for name, document in rows]

    async def list_kind(self, kind: str) -> list[tuple[ResourceKey, dict[str, Any]]]:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "SELECT account, region, name, document FROM resources WHERE kind = %s "
                'ORDER BY account, region, name COLLATE "C"',
                (kind,),
            )
            rows = await cursor.fetchall()
        return [
            (ResourceKey(kind, account, region, name), json.loads(document))
            for account, region, name, document in rows
        ]

    async def create(self, key: ResourceKey, document: dict[str, Any]) -> bool:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "INSERT INTO resources (kind, account, region, name, document) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (*_key_values(key), _dump(document)),
            )
            return cursor.rowcount == 1

    async def apply(self, writes: Sequence[Write]) -> None:
        async with self._database.transaction() as connection:
            for write in writes:
                if write.document is None:
                    await connection.execute(
                        "DELETE FROM resources WHERE kind = %s AND account = %s AND region = %s AND name = %s",
                        _key_values(write.key),
                    )
                else:
                    await connection.execute(
                        "INSERT INTO resources (kind, account, region, name, document) "
                        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (kind, account, region, name) "
                        "DO UPDATE SET document = excluded.document",
                        (*_key_values(write.key), _dump(write.document)),
                    )
