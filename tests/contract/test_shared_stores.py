"""The MetricStore, AlarmStore and BillingStore ports, each adapter (SQLite, PostgreSQL) held to the
same behaviour; and what only a shared database has to get right: accounts and regions kept apart
in one database, and two servers merging into the same series."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from lamina.domain.metrics.aggregate import Aggregate
from lamina.domain.metrics.retention import DAY
from lamina.domain.metrics.series import MetricKey
from lamina.store.postgres.alarms import PostgresAlarmStore
from lamina.store.postgres.billing import PostgresBillingStore
from lamina.store.postgres.database import PostgresDatabase
from lamina.store.postgres.metrics import PostgresMetricStore
from lamina.store.sqlite.alarms import SqliteAlarmStore
from lamina.store.sqlite.billing import SqliteBillingStore, read_usage
from lamina.store.sqlite.metrics import SqliteMetricStore
from tests.support.postgres import PostgresServer

KEY = MetricKey("app", "Latency", (("Service", "cart"),))
OTHER = MetricKey("app", "Errors")
T0 = 1_700_000_000 - 1_700_000_000 % 3600
ADAPTERS = ["sqlite", "postgres"]
SCOPE = "123456789012/us-east-1"


def _aggregate(*values: float) -> Aggregate:
    aggregate = Aggregate()
    for value in values:
        aggregate.add(value)
    return aggregate


@asynccontextmanager
async def _stores(
    adapter: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[dict[str, Any]]:
    """Open metric, alarm and billing stores of one adapter; `usage()` reads billing back."""
    if adapter == "sqlite":
        stores: dict[str, Any] = {
            "metrics": SqliteMetricStore(tmp_path / "metrics.db"),
            "alarms": SqliteAlarmStore(tmp_path / "alarms.db"),
            "billing": SqliteBillingStore(tmp_path / "billing.db"),
        }

        async def usage() -> dict[tuple[str, str], tuple[int, int]]:
            return {
                (row.month, row.function): (row.requests, row.mb_ms)
                for row in read_usage(tmp_path / "billing.db")
            }

        database = None
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        database = PostgresDatabase(server.new_database())
        await database.open()
        stores = {
            "metrics": PostgresMetricStore(database, SCOPE),
            "alarms": PostgresAlarmStore(database, SCOPE),
            "billing": PostgresBillingStore(database, SCOPE),
        }
        usage = stores["billing"].usage
    for store in stores.values():
        await store.open()
    stores["usage"] = usage
    try:
        yield stores
    finally:
        for name in ("metrics", "alarms", "billing"):
            await stores[name].close()
        if database is not None:
            await database.close()


def _run(
    adapter: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    body: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    async def main() -> None:
        async with _stores(adapter, tmp_path, request) as stores:
            await body(stores)

    asyncio.run(main())


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_metric_points_merge_roll_up_list_and_expire(
    adapter: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async def body(stores: dict[str, Any]) -> None:
        metrics = stores["metrics"]
        await metrics.write({KEY: {T0: _aggregate(1, 3), T0 + 60: _aggregate(5)}}, {KEY: "Milliseconds"})
        await metrics.write({KEY: {T0: _aggregate(2)}, OTHER: {T0 + 300: _aggregate(1)}}, {})
        minutes = await metrics.read(KEY, 60, T0, T0 + 600)
        assert {start: (a.count, a.total) for start, a in minutes.items()} == {
            T0: (3, 6.0),
            T0 + 60: (1, 5.0),
        }
        five = await metrics.read(KEY, 300, T0, T0 + 600)
        assert {start: (a.count, a.minimum, a.maximum) for start, a in five.items()} == {T0: (4, 1.0, 5.0)}
        hourly = await metrics.read(KEY, 3600, T0, T0 + 3600)
        assert hourly[T0].percentile(50) is not None
        listed = await metrics.series("app")
        assert [(item.key, item.unit, item.last_seen) for item in listed] == [
            (OTHER, None, T0 + 300),
            (KEY, "Milliseconds", T0 + 60),
        ]
        assert [item.key for item in await metrics.series(name="Latency")] == [KEY]
        assert await metrics.prune(T0 + 20 * DAY) == 3  # the three one-minute points
        assert await metrics.read(KEY, 60, T0, T0 + 600) == {}
        assert len(await metrics.read(KEY, 300, T0, T0 + 600)) == 1
        await metrics.prune(T0 + 500 * DAY)
        assert await metrics.series() == []

    _run(adapter, tmp_path, request, body)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_alarms_and_their_history(adapter: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    async def body(stores: dict[str, Any]) -> None:
        alarms = stores["alarms"]
        await alarms.put("b", {"AlarmName": "b", "Threshold": math.inf})
        await alarms.put("a", {"AlarmName": "a", "Threshold": 1.5})
        await alarms.put("a", {"AlarmName": "a", "Threshold": 2.5})
        assert await alarms.load() == [
            {"AlarmName": "a", "Threshold": 2.5},
            {"AlarmName": "b", "Threshold": math.inf},
        ]
        await alarms.delete(["b", "missing"])
        assert [record["AlarmName"] for record in await alarms.load()] == ["a"]
        for timestamp, name in ((10.0, "a"), (20.0, "b"), (20.0, "a"), (30.0, "a")):
            await alarms.add_history(name, timestamp, {"n": name, "t": timestamp})
        newest_first = await alarms.history(None, 10.0, 30.0)
        assert newest_first == [{"n": "a", "t": 20.0}, {"n": "b", "t": 20.0}, {"n": "a", "t": 10.0}]
        assert await alarms.history("a", 0.0, 100.0) == [
            {"n": "a", "t": 30.0},
            {"n": "a", "t": 20.0},
            {"n": "a", "t": 10.0},
        ]

    _run(adapter, tmp_path, request, body)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_billed_usage_adds_up_exactly(adapter: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    async def body(stores: dict[str, Any]) -> None:
        billing = stores["billing"]
        await billing.add({("2026-12", "f"): (1, 128), ("2026-12", "g"): (2, 10**15)})
        await billing.add({("2026-12", "f"): (3, 256)})
        await billing.add({})
        assert await stores["usage"]() == {("2026-12", "f"): (4, 384), ("2026-12", "g"): (2, 10**15)}

    _run(adapter, tmp_path, request, body)


def test_one_database_keeps_accounts_and_regions_apart(postgres: PostgresServer) -> None:
    async def main() -> None:
        database = PostgresDatabase(postgres.new_database())
        await database.open()
        try:
            here = PostgresMetricStore(database, "111111111111/us-east-1")
            there = PostgresMetricStore(database, "111111111111/eu-west-1")
            for store in (here, there):
                await store.open()
            await here.write({KEY: {T0: _aggregate(1)}}, {})
            assert await there.series() == [] and await there.read(KEY, 60, T0, T0 + 60) == {}
            assert len(await here.series()) == 1
            await there.prune(T0 + 10_000 * DAY)
            assert len(await here.series()) == 1  # another scope's prune leaves it alone
        finally:
            await database.close()

    asyncio.run(main())


def test_two_servers_merge_into_the_same_series(postgres: PostgresServer) -> None:
    """Two servers (each its own pool) writing the same periods at once lose no datapoint, and
    their migrations run once."""

    async def main() -> None:
        url = postgres.new_database()
        servers = [PostgresDatabase(url), PostgresDatabase(url)]
        await asyncio.gather(*(database.open() for database in servers))
        try:
            stores = [PostgresMetricStore(database, SCOPE) for database in servers]
            await asyncio.gather(*(store.open() for store in stores))

            async def writer(store: PostgresMetricStore, value: float) -> None:
                for _ in range(20):
                    await store.write({KEY: {T0: _aggregate(value)}, OTHER: {T0: _aggregate(value)}}, {})

            await asyncio.gather(writer(stores[0], 1.0), writer(stores[1], 2.0))
            for key in (KEY, OTHER):
                point = (await stores[0].read(key, 60, T0, T0 + 60))[T0]
                assert (point.count, point.total) == (40, 60.0)
        finally:
            await asyncio.gather(*(database.close() for database in servers))

    asyncio.run(main())


def test_metadata_scopes_and_layer_numbers_across_servers(postgres: PostgresServer) -> None:
    """Accounts and regions sharing one database see only their own functions; two servers asking
    for a layer's next version at once never get the same number."""
    from lamina.domain.code import CodeDigest
    from lamina.domain.functions import FunctionConfig
    from lamina.store.postgres.metadata import PostgresMetadataStore

    code = CodeDigest("ab" * 32, "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=", 1)

    async def main() -> None:
        url = postgres.new_database()
        first, second = (
            PostgresMetadataStore(url, "111111111111/us-east-1"),
            PostgresMetadataStore(url, "222222222222/us-east-1"),
        )
        same_as_first = PostgresMetadataStore(url, "111111111111/us-east-1")
        stores = (first, second, same_as_first)
        await asyncio.gather(*(store.open() for store in stores))
        try:
            await first.create_function(FunctionConfig("f", "python3.12", "app.handler", "role", code))
            assert [config.name for config in await same_as_first.list_functions()] == ["f"]
            assert await second.list_functions() == [] and await second.get_function("f") is None
            numbers = await asyncio.gather(
                *(store.next_layer_version("shared") for store in (first, same_as_first) for _ in range(10))
            )
            assert sorted(numbers) == list(range(1, 21))
            assert await second.next_layer_version("shared") == 1  # its own account's numbering
        finally:
            await asyncio.gather(*(store.close() for store in stores))

    asyncio.run(main())
