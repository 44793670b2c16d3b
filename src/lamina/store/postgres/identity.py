"""PostgreSQL implementation of IdentityStore: IAM entities as JSON records, secret access keys
sealed with AES-GCM under the server's key, as the SQLite store seals them (the database alone does
not give them away). IAM is global, so there is no scope: every server sharing the database sees
every account's entities."""

from __future__ import annotations

import json
from typing import Any

from lamina.store.ports import IdentityRecord
from lamina.store.postgres.database import DatabaseUser, PostgresDatabase
from lamina.store.sealing import SecretSealer

_MIGRATIONS = (
    """
    CREATE TABLE iam_entities (
        seq BIGSERIAL,
        kind TEXT NOT NULL,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        record TEXT NOT NULL,
        secret BYTEA,
        PRIMARY KEY (kind, account, name)
    );
    """,
)


class PostgresIdentityStore(DatabaseUser):
    def __init__(self, database: PostgresDatabase | str, key: bytes) -> None:
        """`database`: a shared one (the server's to open and close), or a URL to own one; `key`:
        the AES-GCM key secrets are sealed with (every server sharing the database needs it)."""
        super().__init__(database)
        self._sealer = SecretSealer(key)

    async def open(self) -> None:
        await self._open_database("identity", _MIGRATIONS)

    async def put(
        self, kind: str, account: str, name: str, record: dict[str, Any], secret: str | None = None
    ) -> None:
        sealed = self._sealer.seal(secret, f"{kind}/{account}/{name}")
        async with self._database.transaction() as connection:
            await connection.execute(
                "INSERT INTO iam_entities (kind, account, name, record, secret) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (kind, account, name) DO UPDATE SET record = excluded.record, "
                "secret = COALESCE(excluded.secret, iam_entities.secret)",
                (kind, account, name, json.dumps(record, separators=(",", ":")), sealed),
            )

    async def delete(self, kind: str, account: str, name: str) -> None:
        async with self._database.transaction() as connection:
            await connection.execute(
                "DELETE FROM iam_entities WHERE kind = %s AND account = %s AND name = %s",
                (kind, account, name),
            )

    async def load(self) -> list[IdentityRecord]:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "SELECT kind, account, name, record, secret FROM iam_entities ORDER BY seq"
            )
            rows = await cursor.fetchall()
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
