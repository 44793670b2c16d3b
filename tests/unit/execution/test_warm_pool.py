"""EnvironmentPool with a fake Backend: MRU reuse, revision isolation, keep-alive reaping and
pre-warming as a policy decides, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from tests.support.fake_backend import FakeBackend, function, settle, stopped

from lamina.domain.functions import FunctionConfig
from lamina.execution.environment import EnvironmentState
from lamina.execution.pool import (
    EnvironmentPool,
    FixedKeepAlive,
    KeepAlivePolicy,
    KeepAliveWindows,
    MemoryBudget,
)
from lamina.execution.pool.keep_alive import FunctionKey

T = TypeVar("T")
KEEP_ALIVE = 10.0
UNLIMITED_MB = 1_000_000


def run(
    scenario: Callable[[EnvironmentPool, FakeBackend], Awaitable[T]], keep_alive: float = KEEP_ALIVE
) -> T:
    async def main() -> T:
        backend = FakeBackend()
        pool = EnvironmentPool(
            backend,  # type: ignore[arg-type]
            FixedKeepAlive(keep_alive),
            MemoryBudget(UNLIMITED_MB),
            tick_seconds=max(0.05, keep_alive / 4),
        )
        try:
            return await scenario(pool, backend)
        finally:
            await pool.close()

    return asyncio.run(main())


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


def test_idle_environments_are_replaced_before_their_credentials_expire() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        config = function()
        expiring, fresh, unknown = [await pool.acquire(config) for _ in range(3)]
        expiring.credentials_expire_at = time.time() + 60  # within the refresh margin
        fresh.credentials_expire_at = time.time() + 3 * 3600
        for environment in (expiring, fresh, unknown):
            environment.last_used = 1000.0
            pool.release(environment, config)
        pool.reap_idle(1000.0)  # nobody's keep-alive has passed
        await settle()
        assert stopped(backend.started) == [expiring.label]
        assert pool.environments == frozenset({fresh, unknown})

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


# keep-alive policies and pre-warming ------------------------------------------------------------
class ScriptedPolicy(KeepAlivePolicy):
    """Windows per function name, and a record of what the pool reported."""

    name = "scripted"

    def __init__(self, windows: dict[str, KeepAliveWindows]) -> None:
        self._windows = windows
        self.records: list[tuple[str, str, float]] = []

    def record_invocation(self, function: FunctionKey, now: float) -> None:
        self.records.append(("start", function[0], now))

    def record_completion(self, function: FunctionKey, now: float) -> None:
        self.records.append(("end", function[0], now))

    def windows(self, function: FunctionKey) -> KeepAliveWindows:
        return self._windows.get(function[0], KeepAliveWindows(0.0, KEEP_ALIVE))


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def run_with_policy(
    policy: KeepAlivePolicy,
    scenario: Callable[[EnvironmentPool, FakeBackend, Clock], Awaitable[T]],
    budget_mb: int = UNLIMITED_MB,
) -> T:
    async def main() -> T:
        backend, clock = FakeBackend(), Clock()
        pool = EnvironmentPool(backend, policy, MemoryBudget(budget_mb), clock=clock)  # type: ignore[arg-type]
        try:
            return await scenario(pool, backend, clock)
        finally:
            await pool.close()

    return asyncio.run(main())


PREWARMED = ScriptedPolicy({"f": KeepAliveWindows(prewarm_seconds=60.0, keep_alive_seconds=30.0)})


async def invoke_once(
    pool: EnvironmentPool, clock: Clock, config: FunctionConfig, start: float, end: float
) -> Any:
    clock.now = start
    environment = await pool.acquire(config)
    clock.now = environment.last_used = end
    pool.release(environment, config)
    return environment


def test_the_pool_reports_invocations_to_the_policy_on_its_clock() -> None:
    policy = ScriptedPolicy({})

    async def scenario(pool: EnvironmentPool, backend: FakeBackend, clock: Clock) -> None:
        await invoke_once(pool, clock, function(), 100.0, 105.0)
        assert policy.records == [("start", "f", 100.0), ("end", "f", 105.0)]

    run_with_policy(policy, scenario)


def test_idle_environments_expire_when_the_policy_says() -> None:
    policy = ScriptedPolicy({"f": KeepAliveWindows(0.0, 30.0), "g": KeepAliveWindows(0.0, 300.0)})

    async def scenario(pool: EnvironmentPool, backend: FakeBackend, clock: Clock) -> None:
        short = await invoke_once(pool, clock, function("f"), 990.0, 1000.0)
        long = await invoke_once(pool, clock, function("g"), 990.0, 1000.0)
        pool.reap_idle(1030.0)
        await settle()
        assert (short.stop_calls, long.stop_calls) == (1, 0)

    run_with_policy(policy, scenario)


def test_with_a_prewarm_window_the_environment_is_unloaded_then_prewarmed() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend, clock: Clock) -> None:
        config = function()
        first = await invoke_once(pool, clock, config, 0.0, 10.0)
        pool.reap_idle(10.0)  # unloaded right after the invocation
        await settle()
        assert first.stop_calls == 1
        assert pool.usage().used_mb == 0
        pool.start_due_prewarms(69.0)
        await settle()
        assert len(backend.started) == 1
        pool.start_due_prewarms(70.0)  # 60 s after the end
        await settle()
        [_, prewarmed] = backend.started
        assert prewarmed.state is EnvironmentState.IDLE
        assert prewarmed.config is config
        assert (pool.usage().idle, pool.usage().used_mb) == (1, 128)
        pool.reap_idle(99.0)  # stays until 10 + 60 + 30
        await settle()
        assert prewarmed.stop_calls == 0
        clock.now = 95.0
        assert await pool.acquire(config) is prewarmed  # a warm start
        assert len(backend.started) == 2

    run_with_policy(PREWARMED, scenario)


def test_an_unused_prewarmed_environment_stops_at_the_end_of_its_window() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend, clock: Clock) -> None:
        await invoke_once(pool, clock, function(), 0.0, 10.0)
        pool.reap_idle(10.0)
        pool.start_due_prewarms(70.0)
        await settle()
        prewarmed = backend.started[1]
        pool.reap_idle(100.0)
        await settle()
        assert prewarmed.stop_calls == 1
        assert pool.usage().used_mb == 0

    run_with_policy(PREWARMED, scenario)


def test_prewarming_uses_the_latest_configuration() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend, clock: Clock) -> None:
        config = function()
        environment = await pool.acquire(config)
        updated = config.with_changes(timeout=30)
        clock.now = 10.0
        pool.release(environment, updated)  # changed while it ran: this one is stopped
        newer = updated.with_changes(timeout=60)
        pool.retire("f", keep=newer)
        pool.start_due_prewarms(70.0)
        await settle()
        assert backend.started[-1].config is newer

    run_with_policy(PREWARMED, scenario)


def test_no_prewarm_while_the_function_has_an_environment() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend, clock: Clock) -> None:
        config = function()
        busy = await pool.acquire(config)
        await invoke_once(pool, clock, config, 0.0, 10.0)
        pool.start_due_prewarms(70.0)
        await settle()
        assert len(backend.started) == 2
        assert busy.state is EnvironmentState.BUSY

    run_with_policy(PREWARMED, scenario)


def test_an_invocation_cancels_the_pending_prewarm() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend, clock: Clock) -> None:
        config = function()
        first = await invoke_once(pool, clock, config, 0.0, 10.0)
        clock.now = 20.0
        assert await pool.acquire(config) is first  # came before the tick unloaded it
        pool.start_due_prewarms(70.0)
        await settle()
        assert len(backend.started) == 1

    run_with_policy(PREWARMED, scenario)


def test_deleting_a_function_drops_its_prewarm() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend, clock: Clock) -> None:
        await invoke_once(pool, clock, function(), 0.0, 10.0)
        pool.retire("f")
        pool.start_due_prewarms(70.0)
        await settle()
        assert len(backend.started) == 1

    run_with_policy(PREWARMED, scenario)


def test_prewarming_only_uses_free_memory_and_never_evicts() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend, clock: Clock) -> None:
        await invoke_once(pool, clock, function("f"), 0.0, 10.0)
        pool.reap_idle(10.0)
        other = await invoke_once(pool, clock, function("g"), 11.0, 12.0)  # fills the budget
        pool.start_due_prewarms(70.0)
        await settle()
        assert len(backend.started) == 2
        assert other.stop_calls == 0

    run_with_policy(PREWARMED, scenario, budget_mb=128)


def test_the_background_tick_unloads_and_prewarms() -> None:
    policy = ScriptedPolicy({"f": KeepAliveWindows(prewarm_seconds=0.01, keep_alive_seconds=60.0)})

    async def main() -> None:
        backend = FakeBackend()
        pool = EnvironmentPool(backend, policy, MemoryBudget(UNLIMITED_MB), tick_seconds=0.01)  # type: ignore[arg-type]
        pool.start()
        try:
            config = function()
            first = await pool.acquire(config)
            pool.release(first, config)
            for _ in range(500):
                if first.stop_calls and len(backend.started) == 2:
                    break
                await asyncio.sleep(0.01)
            assert first.stop_calls == 1
            assert backend.started[1].state is EnvironmentState.IDLE
        finally:
            await pool.close()

    asyncio.run(main())
