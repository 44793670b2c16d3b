"""Provisioned concurrency in the pool: initialised ahead, handed out first, never evicted or
expired, replaced when one dies, resized and dropped on request."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tests.support.fake_backend import FakeBackend, FakeEnvironment, function, settle, stopped, until

from lamina.execution.environment import EnvironmentState
from lamina.execution.pool import EnvironmentPool, FixedKeepAlive, MemoryBudget, ProvisionedState

T = TypeVar("T")
VERSION_1 = function(version="1")


def run(scenario: Callable[[EnvironmentPool, FakeBackend], Awaitable[T]], budget_mb: int = 100_000) -> T:
    async def main() -> T:
        backend = FakeBackend()
        pool = EnvironmentPool(
            backend,  # type: ignore[arg-type]
            FixedKeepAlive(1.0),
            MemoryBudget(budget_mb),
            tick_seconds=3600,  # ticks are driven by the tests
        )
        try:
            return await scenario(pool, backend)
        finally:
            await pool.close()

    return asyncio.run(main())


def state(pool: EnvironmentPool) -> ProvisionedState | None:
    return pool.provisioned_state(VERSION_1.name, VERSION_1.version)


def test_environments_are_started_and_initialised_ahead_of_invocations() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        pool.provision(VERSION_1, 2)
        assert state(pool) == ProvisionedState(2, 0, "IN_PROGRESS", None)
        await until(lambda: state(pool) == ProvisionedState(2, 2, "READY", None))
        assert len(backend.started) == 2
        assert all(environment.initialized for environment in backend.started)
        usage = pool.usage()
        assert (usage.provisioned, usage.idle, usage.busy) == (2, 2, 0)
        assert usage.used_mb == 2 * VERSION_1.memory_size  # reserved capacity: full MemorySize

    run(scenario)


def test_invocations_use_provisioned_environments_first_and_spill_over_to_new_ones() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        pool.provision(VERSION_1, 2)
        await until(lambda: state(pool) is not None and state(pool).status == "READY")  # type: ignore[union-attr]
        provisioned = set(backend.started)
        first = await pool.acquire(VERSION_1)
        second = await pool.acquire(VERSION_1)
        assert {first, second} == provisioned
        third = await pool.acquire(VERSION_1)  # both busy: an ordinary environment
        assert third not in provisioned and len(backend.started) == 3
        for environment in (first, second, third):
            pool.release(environment, VERSION_1)
        assert await pool.acquire(VERSION_1) in provisioned
        # $LATEST never gets them, even with the same code and configuration.
        latest = await pool.acquire(function())
        assert latest not in provisioned

    run(scenario)


def test_provisioned_environments_are_never_expired_or_evicted() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        pool.provision(VERSION_1, 1)
        await until(lambda: state(pool) == ProvisionedState(1, 1, "READY", None))
        pool.reap_idle(now=10**9)  # long past any keep-alive
        other = await pool.acquire(function("other", memory_size=128))  # needs eviction to fit
        await settle()
        assert stopped(backend.started) == []
        assert other.state is EnvironmentState.BUSY
        # With the budget full and nothing evictable, a third start is refused.
        assert state(pool) == ProvisionedState(1, 1, "READY", None)

    run(scenario, budget_mb=256)


def test_an_environment_that_dies_is_replaced() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        pool.provision(VERSION_1, 1)
        await until(lambda: state(pool) == ProvisionedState(1, 1, "READY", None))
        environment = backend.started[0]
        taken = await pool.acquire(VERSION_1)
        assert taken is environment
        environment.state = EnvironmentState.STOPPED  # e.g. timed out or crashed mid-invocation
        pool.release(environment, VERSION_1)
        await until(
            lambda: len(backend.started) == 2 and state(pool) == ProvisionedState(1, 1, "READY", None)
        )
        assert backend.started[1].initialized

    run(scenario)


def test_an_initialisation_failure_or_a_full_budget_is_reported_as_failed() -> None:
    async def failing_init(pool: EnvironmentPool, backend: FakeBackend) -> ProvisionedState | None:
        backend.init_failure = "Runtime.ImportModuleError: No module named 'nope'"
        pool.provision(VERSION_1, 1)
        await until(lambda: state(pool) is not None and state(pool).status == "FAILED")  # type: ignore[union-attr]
        await settle()
        assert stopped(backend.started) == [backend.started[0].label]
        return state(pool)

    failed = run(failing_init)
    assert failed is not None and failed.allocated == 0
    assert failed.reason == "Function failed to initialize: Runtime.ImportModuleError: No module named 'nope'"

    async def too_big(pool: EnvironmentPool, backend: FakeBackend) -> ProvisionedState | None:
        pool.provision(VERSION_1, 3)
        await until(lambda: state(pool) is not None and state(pool).status == "FAILED")  # type: ignore[union-attr]
        return state(pool)

    full = run(too_big, budget_mb=300)
    assert full is not None and (full.requested, full.allocated) == (3, 2)
    assert full.reason is not None and "memory budget" in full.reason


def test_resizing_and_removing_stop_the_surplus() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> None:
        pool.provision(VERSION_1, 3)
        await until(lambda: state(pool) == ProvisionedState(3, 3, "READY", None))
        busy = await pool.acquire(VERSION_1)
        pool.provision(VERSION_1, 1)
        await settle()
        assert state(pool) == ProvisionedState(1, 1, "READY", None)
        # Idle ones go first; the busy one stays provisioned and comes back when released.
        assert len(stopped(backend.started)) == 2 and busy.stop_calls == 0
        pool.release(busy, VERSION_1)
        assert pool.usage().provisioned == 1 and await pool.acquire(VERSION_1) is busy
        pool.release(busy, VERSION_1)
        pool.unprovision(VERSION_1.name)
        await settle()
        assert state(pool) is None
        assert pool.usage().provisioned == 0

    run(scenario)


def test_deleting_the_function_drops_its_provisioned_environments() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend) -> list[FakeEnvironment]:
        pool.provision(VERSION_1, 2)
        await until(lambda: state(pool) == ProvisionedState(2, 2, "READY", None))
        pool.retire(VERSION_1.name)
        await settle()
        assert state(pool) is None
        return backend.started

    started = run(scenario)
    assert all(environment.stop_calls for environment in started)
