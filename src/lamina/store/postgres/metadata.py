"""PostgreSQL implementation of MetadataStore: the same records as the SQLite store (JSON text of
the domain's records), each row scoped to its account and region, so several servers share one
database. Orders use the "C" collation, as SQLite compares text: the same lists in the same order
whatever the database's locale."""

from __future__ import annotations

import json
from typing import Any

from psycopg import AsyncConnection

from lamina.domain.aliases import Alias
from lamina.domain.async_events import EventInvokeConfig
from lamina.domain.event_sources import EventSourceMapping
from lamina.domain.function_urls import FunctionUrlConfig
from lamina.domain.functions import FunctionConfig
from lamina.domain.layers import LayerVersion
from lamina.store.metadata_tables import FUNCTION_TABLES, PER_QUALIFIER_TABLES
from lamina.store.ports import ProvisionedConcurrencyConfig
from lamina.store.postgres.database import DatabaseUser, PostgresDatabase

_MIGRATIONS = (
    """
    CREATE TABLE functions (
        scope TEXT NOT NULL, name TEXT NOT NULL, config TEXT NOT NULL,
        PRIMARY KEY (scope, name)
    );
    CREATE TABLE function_versions (
        scope TEXT NOT NULL, name TEXT NOT NULL, version BIGINT NOT NULL, config TEXT NOT NULL,
        PRIMARY KEY (scope, name, version)
    );
    CREATE TABLE provisioned_concurrency (
        scope TEXT NOT NULL, name TEXT NOT NULL, qualifier TEXT NOT NULL,
        requested INTEGER NOT NULL, last_modified TEXT NOT NULL,
        PRIMARY KEY (scope, name, qualifier)
    );
    CREATE TABLE aliases (
        scope TEXT NOT NULL, name TEXT NOT NULL, alias TEXT NOT NULL, record TEXT NOT NULL,
        PRIMARY KEY (scope, name, alias)
    );
    CREATE TABLE reserved_concurrency (
        scope TEXT NOT NULL, name TEXT NOT NULL, reserved INTEGER NOT NULL,
        PRIMARY KEY (scope, name)
    );
    CREATE TABLE resource_policies (
        scope TEXT NOT NULL, name TEXT NOT NULL, qualifier TEXT NOT NULL, document TEXT NOT NULL,
        PRIMARY KEY (scope, name, qualifier)
    );
    CREATE TABLE function_tags (
        scope TEXT NOT NULL, name TEXT NOT NULL, tags TEXT NOT NULL,
        PRIMARY KEY (scope, name)
    );
    CREATE TABLE event_invoke_configs (
        scope TEXT NOT NULL, name TEXT NOT NULL, qualifier TEXT NOT NULL, record TEXT NOT NULL,
        PRIMARY KEY (scope, name, qualifier)
    );
    CREATE TABLE recursion_configs (
        scope TEXT NOT NULL, name TEXT NOT NULL, recursive_loop TEXT NOT NULL,
        PRIMARY KEY (scope, name)
    );
    CREATE TABLE function_urls (
        scope TEXT NOT NULL, url_id TEXT NOT NULL, name TEXT NOT NULL, qualifier TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (scope, url_id),
        UNIQUE (scope, name, qualifier)
    );
    CREATE TABLE layer_names (
        scope TEXT NOT NULL, name TEXT NOT NULL, last_version BIGINT NOT NULL,
        PRIMARY KEY (scope, name)
    );
    CREATE TABLE layer_versions (
        scope TEXT NOT NULL, name TEXT NOT NULL, version BIGINT NOT NULL, record TEXT NOT NULL,
        policy TEXT,
        PRIMARY KEY (scope, name, version)
    );
    """,
    # Every scope a server opened: servers sharing the database open them all (see `regions_of`).
    """
    CREATE TABLE metadata_scopes (scope TEXT PRIMARY KEY);
    INSERT INTO metadata_scopes (scope)
        SELECT scope FROM functions UNION SELECT scope FROM layer_names ON CONFLICT DO NOTHING;
    """,
    """
    CREATE TABLE event_source_mappings (
        scope TEXT NOT NULL, uuid TEXT NOT NULL, record TEXT NOT NULL,
        PRIMARY KEY (scope, uuid)
    );
    """,
)


async def regions_of(database: PostgresDatabase, account_id: str) -> list[str]:
    """The regions in which any server opened the account's Lambda (as the data directory's
    region folders say for one server)."""
    await database.migrate("metadata", _MIGRATIONS)  # a new database: before any store opened
    async with database.transaction() as connection:
        cursor = await connection.execute(
            "SELECT scope FROM metadata_scopes WHERE starts_with(scope, %s)", (f"{account_id}/",)
        )
        return sorted(str(row[0]).split("/", 1)[1] for row in await cursor.fetchall())


