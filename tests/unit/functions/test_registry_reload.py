"""A reload (another server sharing the database changed something) must not undo what this
process wrote while the reload was reading: found by CI, where a function created during a reload
vanished from the cache, its settler found it gone, and it stayed Pending for good."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from lamina.domain import lifecycle
from lamina.domain.aliases import Alias
from lamina.domain.code import CodeDigest
from lamina.domain.functions import FunctionConfig
from lamina.functions.registry import FunctionRegistry
from lamina.store.sqlite import SqliteMetadataStore

CODE = CodeDigest("ab" * 32, "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=", 10)


class PausedReads(SqliteMetadataStore):
    """A store whose listing of functions, once armed, waits until the test lets it go on: the
    reload's snapshot is taken, and then this process writes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.armed = False
        self.listed = asyncio.Event()
        self.go_on = asyncio.Event()

    async def list_functions(self) -> list[FunctionConfig]:
        snapshot = await super().list_functions()
        if self.armed:
            self.armed = False
            self.listed.set()
            await self.go_on.wait()
        return snapshot


def function(name: str) -> FunctionConfig:
    return lifecycle.pending(FunctionConfig(name, "python3.12", "app.handler", "role", CODE))


def during_a_reload(
    tmp_path: Path,
    before: Callable[[FunctionRegistry], Awaitable[None]],
    meanwhile: Callable[[FunctionRegistry], Awaitable[None]],
) -> FunctionRegistry:
    async def main() -> FunctionRegistry:
        store = PausedReads(tmp_path / "metadata.db")
        await store.open()
        try:
            registry = FunctionRegistry(store)
            await registry.load()
            await before(registry)
            store.armed = True
            reload = asyncio.create_task(registry.reload())
            await store.listed.wait()
            await meanwhile(registry)
            store.go_on.set()
            await reload
            return registry
        finally:
            await store.close()

    return asyncio.run(main())


async def nothing(registry: FunctionRegistry) -> None:
    return None


def test_a_function_created_while_a_reload_reads_is_kept(tmp_path: Path) -> None:
    async def create(registry: FunctionRegistry) -> None:
        assert await registry.create(function("made-meanwhile"))

    registry = during_a_reload(tmp_path, nothing, create)
    assert registry.latest("made-meanwhile") is not None
    assert registry.names() == ["made-meanwhile"]


def test_a_function_deleted_while_a_reload_reads_stays_deleted(tmp_path: Path) -> None:
    async def create(registry: FunctionRegistry) -> None:
        assert await registry.create(function("doomed"))
        assert await registry.create(function("kept"))

    async def delete(registry: FunctionRegistry) -> None:
        assert await registry.delete("doomed")

    registry = during_a_reload(tmp_path, create, delete)
    assert registry.names() == ["kept"]


def test_a_state_settled_while_a_reload_reads_is_not_rolled_back(tmp_path: Path) -> None:
    async def create(registry: FunctionRegistry) -> None:
        assert await registry.create(function("settling"))
        assert await registry.add_version(replace(function("settling"), version="1"))

    async def settle(registry: FunctionRegistry) -> None:
        for config in (registry.latest("settling"), registry.version("settling", "1")):
            assert config is not None
            await registry.put_state(lifecycle.settled(config))
        await registry.put_alias(Alias("settling", "live", "1"))

    registry = during_a_reload(tmp_path, create, settle)
    latest, published = registry.latest("settling"), registry.version("settling", "1")
    assert latest is not None and latest.state == "Active"
    assert published is not None and published.state == "Active"
    assert registry.alias("settling", "live") is not None


def test_what_another_server_wrote_reaches_the_cache(tmp_path: Path) -> None:
    """The merge keeps only this process's names: another server's new function still arrives."""

    async def another_server_creates(registry: FunctionRegistry) -> None:
        await registry._store.create_function(function("from-elsewhere"))

    async def create(registry: FunctionRegistry) -> None:
        assert await registry.create(function("made-here"))

    registry = during_a_reload(tmp_path, another_server_creates, create)
    assert registry.names() == ["from-elsewhere", "made-here"]
