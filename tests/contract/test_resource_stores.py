"""The event services' port, ResourceStore (SQLite, PostgreSQL): each adapter held to the contracts
`store/resource_ports.py` states."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from lamina.store.postgres.resources import PostgresResourceStore
from lamina.store.resource_ports import ResourceKey, ResourceStore, Write
from lamina.store.sqlite.resources import SqliteResourceStore
from tests.support.postgres import PostgresServer

ACCOUNT = "111111111111"
REGION = "us-east-1"
RULE = "events/rule"
# Names whose byte order differs from a locale-aware order, some holding a "/" (a bus's rules).
NAMES = ["zeta", "alpha", "Beta", "alpha-2", "alpha_2", "alpha.x", "alpha2", "_x", "bus/alpha", "bus/Zed"]

Location = tuple[str, str]
Runner = Callable[[Callable[[ResourceStore], Awaitable[None]]], None]


def key(name: str, kind: str = RULE, account: str = ACCOUNT, region: str = REGION) -> ResourceKey:
    return ResourceKey(kind, account, region, name)


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    if request.param == "sqlite":
        return ("sqlite", str(tmp_path / "resources.db"))
    server: PostgresServer = request.getfixturevalue("postgres")
    return ("postgres", server.new_database())


@asynccontextmanager
async def _opened(location: Location) -> AsyncIterator[ResourceStore]:
    adapter, where = location
    store: ResourceStore = (
        SqliteResourceStore(Path(where)) if adapter == "sqlite" else PostgresResourceStore(where)
    )
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def with_store(location: Location) -> Runner:
    def run(body: Callable[[ResourceStore], Awaitable[None]]) -> None:
        async def main() -> None:
            async with _opened(location) as store:
                await body(store)

        asyncio.run(main())

    return run


def test_create_is_refused_for_an_existing_key(with_store: Runner) -> None:
    async def body(store: ResourceStore) -> None:
        assert await store.create(key("r"), {"v": 1})
        assert not await store.create(key("r"), {"v": 2})
        assert await store.get(key("r")) == {"v": 1}
        # The same name under another kind, account or region is another resource.
        assert await store.create(key("r", kind="events/bus"), {"v": 3})
        assert await store.create(key("r", account="222222222222"), {"v": 4})
        assert await store.create(key("r", region="eu-west-1"), {"v": 5})
        assert await store.get(key("r")) == {"v": 1}

    with_store(body)


def test_list_is_in_byte_order_and_filters_by_prefix(with_store: Runner) -> None:
    async def body(store: ResourceStore) -> None:
        await store.apply([Write(key(name), {"name": name}) for name in NAMES])
        await store.apply([Write(key("other", account="222222222222"), {"name": "other"})])
        listed = await store.list_in(RULE, ACCOUNT, REGION)
        assert [name for name, _ in listed] == sorted(NAMES, key=lambda name: name.encode())
        assert [name for name, _ in await store.list_in(RULE, ACCOUNT, REGION, "alpha")] == [
            "alpha",
            "alpha-2",
            "alpha.x",
            "alpha2",
            "alpha_2",
        ]
        assert [name for name, _ in await store.list_in(RULE, ACCOUNT, REGION, "bus/")] == [
            "bus/Zed",
            "bus/alpha",
        ]
        # LIKE's wildcards are plain characters in a prefix.
        assert await store.list_in(RULE, ACCOUNT, REGION, "alpha%") == []
        assert await store.list_in(RULE, ACCOUNT, REGION, "_") == [("_x", {"name": "_x"})]
        every = await store.list_kind(RULE)
        assert len(every) == len(NAMES) + 1
        assert every[-1] == (key("other", account="222222222222"), {"name": "other"})

    with_store(body)


def test_apply_puts_replaces_and_deletes_together(with_store: Runner) -> None:
    async def body(store: ResourceStore) -> None:
        await store.apply([Write(key("a"), {"v": 1}), Write(key("b"), {"v": 1})])
        await store.apply([Write(key("a"), {"v": 2}), Write(key("b"), None), Write(key("c"), {"v": 1})])
        assert await store.list_in(RULE, ACCOUNT, REGION) == [("a", {"v": 2}), ("c", {"v": 1})]
        await store.apply([Write(key("missing"), None)])  # deleting what is not there is no error
        assert await store.get(key("b")) is None

    with_store(body)


def test_a_failed_apply_changes_nothing(with_store: Runner) -> None:
    async def body(store: ResourceStore) -> None:
        await store.apply([Write(key("a"), {"v": 1})])
        unserialisable = {"v": object()}
        with pytest.raises(TypeError):
            await store.apply([Write(key("a"), {"v": 2}), Write(key("b"), unserialisable)])
        assert await store.get(key("a")) == {"v": 1}
        assert await store.get(key("b")) is None

    with_store(body)


def test_documents_survive_a_reopen(location: Location) -> None:
    async def main() -> None:
        async with _opened(location) as store:
            await store.apply([Write(key("kept"), {"nested": {"list": [1, "two", None]}, "text": "é ✓"})])
        async with _opened(location) as store:
            assert await store.get(key("kept")) == {"nested": {"list": [1, "two", None]}, "text": "é ✓"}

    asyncio.run(main())
