"""Billed usage per month and function in PostgreSQL: the BillingStore port, as the SQLite store
keeps it (requests and billed MB-milliseconds, integers so that sums are exact)."""

from __future__ import annotations

from collections.abc import Mapping

from lamina.store.postgres.database import DatabaseUser, PostgresDatabase

_MIGRATIONS = (
    """
    CREATE TABLE billing_usage (
        scope TEXT NOT NULL,
        month TEXT NOT NULL,
        function TEXT NOT NULL,
        requests BIGINT NOT NULL,
        mb_ms BIGINT NOT NULL,
        PRIMARY KEY (scope, month, function)
    );
    """,
)


class PostgresBillingStore(DatabaseUser):
    def __init__(self, database: PostgresDatabase | str, scope: str) -> None:
        """`database`: a shared one (the server's to open and close), or a URL to own one; `scope`:
        the account and region whose data this is (e.g. "123456789012/us-east-1")."""
        super().__init__(database)
        self._scope = scope

    async def open(self) -> None:
        await self._open_database("billing", _MIGRATIONS)

    async def add(self, usage: Mapping[tuple[str, str], tuple[int, int]]) -> None:
        """Add {(month, function): (requests, mb_ms)} to what is stored."""
        if not usage:
            return
        async with self._database.transaction() as connection, connection.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO billing_usage (scope, month, function, requests, mb_ms) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (scope, month, function) DO UPDATE SET "
                "requests = billing_usage.requests + excluded.requests, "
                "mb_ms = billing_usage.mb_ms + excluded.mb_ms",
                [
                    (self._scope, month, function, requests, mb_ms)
                    for (month, function), (requests, mb_ms) in sorted(usage.items())
                ],
            )

    async def usage(self) -> dict[tuple[str, str], tuple[int, int]]:
        """{(month, function): (requests, mb_ms)} of this scope."""
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "SELECT month, function, requests, mb_ms FROM billing_usage WHERE scope = %s", (self._scope,)
            )
            return {(row[0], row[1]): (int(row[2]), int(row[3])) for row in await cursor.fetchall()}