def _compact(record: object) -> str:
    return json.dumps(record, separators=(",", ":"))


class PostgresMetadataStore(DatabaseUser):
    def __init__(self, database: PostgresDatabase | str, scope: str) -> None:
        """`database`: a shared one (the server's to open and close), or a URL to own one;
        `scope`: the account and region this store's rows belong to."""
        super().__init__(database)
        self._scope = scope

    async def open(self) -> None:
        await self._open_database("metadata", _MIGRATIONS)
        await self._write("INSERT INTO metadata_scopes (scope) VALUES (%s) ON CONFLICT DO NOTHING")

    async def _write(self, query: str, *values: object) -> None:
        async with self._database.transaction() as connection:
            await connection.execute(query, (self._scope, *values))

    async def _rows(self, query: str, *values: object) -> list[tuple[Any, ...]]:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(query, (self._scope, *values))
            return await cursor.fetchall()

    async def _records(self, table: str, order: str, name: str | None) -> list[dict[str, Any]]:
        """The JSON `record` column of `table`: every row by name then `order`, or one name's rows."""
        if name is None:
            rows = await self._rows(
                f'SELECT record FROM {table} WHERE scope = %s ORDER BY name COLLATE "C", {order}'
            )
        else:
            rows = await self._rows(
                f"SELECT record FROM {table} WHERE scope = %s AND name = %s ORDER BY {order}", name
            )
        return [json.loads(row[0]) for row in rows]

    # functions and versions --------------------------------------------------------------------
    async def create_function(self, config: FunctionConfig) -> bool:
        return bool(
            await self._rows(
                "INSERT INTO functions (scope, name, config) VALUES (%s, %s, %s) "
                "ON CONFLICT (scope, name) DO NOTHING RETURNING 1",
                config.name,
                config.dumps(),
            )
        )

    async def update_function(self, config: FunctionConfig) -> bool:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "UPDATE functions SET config = %s WHERE scope = %s AND name = %s",
                (config.dumps(), self._scope, config.name),
            )
            return cursor.rowcount > 0

    async def get_function(self, name: str) -> FunctionConfig | None:
        rows = await self._rows("SELECT config FROM functions WHERE scope = %s AND name = %s", name)
        return FunctionConfig.from_record(json.loads(rows[0][0])) if rows else None

    async def list_functions(self) -> list[FunctionConfig]:
        rows = await self._rows('SELECT config FROM functions WHERE scope = %s ORDER BY name COLLATE "C"')
        return [FunctionConfig.from_record(json.loads(row[0])) for row in rows]

    async def delete_function(self, name: str) -> bool:
        async with self._database.transaction() as connection:
            for table in FUNCTION_TABLES:
                await connection.execute(
                    f"DELETE FROM {table} WHERE scope = %s AND name = %s", (self._scope, name)
                )
            cursor = await connection.execute(
                "DELETE FROM functions WHERE scope = %s AND name = %s", (self._scope, name)
            )
            return cursor.rowcount > 0

    async def put_version(self, config: FunctionConfig) -> bool:
        return bool(
            await self._rows(
                "INSERT INTO function_versions (scope, name, version, config) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (scope, name, version) DO NOTHING RETURNING 1",
                config.name,
                int(config.version),
                config.dumps(),
            )
        )

    async def update_version_state(self, config: FunctionConfig) -> None:
        async with self._database.transaction() as connection:
            await connection.execute(
                "UPDATE function_versions SET config = %s WHERE scope = %s AND name = %s AND version = %s",
                (config.dumps(), self._scope, config.name, int(config.version)),
            )

    async def list_versions(self, name: str) -> list[FunctionConfig]:
        rows = await self._rows(
            "SELECT config FROM function_versions WHERE scope = %s AND name = %s ORDER BY version", name
        )
        return [FunctionConfig.from_record(json.loads(row[0])) for row in rows]

    async def delete_version(self, name: str, version: str) -> None:
        async with self._database.transaction() as connection:
            await _delete_qualifier(connection, self._scope, name, version)
            await connection.execute(
                "DELETE FROM function_versions WHERE scope = %s AND name = %s AND version = %s",
                (self._scope, name, int(version)),
            )

    # aliases -----------------------------------------------------------------------------------
    async def put_alias(self, alias: Alias) -> None:
        await self._write(
            "INSERT INTO aliases (scope, name, alias, record) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (scope, name, alias) DO UPDATE SET record = excluded.record",
            alias.function_name,
            alias.name,
            alias.dumps(),
        )

    async def delete_alias(self, function_name: str, name: str) -> None:
        async with self._database.transaction() as connection:
            await _delete_qualifier(connection, self._scope, function_name, name)
            await connection.execute(
                "DELETE FROM aliases WHERE scope = %s AND name = %s AND alias = %s",
                (self._scope, function_name, name),
            )

    async def list_aliases(self, function_name: str | None = None) -> list[Alias]:
        return [
            Alias.from_record(record)
            for record in await self._records("aliases", 'alias COLLATE "C"', function_name)
        ]

    # settings ----------------------------------------------------------------------------------
    async def put_reserved_concurrency(self, function_name: str, reserved: int | None) -> None:
        if reserved is None:
            await self._write(
                "DELETE FROM reserved_concurrency WHERE scope = %s AND name = %s", function_name
            )
            return
        await self._write(
            "INSERT INTO reserved_concurrency (scope, name, reserved) VALUES (%s, %s, %s) "
            "ON CONFLICT (scope, name) DO UPDATE SET reserved = excluded.reserved",
            function_name,
            reserved,
        )

    async def list_reserved_concurrency(self) -> dict[str, int]:
        rows = await self._rows("SELECT name, reserved FROM reserved_concurrency WHERE scope = %s")
        return {name: int(reserved) for name, reserved in rows}

    async def put_policy(self, function_name: str, qualifier: str, document: str | None) -> None:
        if document is None:
            await self._write(
                "DELETE FROM resource_policies WHERE scope = %s AND name = %s AND qualifier = %s",
                function_name,
                qualifier,
            )
            return
        await self._write(
            "INSERT INTO resource_policies (scope, name, qualifier, document) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (scope, name, qualifier) DO UPDATE SET document = excluded.document",
            function_name,
            qualifier,
            document,
        )

    async def get_policy(self, function_name: str, qualifier: str) -> str | None:
        rows = await self._rows(
            "SELECT document FROM resource_policies WHERE scope = %s AND name = %s AND qualifier = %s",
            function_name,
            qualifier,
        )
        return str(rows[0][0]) if rows else None

    async def put_tags(self, function_name: str, tags: dict[str, str]) -> None:
        if not tags:
            await self._write("DELETE FROM function_tags WHERE scope = %s AND name = %s", function_name)
            return
        await self._write(
            "INSERT INTO function_tags (scope, name, tags) VALUES (%s, %s, %s) "
            "ON CONFLICT (scope, name) DO UPDATE SET tags = excluded.tags",
            function_name,
            json.dumps(tags, separators=(",", ":"), sort_keys=True),
        )

    async def get_tags(self, function_name: str) -> dict[str, str]:
        rows = await self._rows(
            "SELECT tags FROM function_tags WHERE scope = %s AND name = %s", function_name
        )
        return dict(json.loads(rows[0][0])) if rows else {}

    async def put_event_invoke_config(self, config: EventInvokeConfig) -> None:
        await self._write(
            "INSERT INTO event_invoke_configs (scope, name, qualifier, record) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (scope, name, qualifier) DO UPDATE SET record = excluded.record",
            config.function_name,
            config.qualifier,
            _compact(config.to_record()),
        )

    async def delete_event_invoke_config(self, function_name: str, qualifier: str) -> None:
        await self._write(
            "DELETE FROM event_invoke_configs WHERE scope = %s AND name = %s AND qualifier = %s",
            function_name,
            qualifier,
        )

    async def list_event_invoke_configs(self, function_name: str | None = None) -> list[EventInvokeConfig]:
        records = await self._records("event_invoke_configs", 'qualifier COLLATE "C"', function_name)
        return [EventInvokeConfig.from_record(record) for record in records]

    async def put_recursion_config(self, function_name: str, recursive_loop: str) -> None:
        await self._write(
            "INSERT INTO recursion_configs (scope, name, recursive_loop) VALUES (%s, %s, %s) "
            "ON CONFLICT (scope, name) DO UPDATE SET recursive_loop = excluded.recursive_loop",
            function_name,
            recursive_loop,
        )

    async def list_recursion_configs(self) -> dict[str, str]:
        rows = await self._rows("SELECT name, recursive_loop FROM recursion_configs WHERE scope = %s")
        return {name: loop for name, loop in rows}

    async def put_event_source_mapping(self, mapping: EventSourceMapping) -> None:
        await self._write(
            "INSERT INTO event_source_mappings (scope, uuid, record) VALUES (%s, %s, %s) "
            "ON CONFLICT (scope, uuid) DO UPDATE SET record = excluded.record",
            mapping.uuid,
            json.dumps(mapping.to_record(), separators=(",", ":")),
        )

    async def delete_event_source_mapping(self, uuid: str) -> bool:
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "DELETE FROM event_source_mappings WHERE scope = %s AND uuid = %s", (self._scope, uuid)
            )
            return cursor.rowcount == 1

    async def list_event_source_mappings(self) -> list[EventSourceMapping]:
        rows = await self._rows("SELECT record FROM event_source_mappings WHERE scope = %s ORDER BY uuid")
        return [EventSourceMapping.from_record(json.loads(row[0])) for row in rows]

    async def put_function_url(self, config: FunctionUrlConfig) -> None:
        await self._write(
            "INSERT INTO function_urls (scope, url_id, name, qualifier, record) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (scope, url_id) DO UPDATE SET record = excluded.record",
            config.url_id,
            config.function_name,
            config.qualifier or "",
            _compact(config.to_record()),
        )

    async def delete_function_url(self, url_id: str) -> None:
        await self._write("DELETE FROM function_urls WHERE scope = %s AND url_id = %s", url_id)

    async def list_function_urls(self, function_name: str | None = None) -> list[FunctionUrlConfig]:
        records = await self._records("function_urls", 'qualifier COLLATE "C"', function_name)
        return [FunctionUrlConfig.from_record(record) for record in records]

    # layers ------------------------------------------------------------------------------------
    async def next_layer_version(self, name: str) -> int:
        rows = await self._rows(
            "INSERT INTO layer_names (scope, name, last_version) VALUES (%s, %s, 1) "
            "ON CONFLICT (scope, name) DO UPDATE SET last_version = layer_names.last_version + 1 "
            "RETURNING last_version",
            name,
        )
        return int(rows[0][0])

    async def put_layer_version(self, layer: LayerVersion) -> None:
        await self._write(
            "INSERT INTO layer_versions (scope, name, version, record) VALUES (%s, %s, %s, %s)",
            layer.name,
            layer.version,
            _compact(layer.to_record()),
        )

    async def get_layer_version(self, name: str, version: int) -> LayerVersion | None:
        rows = await self._rows(
            "SELECT record FROM layer_versions WHERE scope = %s AND name = %s AND version = %s", name, version
        )
        return LayerVersion.from_record(json.loads(rows[0][0])) if rows else None

    async def list_layer_versions(self, name: str | None = None) -> list[LayerVersion]:
        return [
            LayerVersion.from_record(record)
            for record in await self._records("layer_versions", "version", name)
        ]

    async def delete_layer_version(self, name: str, version: int) -> None:
        await self._write(
            "DELETE FROM layer_versions WHERE scope = %s AND name = %s AND version = %s", name, version
        )

    async def put_layer_policy(self, name: str, version: int, document: str | None) -> None:
        async with self._database.transaction() as connection:
            await connection.execute(
                "UPDATE layer_versions SET policy = %s WHERE scope = %s AND name = %s AND version = %s",
                (document, self._scope, name, version),
            )

    async def get_layer_policy(self, name: str, version: int) -> str | None:
        rows = await self._rows(
            "SELECT policy FROM layer_versions WHERE scope = %s AND name = %s AND version = %s", name, version
        )
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    # provisioned concurrency -------------------------------------------------------------------
    async def put_provisioned_concurrency(self, config: ProvisionedConcurrencyConfig) -> None:
        await self._write(
            "INSERT INTO provisioned_concurrency (scope, name, qualifier, requested, last_modified) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (scope, name, qualifier) DO UPDATE SET "
            "requested = excluded.requested, last_modified = excluded.last_modified",
            config.function_name,
            config.qualifier,
            config.requested,
            config.last_modified,
        )

    async def delete_provisioned_concurrency(self, function_name: str, qualifier: str) -> None:
        await self._write(
            "DELETE FROM provisioned_concurrency WHERE scope = %s AND name = %s AND qualifier = %s",
            function_name,
            qualifier,
        )

    async def list_provisioned_concurrency(
        self, function_name: str | None = None
    ) -> list[ProvisionedConcurrencyConfig]:
        # Versions (all digits) first in numeric order, then the other qualifiers by text.
        order = (
            "ORDER BY name COLLATE \"C\", qualifier !~ '^[0-9]+$', "
            "CASE WHEN qualifier ~ '^[0-9]+$' THEN qualifier::numeric END, qualifier COLLATE \"C\""
        )
        columns = (
            "SELECT name, qualifier, requested, last_modified FROM provisioned_concurrency WHERE scope = %s"
        )
        if function_name is None:
            rows = await self._rows(f"{columns} {order}")
        else:
            rows = await self._rows(f"{columns} AND name = %s {order}", function_name)
        return [
            ProvisionedConcurrencyConfig(name, qualifier, int(requested), last)
            for name, qualifier, requested, last in rows
        ]


async def _delete_qualifier(connection: AsyncConnection[Any], scope: str, name: str, qualifier: str) -> None:
    """A version's or alias's own settings (provisioned concurrency, policy, async config, URL)."""
    for table in PER_QUALIFIER_TABLES:
        await connection.execute(
            f"DELETE FROM {table} WHERE scope = %s AND name = %s AND qualifier = %s", (scope, name, qualifier)
        )
