"""MetadataStore conformance suite: every adapter must pass it (ports.MetadataStore's contract).

Add an adapter to STORE_FACTORIES (and to `factory`); the SQLite-only checks are at the end. The
PostgreSQL adapter runs against a real throwaway server (tests/support/postgres.py).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from lamina.domain.aliases import Alias
from lamina.domain.async_events import EventInvokeConfig
from lamina.domain.code import CodeDigest
from lamina.domain.functions import FunctionConfig
from lamina.domain.layers import LayerVersion
from lamina.store.ports import MetadataStore, ProvisionedConcurrencyConfig
from lamina.store.postgres.metadata import PostgresMetadataStore
from lamina.store.sqlite import SqliteMetadataStore
from lamina.store.sqlite.migrations import MIGRATIONS

T = TypeVar("T")
StoreFactory = Callable[[Path], MetadataStore]
"""Builds an unopened store whose data lives at `directory`; two calls share the same data."""


def sqlite_store(directory: Path) -> MetadataStore:
    return SqliteMetadataStore(directory / "metadata.db")


STORE_FACTORIES = ["sqlite", "postgres"]
CODE = CodeDigest("cd" * 32, "zc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc0=", 99)


def config(name: str, version: str = "$LATEST", **changes: object) -> FunctionConfig:
    values: dict[str, object] = {
        "name": name,
        "runtime": "python3.12",
        "handler": "app.handler",
        "role": "arn:aws:iam::123456789012:role/r",
        "code": CODE,
        "version": version,
    }
    values.update(changes)
    return FunctionConfig(**values)  # type: ignore[arg-type]


def with_store(
    factory: StoreFactory, directory: Path, scenario: Callable[[MetadataStore], Awaitable[T]]
) -> T:
    async def main() -> T:
        store = factory(directory)
        await store.open()
        try:
            return await scenario(store)
        finally:
            await store.close()

    return asyncio.run(main())


@pytest.fixture(params=STORE_FACTORIES)
def factory(request: pytest.FixtureRequest) -> StoreFactory:
    if request.param == "sqlite":
        return sqlite_store
    # PostgreSQL: a fresh database per test, shared by every store the test opens (a reopen sees
    # what the last one wrote), scoped to one account and region.
    url = request.getfixturevalue("postgres").new_database()
    return lambda directory: PostgresMetadataStore(url, "123456789012/us-east-1")


def test_empty_store(factory: StoreFactory, tmp_path: Path) -> None:
    async def scenario(store: MetadataStore) -> None:
        assert await store.get_function("missing") is None
        assert await store.list_functions() == []
        assert await store.list_versions("missing") == []

    with_store(factory, tmp_path, scenario)


def test_put_then_get_returns_an_equal_config(factory: StoreFactory, tmp_path: Path) -> None:
    stored = config(
        "my-function",
        environment={"STAGE": "prod", "TEXT": "ünïcode ✓"},
        memory_size=1024,
        architectures=("arm64",),
        log_group="/custom/g",
    )

    async def scenario(store: MetadataStore) -> None:
        await store.create_function(stored)
        assert await store.get_function("my-function") == stored
        assert await store.get_function("my-functio") is None

    with_store(factory, tmp_path, scenario)


def test_create_refuses_an_existing_name_and_update_a_missing_one(
    factory: StoreFactory, tmp_path: Path
) -> None:
    """Servers sharing a store: the second of two creates, or an update after a delete elsewhere,
    finds out here (and writes nothing)."""
    first = config("f", description="one")
    second = first.with_changes(description="two")

    async def scenario(store: MetadataStore) -> None:
        assert await store.create_function(first)
        assert not await store.create_function(second)
        assert await store.get_function("f") == first
        assert await store.update_function(second)
        assert await store.update_function(second)  # idempotent
        assert await store.get_function("f") == second
        assert await store.list_functions() == [second]
        assert not await store.update_function(config("never-made"))
        assert await store.get_function("never-made") is None
        assert await store.put_version(config("f", "1"))
        assert not await store.put_version(config("f", "1", description="published elsewhere"))
        assert [version.description for version in await store.list_versions("f")] == [
            config("f", "1").description
        ]
        assert await store.delete_function("f")
        assert not await store.delete_function("f")

    with_store(factory, tmp_path, scenario)


def test_list_functions_is_ordered_by_name(factory: StoreFactory, tmp_path: Path) -> None:
    stored = {name: config(name) for name in ["charlie", "alpha", "delta2", "bravo", "delta10"]}

    async def scenario(store: MetadataStore) -> None:
        for item in stored.values():
            await store.create_function(item)
        expected = ["alpha", "bravo", "charlie", "delta10", "delta2"]
        assert await store.list_functions() == [stored[name] for name in expected]

    with_store(factory, tmp_path, scenario)


def test_delete_is_idempotent_and_removes_versions(factory: StoreFactory, tmp_path: Path) -> None:
    async def scenario(store: MetadataStore) -> None:
        await store.delete_function("never-existed")
        await store.create_function(config("gone"))
        await store.put_version(config("gone", "1"))
        await store.create_function(config("stays"))
        await store.put_version(config("stays", "1"))
        await store.delete_function("gone")
        await store.delete_function("gone")
        assert await store.get_function("gone") is None
        assert await store.list_versions("gone") == []
        assert [item.name for item in await store.list_functions()] == ["stays"]
        assert [item.version for item in await store.list_versions("stays")] == ["1"]

    with_store(factory, tmp_path, scenario)


def test_versions_are_listed_in_numeric_order_per_function(factory: StoreFactory, tmp_path: Path) -> None:
    async def scenario(store: MetadataStore) -> None:
        await store.create_function(config("f"))
        for version in ["10", "2", "1", "9"]:
            await store.put_version(config("f", version, description=f"v{version}"))
        await store.put_version(config("other", "3"))
        versions = await store.list_versions("f")
        assert [item.version for item in versions] == ["1", "2", "9", "10"]
        assert [item.description for item in versions] == ["v1", "v2", "v9", "v10"]
        assert [item.version for item in await store.list_versions("other")] == ["3"]
        # Published versions are not $LATEST configurations.
        assert [item.name for item in await store.list_functions()] == ["f"]
        assert (await store.get_function("f")) == (await store.list_functions())[0]

    with_store(factory, tmp_path, scenario)


def test_concurrent_writes_from_the_event_loop_all_land(factory: StoreFactory, tmp_path: Path) -> None:
    async def scenario(store: MetadataStore) -> None:
        await asyncio.gather(*(store.create_function(config(f"fn{index:02d}")) for index in range(25)))
        listed = await store.list_functions()
        assert [item.name for item in listed] == [f"fn{index:02d}" for index in range(25)]

    with_store(factory, tmp_path, scenario)


def test_data_survives_close_and_reopen(factory: StoreFactory, tmp_path: Path) -> None:
    latest = config("durable", environment={"K1": "v"})
    version = config("durable", "1")

    async def write(store: MetadataStore) -> None:
        await store.create_function(latest)
        await store.put_version(version)

    async def read(store: MetadataStore) -> tuple[FunctionConfig | None, list[FunctionConfig]]:
        return await store.get_function("durable"), await store.list_versions("durable")

    with_store(factory, tmp_path, write)
    assert with_store(factory, tmp_path, read) == (latest, [version])


def provisioned(name: str, qualifier: str, requested: int = 1) -> ProvisionedConcurrencyConfig:
    return ProvisionedConcurrencyConfig(name, qualifier, requested, "2024-01-02T03:04:05.678+0000")


def test_provisioned_concurrency_put_replaces_and_lists_in_order(
    factory: StoreFactory, tmp_path: Path
) -> None:
    async def scenario(store: MetadataStore) -> None:
        assert await store.list_provisioned_concurrency() == []
        for item in [
            provisioned("f", "10"),
            provisioned("f", "2"),
            provisioned("a", "1"),
            provisioned("f", "9"),
        ]:
            await store.put_provisioned_concurrency(item)
        replaced = ProvisionedConcurrencyConfig("f", "2", 5, "2024-02-02T00:00:00.000+0000")
        await store.put_provisioned_concurrency(replaced)
        await store.put_provisioned_concurrency(replaced)  # idempotent
        assert await store.list_provisioned_concurrency("f") == [
            replaced,
            provisioned("f", "9"),
            provisioned("f", "10"),
        ]
        everything = await store.list_provisioned_concurrency()
        assert [(item.function_name, item.qualifier) for item in everything] == [
            ("a", "1"),
            ("f", "2"),
            ("f", "9"),
            ("f", "10"),
        ]
        assert await store.list_provisioned_concurrency("missing") == []

    with_store(factory, tmp_path, scenario)


def test_provisioned_concurrency_delete_is_idempotent(factory: StoreFactory, tmp_path: Path) -> None:
    async def scenario(store: MetadataStore) -> None:
        await store.delete_provisioned_concurrency("never", "1")
        await store.put_provisioned_concurrency(provisioned("f", "1"))
        await store.put_provisioned_concurrency(provisioned("f", "2"))
        await store.delete_provisioned_concurrency("f", "1")
        await store.delete_provisioned_concurrency("f", "1")
        assert await store.list_provisioned_concurrency("f") == [provisioned("f", "2")]

    with_store(factory, tmp_path, scenario)


def test_delete_function_removes_its_provisioned_concurrency(factory: StoreFactory, tmp_path: Path) -> None:
    async def scenario(store: MetadataStore) -> None:
        for name in ["gone", "stays"]:
            await store.create_function(config(name))
            await store.put_version(config(name, "1"))
            await store.put_provisioned_concurrency(provisioned(name, "1"))
        await store.delete_function("gone")
        assert await store.list_provisioned_concurrency() == [provisioned("stays", "1")]

    with_store(factory, tmp_path, scenario)


def test_provisioned_concurrency_survives_close_and_reopen(factory: StoreFactory, tmp_path: Path) -> None:
    async def write(store: MetadataStore) -> None:
        await store.put_provisioned_concurrency(provisioned("durable", "3", 7))

    with_store(factory, tmp_path, write)
    stored = with_store(factory, tmp_path, lambda store: store.list_provisioned_concurrency())
    assert stored == [provisioned("durable", "3", 7)]


def test_aliases_put_replaces_and_list_in_order(factory: StoreFactory, tmp_path: Path) -> None:
    async def scenario(store: MetadataStore) -> None:
        await store.create_function(config("f"))
        await store.create_function(config("g"))
        await store.put_alias(Alias("g", "b", "1"))
        await store.put_alias(Alias("f", "live", "1"))
        beta = Alias("f", "beta", "$LATEST", "d")
        await store.put_alias(beta)
        moved = Alias("f", "live", "2", weights={"3": 0.5})
        await store.put_alias(moved)
        assert [(a.function_name, a.name) for a in await store.list_aliases()] == [
            ("f", "beta"),
            ("f", "live"),
            ("g", "b"),
        ]
        assert await store.list_aliases("f") == [beta, moved]
        await store.delete_alias("f", "beta")
        await store.delete_alias("f", "beta")
        assert await store.list_aliases("f") == [moved]

    with_store(factory, tmp_path, scenario)


def test_deleting_an_alias_or_a_version_drops_its_provisioned_concurrency(
    factory: StoreFactory, tmp_path: Path
) -> None:
    async def scenario(store: MetadataStore) -> None:
        await store.create_function(config("f"))
        for number in ["1", "2"]:
            await store.put_version(config("f", number))
            await store.put_provisioned_concurrency(provisioned("f", number))
        await store.put_alias(Alias("f", "live", "2"))
        await store.put_provisioned_concurrency(provisioned("f", "live"))
        await store.delete_alias("f", "live")
        await store.delete_version("f", "1")
        assert [v.version for v in await store.list_versions("f")] == ["2"]
        assert await store.list_provisioned_concurrency("f") == [provisioned("f", "2")]

    with_store(factory, tmp_path, scenario)


def test_delete_function_removes_its_aliases_and_aliases_survive_reopen(
    factory: StoreFactory, tmp_path: Path
) -> None:
    async def write(store: MetadataStore) -> None:
        for name in ["gone", "stays"]:
            await store.create_function(config(name))
            await store.put_alias(Alias(name, "live", "$LATEST", revision_id="r"))
        await store.delete_function("gone")

    with_store(factory, tmp_path, write)
    stored = with_store(factory, tmp_path, lambda store: store.list_aliases())
    assert stored == [Alias("stays", "live", "$LATEST", revision_id="r")]


def test_function_settings_are_kept_and_deleted_with_the_function(
    factory: StoreFactory, tmp_path: Path
) -> None:
    async def write(store: MetadataStore) -> None:
        for name in ["gone", "stays"]:
            await store.create_function(config(name))
            await store.put_version(config(name, "1"))
            await store.put_reserved_concurrency(name, 5)
            await store.put_policy(name, "", '{"p": 1}')
            await store.put_policy(name, "1", '{"p": 2}')
            await store.put_tags(name, {"team": name})
            await store.put_event_invoke_config(EventInvokeConfig(name, "$LATEST", 1, 60, last_modified=1.5))
            await store.put_event_invoke_config(EventInvokeConfig(name, "1", 0, 60, last_modified=1.5))
            await store.put_recursion_config(name, "Allow")
        await store.delete_function("gone")
        await store.delete_version("stays", "1")
        await store.put_reserved_concurrency("stays", 7)

    with_store(factory, tmp_path, write)

    async def read(store: MetadataStore) -> None:
        assert await store.list_reserved_concurrency() == {"stays": 7}
        assert await store.get_policy("stays", "") == '{"p": 1}'
        assert await store.get_policy("stays", "1") is None  # went with the version
        assert await store.get_policy("gone", "") is None
        assert await store.get_tags("stays") == {"team": "stays"}
        assert await store.get_tags("gone") == {}
        assert await store.list_event_invoke_configs() == [
            EventInvokeConfig("stays", "$LATEST", 1, 60, last_modified=1.5)
        ]
        assert await store.list_recursion_configs() == {"stays": "Allow"}
        await store.put_reserved_concurrency("stays", None)
        await store.put_tags("stays", {})
        await store.put_policy("stays", "", None)
        await store.delete_event_invoke_config("stays", "$LATEST")
        assert await store.list_reserved_concurrency() == {}
        assert await store.get_tags("stays") == {}
        assert await store.get_policy("stays", "") is None
        assert await store.list_event_invoke_configs("stays") == []

    with_store(factory, tmp_path, read)


def test_layer_versions_numbers_and_policies(factory: StoreFactory, tmp_path: Path) -> None:
    async def scenario(store: MetadataStore) -> None:
        assert [await store.next_layer_version("a") for _ in range(3)] == [1, 2, 3]
        assert await store.next_layer_version("b") == 1
        first = LayerVersion("a", 1, CODE, 10, created_date="t")
        third = LayerVersion("a", 3, CODE, 30, created_date="t")
        await store.put_layer_version(third)
        await store.put_layer_version(first)
        await store.put_layer_version(LayerVersion("b", 1, CODE, 5, created_date="t"))
        assert await store.list_layer_versions("a") == [first, third]
        assert [(v.name, v.version) for v in await store.list_layer_versions()] == [
            ("a", 1),
            ("a", 3),
            ("b", 1),
        ]
        assert await store.get_layer_version("a", 3) == third
        await store.put_layer_policy("a", 3, '{"p": 1}')
        assert await store.get_layer_policy("a", 3) == '{"p": 1}'
        await store.delete_layer_version("a", 3)
        await store.delete_layer_version("a", 3)
        assert await store.get_layer_version("a", 3) is None and await store.get_layer_policy("a", 3) is None
        assert await store.next_layer_version("a") == 4  # numbers are never given again

    with_store(factory, tmp_path, scenario)


# SQLite specifics --------------------------------------------------------------------------


def user_version(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute("PRAGMA user_version").fetchone()[0])
    finally:
        connection.close()


def test_sqlite_migrations_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "metadata.db"

    async def touch(store: MetadataStore) -> None:
        await store.create_function(config("kept"))

    async def names(store: MetadataStore) -> list[str]:
        return [item.name for item in await store.list_functions()]

    with_store(lambda _: SqliteMetadataStore(path), tmp_path, touch)
    assert user_version(path) == len(MIGRATIONS) == 8
    assert with_store(lambda _: SqliteMetadataStore(path), tmp_path, names) == ["kept"]
    assert user_version(path) == len(MIGRATIONS)


def test_sqlite_uses_wal_journal(tmp_path: Path) -> None:
    path = tmp_path / "metadata.db"
    with_store(lambda _: SqliteMetadataStore(path), tmp_path, lambda store: store.list_functions())
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        connection.close()
