"""Which adapter each store of a server gets: SQLite files in the data directory (the embedded
default), or one PostgreSQL database (`lamina server --metadata postgresql://...`) that several
servers share: their state, logs, code blobs, keys and root credentials."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from lamina.auth.secrets_store import (
    RootCredentials,
    generate_root_credentials,
    keep_root_credentials,
    load_or_create_key,
    load_root_credentials,
    root_credentials_document,
    root_credentials_from_document,
)
from lamina.config import Settings
from lamina.store.blobs import FilesystemBlobStore
from lamina.store.bucket_ports import BucketStore, ObjectDataStore
from lamina.store.logs import FileLogStore
from lamina.store.ports import (
    AlarmStore,
    BillingStore,
    BlobStore,
    EventQueue,
    IdentityStore,
    InFlightExchange,
    MetadataStore,
    MetricStore,
    RecordingStore,
    ServerLogStore,
)
from lamina.store.queue_ports import QueueStore
from lamina.store.resource_ports import ResourceStore

T = TypeVar("T")
SERVER_ID_FILE = "server-id"
_UNREACHABLE = "lamina: cannot connect to the --metadata database (is PostgreSQL running there, and may this user connect?)"


class StoreChoice:
    """Builds the stores of the server and of each account and region, from `settings`."""

    def __init__(self, settings: Settings, *, serving: bool = True) -> None:
        """`serving`: the server process itself (not a worker of --workers), which owns what it
        accepts in a shared database under the data directory's server id."""
        self._settings = settings
        self._blobs: BlobStore | None = None
        self._log_pool: Any = None  # the shared database's connections for log stores, once one opens
        self.database = None
        if settings.metadata_url is not None:
            from lamina.store.postgres.database import PostgresDatabase

            server_id = _server_id(settings.data_dir) if serving else None
            self.database = PostgresDatabase(settings.metadata_url, server_id=server_id)

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
                raise SystemExit(_UNREACHABLE) from None

    async def close(self) -> None:
        """After every store has closed."""
        if self._blobs is not None:
            self._blobs.close()
        if self._log_pool is not None:
            self._log_pool.close()
        if self.database is not None:
            await self.database.close()

    async def regions_with_state(self, account_id: str) -> list[str]:
        """The regions an account has state in: on disk, and (shared) those any server opened."""
        regions = set(self._settings.regions_with_state(account_id))
        if self.database is not None:
            from lamina.store.postgres.metadata import regions_of

            regions.update(await regions_of(self.database, account_id))
        return sorted(regions)

    def logs(self, account_id: str, region: str, folder: Path, changed: Callable[[], None]) -> ServerLogStore:
        """An account's log store in a region: files in `folder`, or the shared database's tables
        (`changed()`: this server changed a group or stream there, which the others must hear)."""
        if self.database is None:
            return FileLogStore(folder)
        from lamina.store.postgres.logs import PostgresLogStore, log_pool

        if self._log_pool is None:
            url = str(self._settings.metadata_url)
            self._log_pool = self._reaching(lambda: log_pool(url))
        return PostgresLogStore(self._log_pool, _scope(account_id, region), changed)

    def in_flight_exchange(self) -> InFlightExchange | None:
        """For the server process on a shared database: its counts against every concurrency
        limit, exchanged with the other servers there. None alone (nobody to exchange with)."""
        if self.database is None or self.database.server_id is None:
            return None
        from lamina.store.postgres.in_flight import PostgresInFlight

        return PostgresInFlight(self.database)

    def key(self, name: str) -> bytes:
        """The server's key `name` (code, credentials, code-url): the database's when shared."""
        if self._settings.metadata_url is None:
            return load_or_create_key(self._settings.secrets_dir, name)
        return self._shared(f"{name}.key", lambda: secrets.token_bytes(32))[0]

    def root_credentials(self) -> RootCredentials:
        """Configured credentials win; then the stored pair (the database's when shared, copied to
        the data directory for the CLI), or a new pair stored now."""
        settings = self._settings
        if settings.metadata_url is None or (settings.root_access_key_id and settings.root_secret_access_key):
            return load_root_credentials(
                settings.secrets_dir, settings.root_access_key_id, settings.root_secret_access_key
            )
        document, made = self._shared(
            "root-credentials", lambda: root_credentials_document(generate_root_credentials())
        )
        credentials = root_credentials_from_document(document, generated=made)
        keep_root_credentials(settings.secrets_dir, credentials)
        return credentials

    def blobs(self, key: bytes) -> BlobStore:
        """The code blob store (one a server), closed with the other stores."""
        if self._settings.code_store_url is not None:
            from lamina.store.blobs.cached import CachedBlobStore
            from lamina.store.blobs.s3 import S3BlobStore

            url = self._settings.code_store_url
            self._blobs = CachedBlobStore(
                S3BlobStore(url, key), FilesystemBlobStore(self._settings.blobs_dir, key)
            )
            return self._blobs
        if self._settings.metadata_url is not None:
            from lamina.store.postgres.blobs import PostgresBlobStore

            url = str(self._settings.metadata_url)
            self._blobs = self._reaching(lambda: PostgresBlobStore(url, key))
        else:
            self._blobs = FilesystemBlobStore(self._settings.blobs_dir, key)
        return self._blobs

    def buckets(self) -> tuple[BucketStore, ObjectDataStore]:
        """The embedded S3's records and object bytes: `buckets.db` and `objects/` in the data
        directory, or the shared database's tables."""
        if self.database is not None:
            from lamina.store.postgres.buckets import PostgresBucketStore
            from lamina.store.postgres.object_data import PostgresObjectData

            return PostgresBucketStore(self.database), PostgresObjectData(self.database)
        from lamina.store.objects import FilesystemObjectData
        from lamina.store.sqlite.buckets import SqliteBucketStore

        data_dir = self._settings.data_dir
        return SqliteBucketStore(data_dir / "buckets.db"), FilesystemObjectData(data_dir / "objects")

    def queues(self) -> QueueStore:
        """The embedded SQS's queues and messages: `queues.db` in the data directory, or the shared
        database's tables."""
        if self.database is not None:
            from lamina.store.postgres.queues import PostgresQueueStore

            return PostgresQueueStore(self.database)
        from lamina.store.sqlite.queues import SqliteQueueStore

        return SqliteQueueStore(self._settings.data_dir / "queues.db")

    @property
    def server_id(self) -> str:
        """This server's id among those sharing state: stable across restarts of one data directory."""
        return _server_id(self._settings.data_dir)

    def resources(self) -> ResourceStore:
        """The event services' definitions (EventBridge, Scheduler, SNS, SES): `resources.db` in the
        data directory, or the shared database's table."""
        if self.database is not None:
            from lamina.store.postgres.resources import PostgresResourceStore

            return PostgresResourceStore(self.database)
        from lamina.store.sqlite.resources import SqliteResourceStore

        return SqliteResourceStore(self._settings.data_dir / "resources.db")

    def _shared(self, name: str, make: Callable[[], bytes]) -> tuple[bytes, bool]:
        from lamina.store.postgres.shared_secrets import shared_secret

        return self._reaching(lambda: shared_secret(str(self._settings.metadata_url), name, make))

    @staticmethod
    def _reaching(connect: Callable[[], T]) -> T:
        """`connect()`, the database unreachable said in one line (as `open` does)."""
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            return connect()
        except (psycopg.OperationalError, PoolTimeout):
            raise SystemExit(_UNREACHABLE) from None

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

    def recordings(self, account_id: str, region: str) -> RecordingStore:
        """Recorded invocations: a file of this server's data directory also on a shared database
        (docs/compatibility.md), sealed under the server's recordings key."""
        from lamina.store.sqlite.recordings import SqliteRecordingStore

        return SqliteRecordingStore(
            self._settings.recordings_path(account_id, region), self.key("recordings")
        )

    def billing(self, account_id: str, region: str) -> BillingStore:
        if self.database is not None:
            from lamina.store.postgres.billing import PostgresBillingStore

            return PostgresBillingStore(self.database, _scope(account_id, region))
        from lamina.store.sqlite.billing import SqliteBillingStore

        return SqliteBillingStore(self._settings.billing_path(account_id, region))


def _server_id(data_dir: Path) -> str:
    """This server's id among those sharing a database: made once, kept in its data directory."""
    path = data_dir / SERVER_ID_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        server_id = secrets.token_hex(8)
        path.write_text(server_id + "\n")
        return server_id


def _scope(account_id: str, region: str) -> str:
    return f"{account_id}/{region}"
