"""EnvironmentPool with a fake Backend: MRU reuse, revision isolation, keep-alive reaping, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import pytest

from lamina.domain.code import CodeDigest
from lamina.domain.functions import FunctionConfig
from lamina.execution.environment import EnvironmentState
from lamina.execution.pool import EnvironmentPool

T = TypeVar("T")
CODE = CodeDigest("ef" * 32, "7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+8=", 10)
KEEP_ALIVE = 10.0


@dataclass(eq=False)
class FakeEnvironment:
    """Duck-types ExecutionEnvironment: what the pool touches, with stop() calls recorded."""

    config: FunctionConfig
    label: str
    state: EnvironmentState = EnvironmentState.STARTING
    last_used: float = field(default_factory=time.monotonic)
    stop_calls: int = 0

    async def stop(self) -> None:
        self.stop_calls += 1
        self.state = EnvironmentState.STOPPED

    def __repr__(self) -> str:
        return f"<env {self.label} {self.state.name}>"


class FakeBackend:
    """Starts FakeEnvironments; `gate`, when set, holds every start until it is opened."""

    def __init__(self) -> None:
        self.started: list[FakeEnvironment] = []
        self.gate: asyncio.Event | None = None

    async def start_environment(self, config: FunctionConfig) -> FakeEnvironment:
        if self.gate is not None:
            await self.gate.wait()
        environment = FakeEnvironment(config, label=f"{config.name}#{len(self.started)}")
        self.started.append(environment)
        return environment


def function(name: str = "f", version: str = "$LATEST") -> FunctionConfig:
    return FunctionConfig(name, "python3.12", "app.handler", "role", CODE, version=version)


def run(
    scenario: Callable[[EnvironmentPool, FakeBackend], Awaitable[T]], keep_alive: float = KEEP_ALIVE
) -> T:
    async def main() -> T:
        backend = FakeBackend()
        pool = EnvironmentPool(backend, keep_alive)  # type: ignore[arg-type]
        try:
            return await scenario(pool, backend)
        finally:
            await pool.close()

    return asyncio.run(main())


async def settle() -> None:
    """Let the pool's background stop() tasks run."""
    for _ in range(3):
        await asyncio.sleep(0)


def stopped(environments: list[FakeEnvironment]) -> list[str]:
    return [environment.label for environment in environments if environment.stop_calls]


def test_acquire_starts_an_environment_when_none_is_idle() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        config = function()
        first = await pool.acquire(config)
        second = await pool.acquire(config)  # the first is busy
        assert backend.started == [first, second]
        assert first is not second
        assert first.state is second.state is EnvironmentState.BUSY
        assert first.config is config
        assert pool.environments == frozenset({first, second})

    run(scenario)


def test_released_environments_are_reused_most_recently_used_first() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        config = function()
        older, newer = await pool.acquire(config), await pool.acquire(config)
        pool.release(older, config)
        pool.release(newer, config)
        assert older.state is newer.state is EnvironmentState.IDLE
        assert await pool.acquire(config) is newer
        assert await pool.acquire(config) is older
        assert newer.state is older.state is EnvironmentState.BUSY
        assert len(backend.started) == 2
        await settle()
        assert stopped(backend.started) == []

    run(scenario)


def test_environments_are_not_shared_between_functions_or_versions() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        latest, published, other = function(), function(version="1"), function("g")
        environment = await pool.acquire(latest)
        pool.release(environment, latest)
        assert await pool.acquire(published) is not environment
        assert await pool.acquire(other) is not environment
        assert await pool.acquire(latest) is environment
        assert len(backend.started) == 3

    run(scenario)


def test_release_with_a_changed_configuration_stops_the_environment() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        config = function()
        environment = await pool.acquire(config)
        updated = config.with_changes(memory_size=256)
        pool.release(environment, updated)
        await settle()
        assert environment.stop_calls == 1
        assert environment not in pool.environments
        fresh = await pool.acquire(updated)
        assert fresh is not environment
        assert fresh.config is updated

    run(scenario)


def test_release_of_a_deleted_function_stops_the_environment() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        environment = await pool.acquire(function())
        pool.release(environment, None)
        await settle()
        assert environment.stop_calls == 1
        assert pool.environments == frozenset()

    run(scenario)


def test_a_stopped_environment_is_never_pooled() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        config = function()
        environment = await pool.acquire(config)
        environment.state = EnvironmentState.STOPPED  # e.g. it crashed or timed out
        pool.release(environment, config)
        await settle()
        assert environment not in pool.environments
        assert await pool.acquire(config) is not environment

    run(scenario)


def test_an_idle_environment_that_died_is_skipped() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        config = function()
        environment = await pool.acquire(config)
        pool.release(environment, config)
        environment.state = EnvironmentState.STOPPED
        replacement = await pool.acquire(config)
        assert replacement is not environment
        assert replacement.state is EnvironmentState.BUSY
        assert len(backend.started) == 2

    run(scenario)


