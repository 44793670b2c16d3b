"""AsyncDelivery over a real SQLite queue, a real pool and InvocationService, and fake environments:
durable acceptance, retries, maximum age, destinations, and delivery after a restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.fake_backend import FakeBackend, function, settle, until

from lamina.domain.async_events import EventInvokeConfig, default_invoke_config
from lamina.domain.functions import FunctionConfig
from lamina.execution.async_delivery import AsyncDelivery, DeliveryPolicy
from lamina.execution.concurrency import ConcurrencyLimiter
from lamina.execution.invocation import InvocationInput, InvocationService
from lamina.execution.pool import EnvironmentPool, FixedKeepAlive, MemoryBudget
from lamina.store.sqlite.event_queue import SqliteEventQueue

ARN = "arn:aws:lambda:us-east-1:000000000000:function"
# Retries at once, throttled attempts again after 10-20 ms: the rules without the waiting.
FAST = DeliveryPolicy(retry_delays=(0.0, 0.0), first_backoff=0.01, max_backoff=0.02)


@dataclass
class World:
    delivery: AsyncDelivery
    queue: SqliteEventQueue
    pool: EnvironmentPool
    backend: FakeBackend
    limiter: ConcurrencyLimiter
    functions: dict[str, FunctionConfig]
    configs: dict[str, EventInvokeConfig] = field(default_factory=dict)
    now: list[float] = field(default_factory=lambda: [1_000_000.0])

    def payloads(self, name: str) -> list[Any]:
        return [
            json.loads(payload)
            for environment in self.backend.started
            if environment.config.name == name
            for payload in environment.payloads
        ]


def run(
    tmp_path: Path,
    scenario: Callable[[World], Awaitable[None]],
    *,
    budget_mb: int = 1024,
    functions: tuple[FunctionConfig, ...] = (function("f"), function("ok"), function("bad")),
    policy: DeliveryPolicy = FAST,
    persist: Callable[[], Awaitable[None]] | None = None,
) -> None:
    async def main() -> None:
        backend = FakeBackend()
        pool = EnvironmentPool(backend, FixedKeepAlive(600), MemoryBudget(budget_mb))  # type: ignore[arg-type]
        limiter = ConcurrencyLimiter(10)
        invocations = InvocationService(pool, lambda config: config, limiter=limiter)
        queue = SqliteEventQueue(tmp_path / "queue.db")
        await queue.open()
        known = {config.name: config for config in functions}
        world_ref: list[World] = []

        def invoke_config(name: str, qualifier: str | None) -> EventInvokeConfig:
            return world_ref[0].configs.get(name) or default_invoke_config(name, qualifier or "$LATEST")

        delivery = AsyncDelivery(
            queue,
            invocations,
            lambda name, qualifier: known.get(name),
            invoke_config,
            lambda name, qualifier: f"{ARN}:{name}:{qualifier}" if qualifier else f"{ARN}:{name}",
            region="us-east-1",
            account_id="000000000000",
            policy=policy,
            clock=lambda: world_ref[0].now[0],
            persist=persist,
        )
        world = World(delivery, queue, pool, backend, limiter, known)
        world_ref.append(world)
        try:
            await scenario(world)
        finally:
            await delivery.close()
            await pool.close()
            await queue.close()

    asyncio.run(main())


async def drained(world: World) -> None:
    for _ in range(400):
        if world.delivery.backlog == 0:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{world.delivery.backlog} events still pending")


def test_an_accepted_event_is_stored_before_it_runs_and_removed_after(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        world.backend.hold = asyncio.Event()
        event_id = await world.delivery.accept("f", None, b'{"n": 1}', event_id="req-1")
        assert event_id == "req-1"
        assert [event.event_id for event in await world.queue.pending()] == ["req-1"]
        world.backend.hold.set()
        await drained(world)
        assert world.payloads("f") == [{"n": 1}]
        assert await world.queue.pending() == []

    run(tmp_path, scenario)


def test_an_event_leaves_the_queue_only_once_its_run_is_persisted(tmp_path: Path) -> None:
    """A server killed after the run but before its log lines and metrics are stored must find
    the event still queued, and run it again."""
    persisted = asyncio.Event()
    persist_calls: list[int] = []

    async def persist() -> None:
        persist_calls.append(1)
        await persisted.wait()

    async def scenario(world: World) -> None:
        await world.delivery.accept("f", None, b'{"n": 1}', event_id="req-1")
        await until(lambda: bool(persist_calls))
        assert world.payloads("f") == [{"n": 1}]  # it ran...
        await settle()
        assert [event.event_id for event in await world.queue.pending()] == ["req-1"]  # ...and stays
        persisted.set()
        await drained(world)
        assert await world.queue.pending() == []

    run(tmp_path, scenario, persist=persist)


def test_an_event_whose_run_could_not_be_persisted_stays_queued(tmp_path: Path) -> None:
    async def persist() -> None:
        raise OSError(28, "No space left on device")

    async def scenario(world: World) -> None:
        await world.delivery.accept("f", None, b'{"n": 1}', event_id="req-1")
        await drained(world)
        assert world.payloads("f") == [{"n": 1}]
        assert [event.event_id for event in await world.queue.pending()] == ["req-1"]

    run(tmp_path, scenario, persist=persist)


def test_a_failed_run_is_persisted_before_the_queue_counts_it(tmp_path: Path) -> None:
    persisted = asyncio.Event()
    persist_calls: list[int] = []

    async def persist() -> None:
        persist_calls.append(1)
        await persisted.wait()

    async def scenario(world: World) -> None:
        world.backend.failing.add("bad")
        await world.delivery.accept("bad", None, b"{}", event_id="req-bad")
        await until(lambda: bool(persist_calls))
        await settle()
        assert [event.runs for event in await world.queue.pending()] == [0]
        persisted.set()
        await drained(world)
        assert len(world.payloads("bad")) == 3

    run(tmp_path, scenario, persist=persist)


def test_an_event_waits_for_memory_then_runs_once(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        world.backend.hold = asyncio.Event()
        busy = asyncio.create_task(world.delivery._invocations.invoke(call(world, "f")))
        await until(lambda: world.pool.usage().busy == 1)
        await world.delivery.accept("ok", None, b'{"n": 2}')
        await settle()
        assert [environment.config.name for environment in world.backend.started] == ["f"]
        world.backend.hold.set()
        await busy
        await drained(world)
        assert world.payloads("ok") == [{"n": 2}]

    run(tmp_path, scenario, budget_mb=128)


def call(world: World, name: str) -> InvocationInput:
    return InvocationInput(world.functions[name], f"{ARN}:{name}", b'{"busy": true}')


def test_function_errors_are_retried_then_go_to_the_failure_destination(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        world.backend.failing.add("bad")
        world.configs["bad"] = EventInvokeConfig(
            "bad", "$LATEST", max_retry_attempts=2, on_failure=f"{ARN}:ok", last_modified=0.0
        )
        await world.delivery.accept("bad", None, b'{"order": 7}', event_id="req-bad")
        await drained(world)
        assert world.payloads("bad") == [{"order": 7}] * 3  # the first try and two retries
        [record] = world.payloads("ok")
        assert record["requestContext"] == {
            "requestId": "req-bad",
            "functionArn": f"{ARN}:bad:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        }
        assert record["requestPayload"] == {"order": 7}
        assert record["responseContext"] == {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        }
        assert record["responsePayload"] == {"order": 7}
        assert record["version"] == "1.0"

    run(tmp_path, scenario)


def test_max_retry_attempts_zero_runs_once(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        world.backend.failing.add("bad")
        world.configs["bad"] = EventInvokeConfig("bad", "$LATEST", max_retry_attempts=0, last_modified=0.0)
        await world.delivery.accept("bad", None, b"{}")
        await drained(world)
        assert len(world.payloads("bad")) == 1

    run(tmp_path, scenario)


def test_a_success_goes_to_the_success_destination(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        world.configs["f"] = EventInvokeConfig("f", "$LATEST", on_success=f"{ARN}:ok", last_modified=0.0)
        await world.delivery.accept("f", None, b'{"a": 1}', event_id="req-ok")
        await drained(world)
        [record] = world.payloads("ok")
        assert record["requestContext"]["condition"] == "Success"
        assert record["requestContext"]["approximateInvokeCount"] == 1
        assert record["responsePayload"] == {"a": 1}
        assert "functionError" not in record["responseContext"]

    run(tmp_path, scenario)


def test_throttled_events_are_postponed_not_dropped(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        world.limiter.set_reserved("f", 0)  # every attempt is throttled
        await world.delivery.accept("f", None, b'{"later": true}')
        await asyncio.sleep(0.1)
        [pending] = await world.queue.pending()
        assert pending.postponements >= 2 and pending.runs == 0
        world.limiter.set_reserved("f", None)
        await drained(world)
        assert world.payloads("f") == [{"later": True}]

    run(tmp_path, scenario)


def test_an_event_older_than_its_maximum_age_goes_to_the_failure_destination(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        world.limiter.set_reserved("f", 0)
        world.configs["f"] = EventInvokeConfig(
            "f", "$LATEST", max_event_age_seconds=60, on_failure=f"{ARN}:ok", last_modified=0.0
        )
        await world.delivery.accept("f", None, b'{"old": true}')
        await asyncio.sleep(0.05)
        world.now[0] += 61  # a minute later it is still throttled
        await drained(world)
        assert world.payloads("f") == []
        [record] = world.payloads("ok")
        assert record["requestContext"]["condition"] == "EventAgeExceeded"
        assert record["requestContext"]["approximateInvokeCount"] == 0
        assert "responsePayload" not in record and record["responseContext"] == {}

    run(tmp_path, scenario)


def test_events_left_by_a_previous_run_are_delivered_at_start(tmp_path: Path) -> None:
    async def first_run(world: World) -> None:
        world.backend.hold = asyncio.Event()  # never opens: the run ends with the event unsettled
        await world.delivery.accept("f", None, b'{"survives": true}', event_id="req-crash")
        await until(lambda: bool(world.backend.started) and bool(world.backend.started[0].payloads))

    run(tmp_path, first_run)

    async def second_run(world: World) -> None:
        assert [event.event_id for event in await world.queue.pending()] == ["req-crash"]
        assert await world.delivery.start() == 1
        await drained(world)
        assert world.payloads("f") == [{"survives": True}]
        assert await world.queue.pending() == []

    run(tmp_path, second_run)


def test_events_of_a_deleted_function_are_dropped(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        del world.functions["f"]
        await world.delivery.accept("f", None, b"{}")
        await drained(world)
        assert await world.queue.pending() == []
        assert world.backend.started == []

    run(tmp_path, scenario)


def test_a_recursive_loop_never_runs_and_goes_to_the_failure_destination(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        world.configs["f"] = EventInvokeConfig("f", "$LATEST", on_failure=f"{ARN}:ok", last_modified=0.0)
        await world.delivery.reject_recursive("f", None, b'{"loop": 17}')
        await drained(world)
        assert world.payloads("f") == []
        [record] = world.payloads("ok")
        assert record["requestContext"]["condition"] == "RecursiveInvocationDetected"

    run(tmp_path, scenario)
