"""The metric store and recorder with a real SQLite file and a manual clock: one-minute datapoints
roll up into 5-minute and hourly periods, reads pick the finest resolution still kept, retention
deletes old datapoints, and what is not flushed yet is read too."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lamina.clock import ManualClock
from lamina.domain.metrics.retention import DAY, resolution_for
from lamina.domain.metrics.series import MetricKey
from lamina.observability.metrics.recorder import MetricRecorder
from lamina.store.sqlite.metrics import SqliteMetricStore

KEY = MetricKey("app", "Latency", (("Service", "cart"),))
T0 = 1_700_000_000 - 1_700_000_000 % 3600  # an hour boundary


def test_resolution_follows_the_age_of_the_start() -> None:
    now = T0 + 500 * DAY
    assert resolution_for(now - 14 * DAY, now) == 60
    assert resolution_for(now - 20 * DAY, now) == 300
    assert resolution_for(now - 100 * DAY, now) == 3600
    assert resolution_for(now - 1000 * DAY, now) == 3600


def test_rollups_retention_and_unflushed_reads(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = ManualClock(T0)
        store = SqliteMetricStore(tmp_path / "metrics.db")
        await store.open()
        recorder = MetricRecorder(store, clock)
        for minute in range(10):
            recorder.record(KEY, float(minute), unit="Milliseconds", timestamp=T0 + minute * 60 + 5)
        # Not flushed yet: still readable.
        assert sorted((await recorder.read(KEY, 60, T0, T0 + 600)).keys()) == [T0 + m * 60 for m in range(10)]
        await recorder.flush()
        by_five = await recorder.read(KEY, 300, T0, T0 + 600)
        assert {start: aggregate.statistic("Sum") for start, aggregate in by_five.items()} == {
            T0: 0.0 + 1 + 2 + 3 + 4,
            T0 + 300: 5.0 + 6 + 7 + 8 + 9,
        }
        # 20 days later the one-minute points are gone; the 5-minute and hourly ones remain.
        clock.advance(20 * DAY)
        await recorder.prune()
        assert await store.read(KEY, 60, T0, T0 + 600) == {}
        old = await recorder.read(KEY, 300, T0, T0 + 600)
        assert {start: aggregate.statistic("SampleCount") for start, aggregate in old.items()} == {
            T0: 5.0,
            T0 + 300: 5.0,
        }
        hourly = await recorder.read(KEY, 3600, T0, T0 + 3600)
        assert hourly[T0].statistic("Maximum") == 9.0
        listed = await recorder.metrics("app")
        assert [(item.key, item.unit) for item in listed] == [(KEY, "Milliseconds")]
        # After 500 days nothing is left, not even the series.
        clock.advance(500 * DAY)
        await recorder.prune()
        assert await recorder.metrics("app") == []
        await store.close()

    asyncio.run(scenario())
