"""Which adapter each store of a server gets: SQLite files in the data directory (the embedded
default), or one PostgreSQL database (`lamina server --metadata postgresql://...`) that several
servers can share. Logs and code blobs stay files in the data directory either way."""

from __future__ import annotations

from pathlib import Path

from lamina.config import Settings
from lamina.store.ports import AlarmStore, BillingStore, EventQueue, IdentityStore, MetadataStore, MetricStore


class StoreChoice:
    """Builds the stores of the server and of each account and region, from `settings`."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.database = None
        if settings.metadata_url is not None:
            from lamina.store.postgres.database import PostgresDatabase

            self.database = PostgresDatabase(settings.metadata_url)

    @property
    def description(self) -> str:
        return "postgresql" if self.database is not None else "sqlite"

    async def open(self) -> None:
        """Before any store opens (the shared database's pool). A database that cannot be reached
        stops the server with one line saying so."""
        if self.database is not None:
            from psycopg_pool import PoolTimeout

            try:
                await self.database.open()
            except PoolTimeout:
                raise SystemExit(
                    "lamina: cannot connect to the --metadata database (is PostgreSQL running there, "
                    "and may this user connect?)"
                ) from None

    async def close(self) -> None:
        """After every store has closed."""
        if self.database is not None:
            await self.database.close()

    def identity(self, key: bytes) -> IdentityStore:
        if self.database is not None:
            from lamina.store.postgres.identity import PostgresIdentityStore

            return PostgresIdentityStore(self.database, key)
        from lamina.store.sqlite.identity import SqliteIdentityStore

        return SqliteIdentityStore(self._settings.identity_path, key)

    def metadata(self, account_id: str, region: str, path: Path) -> MetadataStore:
        if self.database is not None:
            from lamina.store.postgres.metadata import PostgresMetadataStore

            return PostgresMetadataStore(self.database, _scope(account_id, region))
        from lamina.store.sqlite import SqliteMetadataStore

        return SqliteMetadataStore(path)

    def event_queue(self, account_id: str, region: str, path: Path) -> EventQueue:
        if self.database is not None:
            from lamina.store.postgres.event_queue import PostgresEventQueue

            return PostgresEventQueue(self.database, _scope(account_id, region))
        from lamina.store.sqlite.event_queue import SqliteEventQueue

        return SqliteEventQueue(path)

    def metrics(self, account_id: str, region: str) -> MetricStore:
        if self.database is not None:
            from lamina.store.postgres.metrics import PostgresMetricStore

            return PostgresMetricStore(self.database, _scope(account_id, region))
        from lamina.store.sqlite.metrics import SqliteMetricStore

        return SqliteMetricStore(self._settings.metrics_path(account_id, region))

    def alarms(self, account_id: str, region: str) -> AlarmStore:
        if self.database is not None:
            from lamina.store.postgres.alarms import PostgresAlarmStore

            return PostgresAlarmStore(self.database, _scope(account_id, region))
        from lamina.store.sqlite.alarms import SqliteAlarmStore

        return SqliteAlarmStore(self._settings.alarms_path(account_id, region))

    def billing(self, account_id: str, region: str) -> BillingStore:
        if self.database is not None:
            from lamina.store.postgres.billing import PostgresBillingStore

            return PostgresBillingStore(self.database, _scope(account_id, region))
        from lamina.store.sqlite.billing import SqliteBillingStore

        return SqliteBillingStore(self._settings.billing_path(account_id, region))


def _scope(account_id: str, region: str) -> str:
    return f"{account_id}/{region}"
