"""The recorder: datapoints are aggregated per metric and minute in memory and written to the
metric store every few seconds, so recording one costs a dictionary update, never a write. Reads
merge what is stored with what is still in memory, so a datapoint is visible at once.

Asynchronous delivery also flushes before it removes an event from its queue (the event's metrics
must survive a crash of the server), so flushes come from several tasks: they take turns, and a
flush returns only once everything recorded before it was called is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from lamina.clock import Clock
from lamina.domain.metrics.aggregate import Aggregate
from lamina.domain.metrics.retention import resolution_for
from lamina.domain.metrics.series import MetricKey, SeriesInfo
from lamina.store.ports import MetricStore

MINUTE = 60


@dataclass(frozen=True, slots=True)
class ListedMetric:
    key: MetricKey
    last_seen: int
    unit: str | None = None


class MetricRecorder:
    def __init__(self, store: MetricStore, clock: Clock) -> None:
        self._store = store
        self.clock = clock
        self._pending: dict[MetricKey, dict[int, Aggregate]] = {}
        self._units: dict[MetricKey, str] = {}
        self._before_read: list[Callable[[], None]] = []
        self._flushing = asyncio.Lock()
        # Awaited before every read: datapoints other workers recorded reach the store (--workers).
        self.gather: Callable[[], Awaitable[None]] | None = None

    def before_read(self, fold: Callable[[], None]) -> None:
        """`fold()` turns buffered raw observations into datapoints; run before every read."""
        self._before_read.append(fold)

    def _fold(self) -> None:
        for fold in self._before_read:
            fold()

    def _aggregate(self, key: MetricKey, timestamp: float | None, unit: str | None) -> Aggregate:
        moment = self.clock.now() if timestamp is None else timestamp
        minute = int(moment) - int(moment) % MINUTE
        by_minute = self._pending.get(key)
        if by_minute is None:
            by_minute = self._pending[key] = {}
        aggregate = by_minute.get(minute)
        if aggregate is None:
            aggregate = by_minute[minute] = Aggregate()
        if unit is not None and unit != "None":
            self._units[key] = unit
        return aggregate

    def record(
        self,
        key: MetricKey,
        value: float,
        *,
        unit: str | None = None,
        timestamp: float | None = None,
        count: float = 1.0,
    ) -> None:
        self._aggregate(key, timestamp, unit).add(value, count)

    def record_statistics(
        self,
        key: MetricKey,
        count: float,
        total: float,
        minimum: float,
        maximum: float,
        *,
        unit: str | None = None,
        timestamp: float | None = None,
    ) -> None:
        self._aggregate(key, timestamp, unit).add_statistics(count, total, minimum, maximum)

    async def flush(self) -> None:
        """Store every datapoint recorded so far. Callers that arrive while a write runs wait for
        it, then the first of them writes what they all recorded and the rest find nothing left:
        many callers, one write (a group commit)."""
        async with self._flushing:
            await self._write_pending()

    async def _write_pending(self) -> None:
        self._fold()
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        units = dict(self._units)
        try:
            await self._store.write(pending, units)
        except BaseException:
            for key, by_minute in pending.items():  # kept for the next flush
                mine = self._pending.setdefault(key, {})
                for minute, aggregate in by_minute.items():
                    mine.setdefault(minute, Aggregate()).merge(aggregate)
            raise

    async def read(self, key: MetricKey, period: int, start: int, end: int) -> dict[int, Aggregate]:
        """Aggregates of `key` per `period` (a multiple of 60) with start <= period start < end."""
        if self.gather is not None:
            await self.gather()
        self._fold()
        resolution = resolution_for(start, self.clock.now())
        if period % resolution:
            resolution = MINUTE
        result: dict[int, Aggregate] = {}
        # Not while a flush writes: what it took from memory is in neither place until it commits.
        async with self._flushing:
            stored = await self._store.read(key, resolution, start - start % resolution, end)
            for begin, aggregate in stored.items():
                result.setdefault(begin - begin % period, Aggregate()).merge(aggregate)
            for minute, aggregate in self._pending.get(key, {}).items():
                if start - start % MINUTE <= minute < end:
                    result.setdefault(minute - minute % period, Aggregate()).merge(aggregate)
        first = start - start % period
        return {begin: aggregate for begin, aggregate in result.items() if first <= begin < end}

    async def metrics(self, namespace: str | None = None, name: str | None = None) -> list[ListedMetric]:
        """Every metric with datapoints, stored or pending."""
        if self.gather is not None:
            await self.gather()
        self._fold()
        listed: dict[MetricKey, ListedMetric] = {}
        async with self._flushing:  # (as `read`)
            stored: Iterable[SeriesInfo] = await self._store.series(namespace, name)
        for info in stored:
            listed[info.key] = ListedMetric(info.key, info.last_seen, info.unit)
        for key, by_minute in self._pending.items():
            if (namespace is None or key.namespace == namespace) and (name is None or key.name == name):
                known = listed.get(key)
                seen = max(known.last_seen if known else 0, max(by_minute, default=0))
                listed[key] = ListedMetric(key, seen, self._units.get(key) or (known.unit if known else None))
        return list(listed.values())

    async def prune(self) -> int:
        return await self._store.prune(self.clock.now())