def test_retire_stops_idle_environments_of_other_revisions_only() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        old = function()
        new = old.with_changes(timeout=30)
        neighbour = function("g")
        old_idle, old_busy = await pool.acquire(old), await pool.acquire(old)
        new_idle = await pool.acquire(new)
        neighbour_idle = await pool.acquire(neighbour)
        pool.release(old_idle, old)
        pool.release(new_idle, new)
        pool.release(neighbour_idle, neighbour)
        pool.retire("f", keep=new)
        await settle()
        assert stopped(backend.started) == [old_idle.label]
        assert old_busy.stop_calls == 0  # busy: stopped when it is released
        assert await pool.acquire(new) is new_idle
        assert await pool.acquire(neighbour) is neighbour_idle
        pool.release(old_busy, new)
        await settle()
        assert old_busy.stop_calls == 1

    run(scenario)


def test_retire_without_keep_stops_every_idle_environment_of_the_function() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        config, other = function(), function("other")
        environments = [await pool.acquire(config) for _ in range(3)]
        kept = await pool.acquire(other)
        for environment in environments:
            pool.release(environment, config)
        pool.release(kept, other)
        pool.retire("f")
        await settle()
        assert stopped(backend.started) == [environment.label for environment in environments]
        assert pool.environments == frozenset({kept})

    run(scenario)


def test_reap_idle_stops_only_environments_idle_past_the_keep_alive() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        config = function()
        fresh, expired, boundary, busy = [await pool.acquire(config) for _ in range(4)]
        for environment, last_used in [(fresh, 1000.5), (expired, 980.0), (boundary, 1000.0)]:
            environment.last_used = last_used
            pool.release(environment, config)
        busy.last_used = 0.0  # busy environments are never reaped, however old
        pool.reap_idle(1000.0 + KEEP_ALIVE)  # idle for exactly the keep-alive counts as expired
        await settle()
        assert stopped(backend.started) == [expired.label, boundary.label]
        assert pool.environments == frozenset({fresh, busy})
        assert await pool.acquire(config) is fresh
        pool.reap_idle(10_000.0)
        await settle()
        assert busy.stop_calls == 0

    run(scenario)


def test_reap_idle_with_nothing_expired_keeps_everything() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        config = function()
        environment = await pool.acquire(config)
        pool.release(environment, config)
        pool.reap_idle(environment.last_used + KEEP_ALIVE / 2)
        await settle()
        assert environment.stop_calls == 0
        assert await pool.acquire(config) is environment

    run(scenario)


def test_the_background_reaper_stops_expired_environments() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        pool.start()
        config = function()
        environment = await pool.acquire(config)
        pool.release(environment, config)
        environment.last_used = time.monotonic() - 60
        for _ in range(100):
            if environment.stop_calls:
                break
            await asyncio.sleep(0.01)
        assert environment.stop_calls == 1
        assert pool.environments == frozenset()

    run(scenario, keep_alive=0.2)


def test_close_stops_everything_including_busy_environments() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        pool.start()
        config = function()
        busy, idle = await pool.acquire(config), await pool.acquire(config)
        pool.release(idle, config)
        await pool.close()
        assert (busy.stop_calls, idle.stop_calls) == (1, 1)
        assert busy.state is idle.state is EnvironmentState.STOPPED
        assert pool.environments == frozenset()
        with pytest.raises(RuntimeError, match="pool is closed"):
            await pool.acquire(config)
        assert len(backend.started) == 2
        pool.release(busy, config)  # a late release after shutdown is not pooled
        await settle()
        assert pool.environments == frozenset()

    run(scenario)


def test_close_waits_for_stops_already_under_way() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        config = function()
        environment = await pool.acquire(config)
        pool.release(environment, None)  # schedules a stop in the background
        await pool.close()
        assert environment.stop_calls == 1

    run(scenario)


def test_an_environment_started_during_close_is_stopped() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        backend.gate = asyncio.Event()
        acquiring = asyncio.create_task(pool.acquire(function()))
        await settle()
        await pool.close()
        backend.gate.set()
        with contextlib.suppress(RuntimeError):  # refusing the late acquire is fine too
            await acquiring
        await settle()
        [environment] = backend.started
        assert environment.stop_calls == 1
        assert pool.environments == frozenset()

    run(scenario)


def test_updating_latest_keeps_warm_environments_of_published_versions() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        latest = function()
        published = function(version="1")
        latest_env = await pool.acquire(latest)
        version_env = await pool.acquire(published)
        pool.release(latest_env, latest)  # type: ignore[arg-type]
        pool.release(version_env, published)  # type: ignore[arg-type]
        pool.retire(latest.name, keep=latest.with_changes(memory_size=256))
        await settle()
        assert (latest_env.stop_calls, version_env.stop_calls) == (1, 0)
        assert await pool.acquire(published) is version_env

    run(scenario)
