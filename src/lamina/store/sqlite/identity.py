"""SQLite implementation of IdentityStore: IAM entities as JSON records in their own database file,
secret access keys encrypted with AES-GCM (SigV4 needs the server to know them; the file alone
does not give them away)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lamina.store.ports import IdentityRecord
from lamina.store.sealing import SecretSealer
from lamina.store.sqlite.database import SqliteDatabase

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE entities (
        kind TEXT NOT NULL,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        record TEXT NOT NULL,
        secret BLOB,
        PRIMARY KEY (kind, account, name)
    );
    """,
)


class SqliteIdentityStore:
    def __init__(self, path: Path, key: bytes) -> None:
        self._database = SqliteDatabase(path, MIGRATIONS, "sqlite-identity")
        self._sealer = SecretSealer(key)

    async def open(self) -> None:
        await self._database.open()

    async def close(self) -> None:
        await self._database.close()

    async def put(
        self, kind: str, account: str, name: str, record: dict[str, Any], secret: str | None = None
    ) -> None:
        sealed = self._sealer.seal(secret, f"{kind}/{account}/{name}")
        document = json.dumps(record, separators=(",", ":"))
        await self._database.run(
            lambda db: db.execute(
                "INSERT INTO entities(kind, account, name, record, secret) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(kind, account, name) DO UPDATE SET record = excluded.record, "
                "secret = COALESCE(excluded.secret, entities.secret)",
                (kind, account, name, document, sealed),
            )
        )

    async def delete(self, kind: str, account: str, name: str) -> None:
        await self._database.run(
            lambda db: db.execute(
                "DELETE FROM entities WHERE kind = ? AND account = ? AND name = ?", (kind, account, name)
            )
        )

    async def load(self) -> list[IdentityRecord]:
        rows = await self._database.run(
            lambda db: db.execute(
                "SELECT kind, account, name, record, secret FROM entities ORDER BY rowid"
            ).fetchall()
        )
        return [
            IdentityRecord(
                kind,
                account,
                name,
                json.loads(record),
                self._sealer.open(secret, f"{kind}/{account}/{name}"),
            )
            for kind, account, name, record, secret in rows
        ]
