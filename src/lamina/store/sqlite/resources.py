"""SQLite implementation of ResourceStore: `resources.db` in the data directory, its own file and
thread; every call is one transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lamina.store.resource_ports import ResourceKey, Write
from lamina.store.sqlite.database import SqliteDatabase

MIGRATIONS: tuple[str, ...] = (
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


class SqliteResourceStore:
    def __init__(self, path: Path) -> None:
        self._database = SqliteDatabase(path, MIGRATIONS, "sqlite-resources")

    async def open(self) -> None:
        await self._database.open()

    async def close(self) -> None:
        await self._database.close()

    async def get(self, key: ResourceKey) -> dict[str, Any] | None:
        row = await self._database.atomic(
            lambda db: db.execute(
                "SELECT document FROM resources WHERE kind = ? AND account = ? AND region = ? AND name = ?",
                _key_values(key),
            ).fetchone()
        )
        return json.loads(row[0]) if row is not None else None

    async def list_in(
        self, kind: str, account: str, region: str, prefix: str = ""
    ) -> list[tuple[str, dict[str, Any]]]:
        # BLOB comparison keeps byte order whatever the text; the prefix bound avoids LIKE's escapes.
        rows = await self._database.atomic(
            lambda db: db.execute(
                "SELECT name, document FROM resources WHERE kind = ? AND account = ? AND region = ? "
                "AND substr(name, 1, ?) = ? ORDER BY CAST(name AS BLOB)",
                (kind, account, region, len(prefix), prefix),
            ).fetchall()
        )
        return [(name, json.loads(document)) for name, document in rows]

    async def list_kind(self, kind: str) -> list[tuple[ResourceKey, dict[str, Any]]]:
        rows = await self._database.atomic(
            lambda db: db.execute(
                "SELECT account, region, name, document FROM resources WHERE kind = ? "
                "ORDER BY account, region, CAST(name AS BLOB)",
                (kind,),
            ).fetchall()
        )
        return [
            (ResourceKey(kind, account, region, name), json.loads(document))
            for account, region, name, document in rows
        ]

    async def create(self, key: ResourceKey, document: dict[str, Any]) -> bool:
        return await self._database.atomic(
            lambda db: (
                db.execute(
                    "INSERT INTO resources(kind, account, region, name, document) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (*_key_values(key), _dump(document)),
                ).rowcount
                == 1
            )
        )

    async def apply(self, writes: Sequence[Write]) -> None:
        def apply(db: sqlite3.Connection) -> None:
            for write in writes:
                if write.document is None:
                    db.execute(
                        "DELETE FROM resources WHERE kind = ? AND account = ? AND region = ? AND name = ?",
                        _key_values(write.key),
                    )
                else:
                    db.execute(
                        "INSERT INTO resources(kind, account, region, name, document) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT DO UPDATE SET document = excluded.document",
                        (*_key_values(write.key), _dump(write.document)),
                    )

        await self._database.atomic(apply)
