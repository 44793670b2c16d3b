"""Billed usage per month and function in SQLite (`billing.db` per account): requests and billed
MB-milliseconds (billed duration × configured memory), integers so that sums are exact."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lamina.store.sqlite.database import SqliteDatabase, migrate

_MIGRATIONS = (
    """
    CREATE TABLE usage (
        month TEXT NOT NULL,
        function TEXT NOT NULL,
        requests INTEGER NOT NULL,
        mb_ms INTEGER NOT NULL,
        PRIMARY KEY (month, function)
    );
    """,
)


@dataclass(frozen=True, slots=True)
class Usage:
    month: str  # YYYY-MM
    function: str
    requests: int
    mb_ms: int


class SqliteBillingStore:
    def __init__(self, path: Path) -> None:
        self._database = SqliteDatabase(path, _MIGRATIONS, "lamina-billing")

    async def open(self) -> None:
        await self._database.open()

    async def close(self) -> None:
        await self._database.close()

    async def add(self, usage: Mapping[tuple[str, str], tuple[int, int]]) -> None:
        """Add {(month, function): (requests, mb_ms)} to what is stored."""

        def work(connection: sqlite3.Connection) -> None:
            connection.executemany(
                "INSERT INTO usage (month, function, requests, mb_ms) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (month, function) DO UPDATE SET requests = requests + excluded.requests, "
                "mb_ms = mb_ms + excluded.mb_ms",
                [
                    (month, function, requests, mb_ms)
                    for (month, function), (requests, mb_ms) in usage.items()
                ],
            )

        await self._database.run(work)

    async def usage(self) -> dict[tuple[str, str], tuple[int, int]]:
        """{(month, function): (requests, mb_ms)}, as the PostgreSQL store answers it."""

        def work(connection: sqlite3.Connection) -> dict[tuple[str, str], tuple[int, int]]:
            rows = connection.execute("SELECT month, function, requests, mb_ms FROM usage").fetchall()
            return {(row[0], row[1]): (int(row[2]), int(row[3])) for row in rows}

        return await self._database.run(work)


def read_usage(path: Path, month: str | None = None, function: str | None = None) -> list[Usage]:
    """For the CLI: read the database directly (a server may be writing it meanwhile)."""
    if not path.exists():
        return []
    connection = sqlite3.connect(path)
    try:
        migrate(connection, _MIGRATIONS)
        clauses, values = [], []
        if month is not None:
            clauses.append("month = ?")
            values.append(month)
        if function is not None:
            clauses.append("function = ?")
            values.append(function)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = connection.execute(
            f"SELECT month, function, requests, mb_ms FROM usage {where} ORDER BY month, function",
            values,
        ).fetchall()
    finally:
        connection.close()
    return [Usage(str(row[0]), str(row[1]), int(row[2]), int(row[3])) for row in rows]
