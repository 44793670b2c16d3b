"""The pool's memory budget with a fake Backend: costs, LRU eviction across functions, no overshoot
under concurrent starts, refusing or waiting when everything is busy."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from tests.support.fake_backend import FakeBackend, FakeEnvironment, function, settle, stopped, until

from lamina.execution.counts import LocalCounts
from lamina.execution.environment import EnvironmentState
from lamina.execution.pool import EnvironmentPool, FixedKeepAlive, MemoryBudget, MemoryBudgetExhausted
from lamina.execution.pool.budget import default_memory_budget_mb, machine_memory_mb

T = TypeVar("T")


def run(scenario: Callable[[EnvironmentPool, FakeBackend], Awaitable[T]], budget_mb: int = 384) -> T:
    async def main() -> T:
        backend = FakeBackend()
        pool = EnvironmentPool(backend, FixedKeepAlive(600), MemoryBudget(budget_mb))  # type: ignore[arg-type]
        try:
            return await scenario(pool, backend)
        finally:
            await pool.close()

    return asyncio.run(main())


# the budget itself ----------------------------------------------------------------------------
def test_budget_reserves_only_what_fits_and_releases_it() -> None:
    budget = MemoryBudget(256)
    assert budget.try_reserve(128) and budget.try_reserve(128)
    assert not budget.try_reserve(1)
    assert (budget.used_mb, budget.available_mb) == (256, 0)
    budget.release(128)
    assert budget.available_mb == 128
    with pytest.raises(RuntimeError):
        budget.release(256)
    with pytest.raises(ValueError):
        MemoryBudget(0)


def test_default_budget_is_a_share_of_memtotal(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16384000 kB\nMemFree:         1000 kB\n")
    assert machine_memory_mb(meminfo) == 16000
    assert default_memory_budget_mb(0.5, machine_mb=16000) == 8000
    assert default_memory_budget_mb(0.25, machine_mb=16000) == 4000
    assert machine_memory_mb(tmp_path / "missing") is None or machine_memory_mb(tmp_path / "missing") > 0


# costs and eviction ---------------------------------------------------------------------------
def test_each_environment_costs_its_memory_size_until_it_stops() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        small, large = function("small"), function("large", memory_size=256)
        first = await pool.acquire(small)
        second = await pool.acquire(large)
        assert pool.usage().used_mb == 384
        assert (pool.usage().busy, pool.usage().idle) == (2, 0)
        pool.release(first, small)
        assert (pool.usage().used_mb, pool.usage().busy, pool.usage().idle) == (384, 1, 1)
        pool.release(second, None)  # deleted function: stopped, its memory is free again
        await settle()
        assert second.stop_calls == 1
        assert pool.usage().used_mb == 128
        pool.retire("small")
        assert pool.usage().used_mb == 0

    run(scenario)


def test_a_new_environment_evicts_idle_ones_least_recently_used_first_across_functions() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        f, g, h = function("f"), function("g"), function("h")
        env_f, env_g, env_h = await pool.acquire(f), await pool.acquire(g), await pool.acquire(h)
        pool.release(env_g, g)  # least recently used
        pool.release(env_f, f)
        pool.release(env_h, h)  # most recently used
        await pool.acquire(function("k"))
        await settle()
        assert stopped(backend.started) == [env_g.label]
        await pool.acquire(function("m"))
        await settle()
        assert stopped(backend.started) == [env_f.label, env_g.label]
        assert await pool.acquire(h) is env_h  # the most recent one is still warm
        assert pool.usage().used_mb == 384

    run(scenario)


def test_reuse_refreshes_an_environment_in_the_eviction_order() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        f, g = function("f"), function("g")
        env_f, env_g = await pool.acquire(f), await pool.acquire(g)
        pool.release(env_f, f)
        pool.release(env_g, g)
        assert await pool.acquire(f) is env_f  # f is used again: g is now the least recent
        pool.release(env_f, f)
        await pool.acquire(function("k"))
        await settle()
        assert stopped(backend.started) == [env_g.label]
        await pool.acquire(function("m"))  # needs a second eviction
        await settle()
        assert stopped(backend.started) == [env_f.label, env_g.label]

    run(scenario, budget_mb=256)


def test_eviction_stops_only_as_many_environments_as_needed() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        small_a, small_b, large = function("a"), function("b"), function("c", memory_size=256)
        environments = [await pool.acquire(config) for config in (small_a, small_b, large)]
        for environment in environments:
            pool.release(environment, environment.config)
        await pool.acquire(function("d", memory_size=256))
        await settle()
        assert stopped(backend.started) == [environments[0].label, environments[1].label]
        assert pool.usage().used_mb == 512

    run(scenario, budget_mb=512)


def test_evicted_environments_are_stopped_before_the_new_one_starts() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        old = await pool.acquire(function("old"))
        pool.release(old, old.config)
        backend.gate = asyncio.Event()
        acquiring = asyncio.create_task(pool.acquire(function("new")))
        await until(lambda: backend.waiting == 1)
        assert old.stop_calls == 1
        backend.gate.set()
        assert (await acquiring).config.name == "new"

    run(scenario, budget_mb=128)


def test_nothing_is_evicted_when_evicting_everything_would_not_make_room() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        await pool.acquire(function("busy", memory_size=256))
        idle = await pool.acquire(function("idle"))
        pool.release(idle, idle.config)
        with pytest.raises(MemoryBudgetExhausted) as failure:
            await pool.acquire(function("big", memory_size=256))
        await settle()
        assert idle.stop_calls == 0
        assert await pool.acquire(idle.config) is idle
        assert (failure.value.needed_mb, failure.value.used_mb, failure.value.total_mb) == (256, 384, 384)
        assert not failure.value.never_fits

    run(scenario)


# when everything is busy ------------------------------------------------------------------------
def test_acquire_refuses_when_every_environment_is_busy() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        busy = [await pool.acquire(function(name)) for name in ("a", "b", "c")]
        with pytest.raises(MemoryBudgetExhausted, match="384 of 384 MB are in use"):
            await pool.acquire(function("d"))
        assert len(backend.started) == 3
        assert pool.usage().used_mb == 384
        assert all(environment.state is EnvironmentState.BUSY for environment in busy)

    run(scenario)


def test_concurrent_acquires_never_overshoot_the_budget() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        backend.gate = asyncio.Event()
        attempts = [asyncio.create_task(pool.acquire(function(f"fn{index}"))) for index in range(5)]
        await until(lambda: backend.waiting == 2)
        await settle()
        assert pool.usage().used_mb == 256  # two starts hold reservations while they await
        assert pool.usage().starting == 2
        refused = [task for task in attempts if task.done()]
        assert len(refused) == 3
        assert all(isinstance(task.exception(), MemoryBudgetExhausted) for task in refused)
        backend.gate.set()
        started = [await task for task in attempts if task not in refused]
        assert len(started) == len(backend.started) == 2
        assert pool.usage().used_mb == 256

    run(scenario, budget_mb=256)


def test_a_failed_start_gives_its_reservation_back() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        backend.fail = OSError("no such interpreter")
        with pytest.raises(OSError):
            await pool.acquire(function())
        assert pool.usage().used_mb == 0
        assert pool.usage().starting == 0
        backend.fail = None
        await pool.acquire(function())
        assert pool.usage().used_mb == 128

    run(scenario, budget_mb=128)


def test_a_waiting_acquire_runs_once_an_environment_is_released() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        busy = await pool.acquire(function("busy"))
        waiting = asyncio.create_task(pool.acquire(function("queued"), wait=True))
        await settle()
        assert not waiting.done()
        assert len(backend.started) == 1
        pool.release(busy, busy.config)  # now idle, so evictable
        environment = await waiting
        assert environment.config.name == "queued"
        await settle()
        assert busy.stop_calls == 1
        assert pool.usage().used_mb == 128

    run(scenario, budget_mb=128)


def test_a_waiting_acquire_reuses_its_own_function_when_one_frees_up() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        config = function()
        busy = await pool.acquire(config)
        waiting = asyncio.create_task(pool.acquire(config, wait=True))
        await settle()
        pool.release(busy, config)
        assert await waiting is busy
        assert len(backend.started) == 1

    run(scenario, budget_mb=128)


def test_a_waiting_acquire_runs_once_a_busy_environment_stops() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        busy = await pool.acquire(function("busy"))
        waiting = asyncio.create_task(pool.acquire(function("queued"), wait=True))
        await settle()
        busy.state = EnvironmentState.STOPPED  # it crashed
        pool.release(busy, busy.config)
        assert (await waiting).config.name == "queued"

    run(scenario, budget_mb=128)


def test_a_function_larger_than_the_whole_budget_never_waits() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        with pytest.raises(MemoryBudgetExhausted, match="more than the whole memory budget") as failure:
            await pool.acquire(function(memory_size=512), wait=True)
        assert failure.value.never_fits

    run(scenario, budget_mb=256)


def test_close_wakes_waiting_acquires() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        await pool.acquire(function("busy"))
        waiting = asyncio.create_task(pool.acquire(function("queued"), wait=True))
        await settle()
        await pool.close()
        with pytest.raises(RuntimeError, match="pool is closed"):
            await waiting

    run(scenario, budget_mb=128)


def test_an_idle_environment_that_died_gives_its_memory_back() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        config = function()
        environment: FakeEnvironment = await pool.acquire(config)  # type: ignore[assignment]
        pool.release(environment, config)
        environment.state = EnvironmentState.STOPPED
        pool.reap_idle(environment.last_used)  # long before its keep-alive ends
        assert pool.usage().used_mb == 0
        assert pool.environments == frozenset()

    run(scenario, budget_mb=128)


# idle environments cost their footprint ---------------------------------------------------------
def test_an_idle_environment_is_charged_its_footprint_not_its_memory_size() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        backend.resident_mb = 5
        config = function("a")
        idle_one = await pool.acquire(config)
        pool.release(idle_one, config)
        assert pool.usage().used_mb == 5
        busy = [await pool.acquire(function(name)) for name in ("b", "c")]
        assert pool.usage().used_mb == 261  # two busy at MemorySize, one idle at its footprint
        assert idle_one.stop_calls == 0  # it fit next to them: nothing was evicted
        await pool.acquire(function("d"))  # 123 MB free: the idle one goes, LRU as before
        await settle()
        assert idle_one.stop_calls == 1
        assert pool.usage().used_mb == 384
        assert all(environment.stop_calls == 0 for environment in busy)

    run(scenario)


def test_reusing_an_idle_environment_charges_its_memory_size_again() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        backend.resident_mb = 5
        config = function("a")
        first = await pool.acquire(config)
        pool.release(first, config)
        await pool.acquire(function("b"))
        assert pool.usage().used_mb == 133
        again = await pool.acquire(config)
        assert again is first and len(backend.started) == 2  # warm reuse, no new start
        assert pool.usage().used_mb == 256

    run(scenario, budget_mb=256)


def test_reuse_evicts_other_idle_environments_when_it_needs_room() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        backend.resident_mb = 5
        a, b = function("a"), function("b")
        env_a = await pool.acquire(a)
        env_b = await pool.acquire(b)
        pool.release(env_b, b)
        pool.release(env_a, a)
        await pool.acquire(function("c"))  # 128 busy + 5 + 5 idle
        assert await pool.acquire(a) is env_a  # needs 123 more: only evicting b makes that room
        await settle()
        assert env_b.stop_calls == 1
        assert pool.usage().used_mb == 256

    run(scenario, budget_mb=256)


def test_reuse_that_cannot_fit_refuses_and_keeps_the_environment_warm() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        backend.resident_mb = 5
        a = function("a")
        env_a = await pool.acquire(a)
        pool.release(env_a, a)
        await pool.acquire(function("b", memory_size=200))  # 205 of 256 used, nothing else idle
        with pytest.raises(MemoryBudgetExhausted):
            await pool.acquire(a)
        assert env_a.stop_calls == 0 and pool.usage().idle == 1
        assert pool.usage().used_mb == 205

    run(scenario, budget_mb=256)


# pools of several accounts sharing one budget ---------------------------------------------------
def test_a_pool_short_of_room_evicts_idle_environments_of_other_accounts_pools() -> None:
    async def main() -> None:
        budget = MemoryBudget(256)
        backend_a, backend_b = FakeBackend(), FakeBackend()
        pool_a = EnvironmentPool(backend_a, FixedKeepAlive(600), budget)  # type: ignore[arg-type]
        pool_b = EnvironmentPool(backend_b, FixedKeepAlive(600), budget)  # type: ignore[arg-type]
        try:
            idle_b = [await pool_b.acquire(function(name)) for name in ("b1", "b2")]
            for environment in idle_b:
                pool_b.release(environment, environment.config)
            assert budget.available_mb == 0
            own = await pool_a.acquire(function("a1"))  # only account B's idle environments can make room
            await settle()
            assert stopped(backend_b.started) == [idle_b[0].label]
            assert own.config.name == "a1"
            assert (pool_a.usage().busy, pool_b.usage().idle) == (1, 1)
        finally:
            await pool_a.close()
            await pool_b.close()

    asyncio.run(main())


def test_a_pool_waiting_for_room_wakes_when_another_accounts_pool_frees_memory() -> None:
    async def main() -> None:
        budget = MemoryBudget(128)
        pool_a = EnvironmentPool(FakeBackend(), FixedKeepAlive(600), budget)  # type: ignore[arg-type]
        pool_b = EnvironmentPool(FakeBackend(), FixedKeepAlive(600), budget)  # type: ignore[arg-type]
        try:
            busy_b = await pool_b.acquire(function("b"))
            waiting = asyncio.create_task(pool_a.acquire(function("a"), wait=True))
            await settle()
            assert not waiting.done()
            pool_b.release(busy_b, None)  # deleted: stopped, its memory given back
            environment = await asyncio.wait_for(waiting, 5)
            assert environment.config.name == "a"
        finally:
            await pool_a.close()
            await pool_b.close()

    asyncio.run(main())


class _RacedCounts(LocalCounts):
    """Another worker reserves `taken_mb` between a pool's look at what is free and its reservation
    (each worker is a process of its own: nothing orders the two)."""

    def __init__(self) -> None:
        super().__init__()
        self.taken_mb = 0  # set: the next reservation finds this much taken by another worker

    def try_add(self, key: str, amount: int, limit: int) -> bool:
        if self.taken_mb:
            self.set_elsewhere(key, self.taken_mb)
            self.taken_mb = 0
        return super().try_add(key, amount, limit)


def test_room_another_worker_took_meanwhile_is_a_clear_refusal_not_a_crash() -> None:
    """(Found in CI with --workers 2: an assertion failed and the call answered 500.)"""

    async def main() -> None:
        backend = FakeBackend()
        counts = _RacedCounts()
        pool = EnvironmentPool(backend, FixedKeepAlive(600), MemoryBudget(384, counts))  # type: ignore[arg-type]
        try:
            idle = await pool.acquire(function("f"))
            pool.release(idle, function("f"))
            counts.taken_mb = 256  # looked free to the pool (256 + its idle 128), then taken
            with pytest.raises(MemoryBudgetExhausted):
                await pool.acquire(function("big", memory_size=256))
        finally:
            await pool.close()

    asyncio.run(main())
