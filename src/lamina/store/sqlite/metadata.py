"""SQLite (WAL) implementation of MetadataStore (see database.py for threading and durability)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from lamina.domain.aliases import Alias
from lamina.domain.async_events import EventInvokeConfig
from lamina.domain.event_sources import EventSourceMapping
from lamina.domain.function_urls import FunctionUrlConfig
from lamina.domain.functions import FunctionConfig
from lamina.domain.layers import LayerVersion
from lamina.store.metadata_tables import FUNCTION_TABLES, PER_QUALIFIER_TABLES
from lamina.store.ports import ProvisionedConcurrencyConfig
from lamina.store.sqlite.database import SqliteDatabase
from lamina.store.sqlite.migrations import MIGRATIONS


class SqliteMetadataStore:
    def __init__(self, path: Path) -> None:
        self._database = SqliteDatabase(path, MIGRATIONS, "sqlite")
        self._run = self._database.run

    async def open(self) -> None:
        await self._database.open()

    async def close(self) -> None:
        await self._database.close()

    async def _records(self, table: str, order: str, name: str | None) -> list[dict[str, Any]]:
        """The JSON `record` column of `table`: every row by name then `order`, or one name's rows."""
        if name is None:
            rows = await self._run(
                lambda db: db.execute(f"SELECT record FROM {table} ORDER BY name, {order}").fetchall()
            )
        else:
            rows = await self._run(
                lambda db: db.execute(
                    f"SELECT record FROM {table} WHERE name = ? ORDER BY {order}", (name,)
                ).fetchall()
            )
        return [json.loads(row[0]) for row in rows]

    async def create_function(self, config: FunctionConfig) -> bool:
        document = config.dumps()
        inserted = await self._run(
            lambda db: (
                db.execute(
                    "INSERT INTO functions(name, config) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
                    (config.name, document),
                ).rowcount
            )
        )
        return bool(inserted)

    async def update_function(self, config: FunctionConfig) -> bool:
        document = config.dumps()
        updated = await self._run(
            lambda db: (
                db.execute("UPDATE functions SET config = ? WHERE name = ?", (document, config.name)).rowcount
            )
        )
        return bool(updated)

    async def get_function(self, name: str) -> FunctionConfig | None:
        row = await self._run(
            lambda db: db.execute("SELECT config FROM functions WHERE name = ?", (name,)).fetchone()
        )
        return FunctionConfig.from_record(json.loads(row[0])) if row else None

    async def list_functions(self) -> list[FunctionConfig]:
        rows = await self._run(lambda db: db.execute("SELECT config FROM functions ORDER BY name").fetchall())
        return [FunctionConfig.from_record(json.loads(row[0])) for row in rows]

    async def delete_function(self, name: str) -> bool:
        def delete(db: sqlite3.Connection) -> bool:
            for table in FUNCTION_TABLES:
                db.execute(f"DELETE FROM {table} WHERE name = ?", (name,))
            return bool(db.execute("DELETE FROM functions WHERE name = ?", (name,)).rowcount)

        return bool(await self._run(delete))

    async def put_version(self, config: FunctionConfig) -> bool:
        inserted = await self._run(
            lambda db: (
                db.execute(
                    "INSERT INTO function_versions(name, version, config) VALUES (?, ?, ?) "
                    "ON CONFLICT(name, version) DO NOTHING",
                    (config.name, int(config.version), config.dumps()),
                ).rowcount
            )
        )
        return bool(inserted)

    async def update_version_state(self, config: FunctionConfig) -> None:
        await self._run(
            lambda db: db.execute(
                "UPDATE function_versions SET config = ? WHERE name = ? AND version = ?",
                (config.dumps(), config.name, int(config.version)),
            )
        )

    async def list_versions(self, name: str) -> list[FunctionConfig]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT config FROM function_versions WHERE name = ? ORDER BY version", (name,)
            ).fetchall()
        )
        return [FunctionConfig.from_record(json.loads(row[0])) for row in rows]

    async def delete_version(self, name: str, version: str) -> None:
        def delete(db: sqlite3.Connection) -> None:
            for table in PER_QUALIFIER_TABLES:
                db.execute(f"DELETE FROM {table} WHERE name = ? AND qualifier = ?", (name, version))
            db.execute("DELETE FROM function_versions WHERE name = ? AND version = ?", (name, int(version)))

        await self._run(delete)

    async def put_alias(self, alias: Alias) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT INTO aliases(name, alias, record) VALUES (?, ?, ?) "
                "ON CONFLICT(name, alias) DO UPDATE SET record = excluded.record",
                (alias.function_name, alias.name, alias.dumps()),
            )
        )

    async def delete_alias(self, function_name: str, name: str) -> None:
        def delete(db: sqlite3.Connection) -> None:
            for table in PER_QUALIFIER_TABLES:
                db.execute(f"DELETE FROM {table} WHERE name = ? AND qualifier = ?", (function_name, name))
            db.execute("DELETE FROM aliases WHERE name = ? AND alias = ?", (function_name, name))

        await self._run(delete)

    async def list_aliases(self, function_name: str | None = None) -> list[Alias]:
        return [
            Alias.from_record(record) for record in await self._records("aliases", "alias", function_name)
        ]

    async def put_reserved_concurrency(self, function_name: str, reserved: int | None) -> None:
        if reserved is None:
            await self._run(
                lambda db: db.execute("DELETE FROM reserved_concurrency WHERE name = ?", (function_name,))
            )
            return
        await self._run(
            lambda db: db.execute(
                "INSERT INTO reserved_concurrency(name, reserved) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET reserved = excluded.reserved",
                (function_name, reserved),
            )
        )

    async def list_reserved_concurrency(self) -> dict[str, int]:
        rows = await self._run(
            lambda db: db.execute("SELECT name, reserved FROM reserved_concurrency").fetchall()
        )
        return {name: reserved for name, reserved in rows}

    async def put_policy(self, function_name: str, qualifier: str, document: str | None) -> None:
        if document is None:
            await self._run(
                lambda db: db.execute(
                    "DELETE FROM resource_policies WHERE name = ? AND qualifier = ?",
                    (function_name, qualifier),
                )
            )
            return
        await self._run(
            lambda db: db.execute(
                "INSERT INTO resource_policies(name, qualifier, document) VALUES (?, ?, ?) "
                "ON CONFLICT(name, qualifier) DO UPDATE SET document = excluded.document",
                (function_name, qualifier, document),
            )
        )

    async def get_policy(self, function_name: str, qualifier: str) -> str | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT document FROM resource_policies WHERE name = ? AND qualifier = ?",
                (function_name, qualifier),
            ).fetchone()
        )
        return str(row[0]) if row else None

    async def put_tags(self, function_name: str, tags: dict[str, str]) -> None:
        if not tags:
            await self._run(
                lambda db: db.execute("DELETE FROM function_tags WHERE name = ?", (function_name,))
            )
            return
        document = json.dumps(tags, separators=(",", ":"), sort_keys=True)
        await self._run(
            lambda db: db.execute(
                "INSERT INTO function_tags(name, tags) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET tags = excluded.tags",
                (function_name, document),
            )
        )

    async def get_tags(self, function_name: str) -> dict[str, str]:
        row = await self._run(
            lambda db: db.execute(
                "SELECT tags FROM function_tags WHERE name = ?", (function_name,)
            ).fetchone()
        )
        return dict(json.loads(row[0])) if row else {}

    async def put_event_invoke_config(self, config: EventInvokeConfig) -> None:
        document = json.dumps(config.to_record(), separators=(",", ":"))
        await self._run(
            lambda db: db.execute(
                "INSERT INTO event_invoke_configs(name, qualifier, record) VALUES (?, ?, ?) "
                "ON CONFLICT(name, qualifier) DO UPDATE SET record = excluded.record",
                (config.function_name, config.qualifier, document),
            )
        )

    async def delete_event_invoke_config(self, function_name: str, qualifier: str) -> None:
        await self._run(
            lambda db: db.execute(
                "DELETE FROM event_invoke_configs WHERE name = ? AND qualifier = ?",
                (function_name, qualifier),
            )
        )

    async def list_event_invoke_configs(self, function_name: str | None = None) -> list[EventInvokeConfig]:
        records = await self._records("event_invoke_configs", "qualifier", function_name)
        return [EventInvokeConfig.from_record(record) for record in records]

    async def put_recursion_config(self, function_name: str, recursive_loop: str) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT INTO recursion_configs(name, recursive_loop) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET recursive_loop = excluded.recursive_loop",
                (function_name, recursive_loop),
            )
        )

    async def list_recursion_configs(self) -> dict[str, str]:
        rows = await self._run(
            lambda db: db.execute("SELECT name, recursive_loop FROM recursion_configs").fetchall()
        )
        return {name: loop for name, loop in rows}

    async def put_function_url(self, config: FunctionUrlConfig) -> None:
        document = json.dumps(config.to_record(), separators=(",", ":"))
        await self._run(
            lambda db: db.execute(
                "INSERT INTO function_urls(url_id, name, qualifier, record) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(url_id) DO UPDATE SET record = excluded.record",
                (config.url_id, config.function_name, config.qualifier or "", document),
            )
        )

    async def delete_function_url(self, url_id: str) -> None:
        await self._run(lambda db: db.execute("DELETE FROM function_urls WHERE url_id = ?", (url_id,)))

    async def list_function_urls(self, function_name: str | None = None) -> list[FunctionUrlConfig]:
        records = await self._records("function_urls", "qualifier", function_name)
        return [FunctionUrlConfig.from_record(record) for record in records]

    async def put_event_source_mapping(self, mapping: EventSourceMapping) -> None:
        document = json.dumps(mapping.to_record(), separators=(",", ":"))
        await self._run(
            lambda db: db.execute(
                "INSERT INTO event_source_mappings(uuid, record) VALUES (?, ?) "
                "ON CONFLICT(uuid) DO UPDATE SET record = excluded.record",
                (mapping.uuid, document),
            )
        )

    async def delete_event_source_mapping(self, uuid: str) -> bool:
        return await self._run(
            lambda db: db.execute("DELETE FROM event_source_mappings WHERE uuid = ?", (uuid,)).rowcount == 1
        )

    async def list_event_source_mappings(self) -> list[EventSourceMapping]:
        rows = await self._run(
            lambda db: db.execute("SELECT record FROM event_source_mappings ORDER BY uuid").fetchall()
        )
        return [EventSourceMapping.from_record(json.loads(row[0])) for row in rows]

    async def next_layer_version(self, name: str) -> int:
        def reserve(db: sqlite3.Connection) -> int:
            db.execute(
                "INSERT INTO layer_names(name, last_version) VALUES (?, 1) "
                "ON CONFLICT(name) DO UPDATE SET last_version = last_version + 1",
                (name,),
            )
            return int(
                db.execute("SELECT last_version FROM layer_names WHERE name = ?", (name,)).fetchone()[0]
            )

        return await self._run(reserve)

    async def put_layer_version(self, layer: LayerVersion) -> None:
        document = json.dumps(layer.to_record(), separators=(",", ":"))
        await self._run(
            lambda db: db.execute(
                "INSERT INTO layer_versions(name, version, record) VALUES (?, ?, ?)",
                (layer.name, layer.version, document),
            )
        )

    async def get_layer_version(self, name: str, version: int) -> LayerVersion | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT record FROM layer_versions WHERE name = ? AND version = ?", (name, version)
            ).fetchone()
        )
        return LayerVersion.from_record(json.loads(row[0])) if row else None

    async def list_layer_versions(self, name: str | None = None) -> list[LayerVersion]:
        return [
            LayerVersion.from_record(record)
            for record in await self._records("layer_versions", "version", name)
        ]

    async def delete_layer_version(self, name: str, version: int) -> None:
        await self._run(
            lambda db: db.execute(
                "DELETE FROM layer_versions WHERE name = ? AND version = ?", (name, version)
            )
        )

    async def put_layer_policy(self, name: str, version: int, document: str | None) -> None:
        await self._run(
            lambda db: db.execute(
                "UPDATE layer_versions SET policy = ? WHERE name = ? AND version = ?",
                (document, name, version),
            )
        )

    async def get_layer_policy(self, name: str, version: int) -> str | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT policy FROM layer_versions WHERE name = ? AND version = ?", (name, version)
            ).fetchone()
        )
        return str(row[0]) if row and row[0] is not None else None

    async def put_provisioned_concurrency(self, config: ProvisionedConcurrencyConfig) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT INTO provisioned_concurrency(name, qualifier, requested, last_modified) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(name, qualifier) DO UPDATE SET "
                "requested = excluded.requested, last_modified = excluded.last_modified",
                (config.function_name, config.qualifier, config.requested, config.last_modified),
            )
        )

    async def delete_provisioned_concurrency(self, function_name: str, qualifier: str) -> None:
        await self._run(
            lambda db: db.execute(
                "DELETE FROM provisioned_concurrency WHERE name = ? AND qualifier = ?",
                (function_name, qualifier),
            )
        )

    async def list_provisioned_concurrency(
        self, function_name: str | None = None
    ) -> list[ProvisionedConcurrencyConfig]:
        # Versions (all digits) first in numeric order, then the other qualifiers by text.
        order = "ORDER BY name, qualifier GLOB '*[^0-9]*', CAST(qualifier AS INTEGER), qualifier"
        columns = "SELECT name, qualifier, requested, last_modified FROM provisioned_concurrency"
        if function_name is None:
            rows = await self._run(lambda db: db.execute(f"{columns} {order}").fetchall())
        else:
            rows = await self._run(
                lambda db: db.execute(f"{columns} WHERE name = ? {order}", (function_name,)).fetchall()
            )
        return [ProvisionedConcurrencyConfig(*row) for row in rows]
