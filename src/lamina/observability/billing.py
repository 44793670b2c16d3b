"""The billing meter: every invocation's billed duration (1 ms steps, init included, as AWS bills
since August 2025) times its function's configured memory, and one request, per function and
month. Buffered in memory on the invocation path, added to the billing store with the metrics (and,
like them, before asynchronous delivery removes an event from its queue)."""

from __future__ import annotations

import asyncio
import datetime

from lamina.clock import Clock
from lamina.execution.environment import InvocationResult
from lamina.execution.invocation import InvocationInput
from lamina.store.ports import BillingStore


def month_of(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).strftime("%Y-%m")


def month_bounds(moment: float) -> tuple[float, float]:
    """[start, end) of the UTC month holding `moment`, in epoch seconds."""
    day = datetime.datetime.fromtimestamp(moment, datetime.UTC)
    start = day.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start.timestamp(), end.timestamp()


class BillingMeter:
    """An InvocationObserver."""

    def __init__(self, store: BillingStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._pending: dict[tuple[str, str], list[int]] = {}
        # The current month's name and bounds: formatting a date per invocation would cost more
        # than all the rest of the meter.
        self._month = ""
        self._month_start = self._month_end = 0.0
        self._flushing = asyncio.Lock()

    def invoked(self, invocation: InvocationInput, result: InvocationResult, concurrency: int) -> None:
        report = result.report
        if report is None:
            return
        now = self._clock.now()
        if not self._month_start <= now < self._month_end:
            self._month = month_of(now)
            self._month_start, self._month_end = month_bounds(now)
        key = (self._month, invocation.config.name)
        usage = self._pending.get(key)
        if usage is None:
            usage = self._pending[key] = [0, 0]
        usage[0] += 1
        usage[1] += report.billed_duration_ms * invocation.config.memory_size

    def throttled(self, invocation: InvocationInput) -> None:
        return None  # throttled requests are not billed

    def async_event(self, kind: str, function_name: str, qualifier: str | None, value: float = 1.0) -> None:
        return None

    async def flush(self) -> None:
        """Add what was metered so far to the store; concurrent callers take turns, so a flush
        returns only once everything metered before it was called is stored."""
        async with self._flushing:
            await self._write_pending()

    async def _write_pending(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        try:
            await self._store.add({key: (usage[0], usage[1]) for key, usage in pending.items()})
        except BaseException:
            for key, usage in pending.items():
                mine = self._pending.setdefault(key, [0, 0])
                mine[0] += usage[0]
                mine[1] += usage[1]
            raise
