"""Concurrent flushes of the metric recorder and the billing meter: asynchronous delivery acknowledges
an event once a flush it awaited returns, so that flush must not return while an earlier one is
still writing what was recorded before it was called."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from lamina.clock import ManualClock
from lamina.domain.metrics.series import MetricKey
from lamina.observability.billing import BillingMeter
from lamina.observability.metrics.recorder import MetricRecorder

KEY = MetricKey("AWS/Lambda", "Invocations", (("FunctionName", "f"),))


class GatedStore:
    """Stands in for the SQLite stores: every write waits for `gate`, then is recorded."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.writes: list[Any] = []
        self.started = 0

    async def _write(self, batch: Any) -> None:
        self.started += 1
        await self.gate.wait()
        self.writes.append(batch)

    async def write(self, pending: Mapping[Any, Any], units: Mapping[Any, Any]) -> None:
        await self._write(dict(pending))

    async def add(self, usage: Mapping[Any, Any]) -> None:
        await self._write(dict(usage))


async def _second_flush_waits_for_the_first(flush: Any, store: GatedStore, record: Any) -> None:
    record()
    first = asyncio.create_task(flush())
    while store.started == 0:
        await asyncio.sleep(0)
    second = asyncio.create_task(flush())  # nothing new recorded: only the first write matters
    for _ in range(5):
        await asyncio.sleep(0)
    assert not second.done(), "returned while what was recorded before it is not stored yet"
    store.gate.set()
    await asyncio.gather(first, second)
    assert len(store.writes) == 1


def test_a_metric_flush_returns_only_once_earlier_datapoints_are_stored() -> None:
    async def scenario() -> None:
        store = GatedStore()
        recorder = MetricRecorder(store, ManualClock(1_000_000.0))  # type: ignore[arg-type]
        await _second_flush_waits_for_the_first(recorder.flush, store, lambda: recorder.record(KEY, 1.0))

    asyncio.run(scenario())


def test_callers_waiting_together_share_one_write() -> None:
    async def scenario() -> None:
        store = GatedStore()
        recorder = MetricRecorder(store, ManualClock(1_000_000.0))  # type: ignore[arg-type]
        recorder.record(KEY, 1.0)
        first = asyncio.create_task(recorder.flush())
        while store.started == 0:
            await asyncio.sleep(0)
        recorder.record(KEY, 2.0)
        waiting = [asyncio.create_task(recorder.flush()) for _ in range(10)]
        await asyncio.sleep(0)
        store.gate.set()
        await asyncio.gather(first, *waiting)
        assert len(store.writes) == 2  # the first, then one for all ten waiting callers

    asyncio.run(scenario())


def test_a_billing_flush_returns_only_once_earlier_usage_is_stored() -> None:
    async def scenario() -> None:
        store = GatedStore()
        meter = BillingMeter(store, ManualClock(1_000_000.0))  # type: ignore[arg-type]
        invocation = SimpleNamespace(config=SimpleNamespace(name="f", memory_size=128))
        result = SimpleNamespace(report=SimpleNamespace(billed_duration_ms=10))
        await _second_flush_waits_for_the_first(
            meter.flush,
            store,
            lambda: meter.invoked(invocation, result, 1),  # type: ignore[arg-type]
        )

    asyncio.run(scenario())


class GatedReadableStore(GatedStore):
    """A gated store that keeps what it was written, as a metric store does."""

    def __init__(self) -> None:
        super().__init__()
        self.stored: dict[int, Any] = {}

    async def write(self, pending: Mapping[Any, Any], units: Mapping[Any, Any]) -> None:
        await super().write(pending, units)
        self.stored.update(pending.get(KEY, {}))

    async def read(self, key: Any, resolution: int, start: int, end: int) -> dict[int, Any]:
        return {minute: aggregate for minute, aggregate in self.stored.items() if start <= minute < end}


def test_a_read_during_a_flush_sees_what_the_flush_is_writing() -> None:
    """Taken from memory and not yet committed, datapoints were in neither place: an alarm evaluated
    then saw no errors (found with a store on PostgreSQL, whose writes take longer)."""

    async def scenario() -> None:
        store = GatedReadableStore()
        recorder = MetricRecorder(store, ManualClock(1_000_000.0))  # type: ignore[arg-type]
        recorder.record(KEY, 3.0)
        flushing = asyncio.create_task(recorder.flush())
        while store.started == 0:
            await asyncio.sleep(0)
        reading = asyncio.create_task(recorder.read(KEY, 60, 999_960, 1_000_020))
        await asyncio.sleep(0)
        store.gate.set()
        await flushing
        found = await reading
        assert sum(aggregate.total for aggregate in found.values()) == 3.0

    asyncio.run(scenario())
