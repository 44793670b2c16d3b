"""The billing meter with a manual clock and a real billing store: usage lands in the month it
happened, also across a month boundary."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lamina.clock import ManualClock
from lamina.observability.billing import BillingMeter
from lamina.store.sqlite.billing import SqliteBillingStore, read_usage


def _call(name: str, memory: int, billed_ms: int) -> tuple[Any, Any]:
    invocation = SimpleNamespace(config=SimpleNamespace(name=name, memory_size=memory))
    result = SimpleNamespace(report=SimpleNamespace(billed_duration_ms=billed_ms))
    return invocation, result


def test_usage_is_metered_per_function_and_month(tmp_path: Path) -> None:
    async def scenario() -> None:
        end_of_november = datetime.datetime(2026, 11, 30, 23, 59, 59, tzinfo=datetime.UTC).timestamp()
        clock = ManualClock(end_of_november)
        store = SqliteBillingStore(tmp_path / "billing.db")
        await store.open()
        meter = BillingMeter(store, clock)
        meter.invoked(*_call("a", 128, 100), 1)
        meter.invoked(*_call("a", 128, 50), 1)
        meter.invoked(*_call("b", 1024, 7), 1)
        clock.advance(2)  # December
        meter.invoked(*_call("a", 128, 10), 1)
        meter.throttled(_call("a", 128, 0)[0])  # not billed
        await meter.flush()
        meter.invoked(*_call("a", 128, 10), 1)
        await meter.flush()
        await store.close()

    asyncio.run(scenario())
    usage = {
        (item.month, item.function): (item.requests, item.mb_ms)
        for item in read_usage(tmp_path / "billing.db")
    }
    assert usage == {
        ("2026-11", "a"): (2, 150 * 128),
        ("2026-11", "b"): (1, 7 * 1024),
        ("2026-12", "a"): (2, 20 * 128),
    }
