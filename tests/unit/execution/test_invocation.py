"""InvocationService over a pool with a small memory budget: synchronous calls are throttled when
every environment is busy (Event invocations: test_async_delivery.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from tests.support.fake_backend import FakeBackend, function, until

from lamina.domain.functions import FunctionConfig
from lamina.errors import AwsError
from lamina.execution.concurrency import ConcurrencyLimiter
from lamina.execution.invocation import InvocationInput, InvocationService
from lamina.execution.pool import EnvironmentPool, FixedKeepAlive, MemoryBudget

T = TypeVar("T")


def run(
    scenario: Callable[[InvocationService, EnvironmentPool, FakeBackend], Awaitable[T]],
    budget_mb: int = 128,
    account_concurrency: int = 10,
) -> T:
    async def main() -> T:
        backend = FakeBackend()
        backend.hold = asyncio.Event()
        pool = EnvironmentPool(backend, FixedKeepAlive(600), MemoryBudget(budget_mb))  # type: ignore[arg-type]
        service = InvocationService(
            pool,
            lambda config: config,
            limiter=ConcurrencyLimiter(account_concurrency),
        )
        try:
            return await scenario(service, pool, backend)
        finally:
            await pool.close()

    return asyncio.run(main())


def call(config: FunctionConfig, payload: bytes = b"{}") -> InvocationInput:
    return InvocationInput(config, f"arn:aws:lambda:us-east-1:000000000000:function:{config.name}", payload)


def test_a_sync_call_is_throttled_when_every_environment_is_busy() -> None:
    async def scenario(service: InvocationService, pool: EnvironmentPool, backend: FakeBackend) -> None:
        assert backend.hold is not None
        running = asyncio.create_task(service.invoke(call(function("busy"))))
        await until(lambda: pool.usage().busy == 1)
        with pytest.raises(AwsError) as throttled:
            await service.invoke(call(function("other")))
        error = throttled.value
        assert (error.code, error.status) == ("TooManyRequestsException", 429)
        assert error.extra == {"Reason": "ConcurrentInvocationLimitExceeded"}
        assert "128 of 128 MB are in use" in error.message
        assert service.in_flight == 1
        backend.hold.set()
        assert (await running).payload == b"{}"
        assert (await service.invoke(call(function("other")))).payload == b"{}"  # room again

    run(scenario)


def test_trace_ids_have_the_x_ray_header_shape_and_differ() -> None:
    import re

    from lamina.execution.invocation import new_trace_id

    shape = re.compile(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0")
    ids = {new_trace_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(shape.fullmatch(trace_id) for trace_id in ids)
