"""IdentityStore conformance: SQLite and PostgreSQL keep IAM entities and their sealed secrets
alike; a secret is never stored in the clear."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from lamina.store.ports import IdentityRecord, IdentityStore
from lamina.store.postgres.identity import PostgresIdentityStore
from lamina.store.sqlite.identity import SqliteIdentityStore

T = TypeVar("T")
KEY = os.urandom(32)
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


class Adapter:
    def __init__(self, make: Callable[[], IdentityStore], raw_secrets: Callable[[], list[bytes]]) -> None:
        self.make = make
        self.raw_secrets = raw_secrets  # what the storage itself holds in the secret column


@pytest.fixture(params=["sqlite", "postgres"])
def adapter(request: pytest.FixtureRequest, tmp_path: Path) -> Adapter:
    if request.param == "sqlite":
        path = tmp_path / "identity.db"

        def sqlite_secrets() -> list[bytes]:
            with sqlite3.connect(path) as connection:
                return [bytes(row[0]) for row in connection.execute("SELECT secret FROM entities") if row[0]]

        return Adapter(lambda: SqliteIdentityStore(path, KEY), sqlite_secrets)
    url = request.getfixturevalue("postgres").new_database()

    def postgres_secrets() -> list[bytes]:
        with psycopg.connect(url) as connection:
            rows = connection.execute("SELECT secret FROM iam_entities WHERE secret IS NOT NULL").fetchall()
            return [bytes(row[0]) for row in rows]

    return Adapter(lambda: PostgresIdentityStore(url, KEY), postgres_secrets)


def _with(adapter: Adapter, scenario: Callable[[IdentityStore], Awaitable[T]]) -> T:
    async def main() -> T:
        store = adapter.make()
        await store.open()
        try:
            return await scenario(store)
        finally:
            await store.close()

    return asyncio.run(main())


def test_entities_in_the_order_first_written_with_their_secrets(adapter: Adapter) -> None:
    record: dict[str, Any] = {"UserName": "ada"}

    async def write(store: IdentityStore) -> None:
        await store.put("user", "111111111111", "ada", record)
        await store.put("access-key", "111111111111", "AKIA1", {"UserName": "ada"}, SECRET)
        await store.put("role", "222222222222", "r", {"RoleName": "r"})
        await store.put(
            "user", "111111111111", "ada", {"UserName": "ada", "Tags": []}
        )  # replaced, keeps place
        await store.put("access-key", "111111111111", "AKIA1", {"UserName": "ada", "Status": "Inactive"})
        await store.delete("role", "222222222222", "r")
        await store.delete("role", "222222222222", "r")

    _with(adapter, write)
    loaded = _with(adapter, lambda store: store.load())  # after a reopen
    assert loaded == [
        IdentityRecord("user", "111111111111", "ada", {"UserName": "ada", "Tags": []}),
        IdentityRecord(
            "access-key", "111111111111", "AKIA1", {"UserName": "ada", "Status": "Inactive"}, SECRET
        ),
    ]
    raw = adapter.raw_secrets()
    assert len(raw) == 1 and SECRET.encode() not in raw[0]  # sealed at rest
