"""Alarm evaluation against a real metric and alarm store, with the clock moved by hand."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from lamina.clock import ManualClock
from lamina.domain.metrics.series import MetricKey
from lamina.observability.metrics.alarms import AlarmService
from lamina.observability.metrics.recorder import MetricRecorder
from lamina.observability.metrics.service import MetricsService
from lamina.store.sqlite.alarms import SqliteAlarmStore
from lamina.store.sqlite.metrics import SqliteMetricStore

PERIOD = 300
ERRORS = MetricKey("AWS/Lambda", "Errors", (("FunctionName", "failing"),))


class NoActions:
    """The alarms here have no actions; an action would be a bug in the test."""

    async def invoke_event(self, *args: Any) -> str | None:
        raise AssertionError("no action was configured")


def test_an_evaluation_that_read_before_the_clock_moved_does_not_overwrite_a_newer_one(
    tmp_path: Path,
) -> None:
    """The periodic evaluation and the one a clock move starts overlap: the older one, which read
    its periods before the move, must not write its verdict after the newer one's."""

    async def scenario() -> list[str]:
        clock = ManualClock(start=1_800_000_000 - 1_800_000_000 % PERIOD + 1)
        metric_store, alarm_store = (
            SqliteMetricStore(tmp_path / "metrics.db"),
            SqliteAlarmStore(tmp_path / "alarms.db"),
        )
        await metric_store.open()
        await alarm_store.open()
        recorder = MetricRecorder(metric_store, clock)
        alarms = AlarmService(
            alarm_store,
            MetricsService(recorder),
            NoActions(),
            "us-east-1",
            "000000000000",  # type: ignore[arg-type]
        )
        try:
            await alarms.put_metric_alarm(
                {
                    "AlarmName": "errors",
                    "Namespace": ERRORS.namespace,
                    "MetricName": ERRORS.name,
                    "Dimensions": [{"Name": "FunctionName", "Value": "failing"}],
                    "Statistic": "Sum",
                    "Period": PERIOD,
                    "EvaluationPeriods": 1,
                    "Threshold": 2,
                    "ComparisonOperator": "GreaterThanThreshold",
                    "TreatMissingData": "notBreaching",
                }
            )
            states = []
            for _ in range(2):
                recorder.record(ERRORS, 1.0)
            clock.advance(PERIOD)
            await alarms.evaluate_all()
            states.append(await _state(alarms))  # two errors are not more than two
            for _ in range(3):
                recorder.record(ERRORS, 1.0)

            # The periodic evaluation starts before the clock moves and is slow to read...
            original_read, entered, release = recorder.read, asyncio.Event(), asyncio.Event()

            async def slow_first_read(*args: Any) -> Any:
                recorder.read = original_read  # type: ignore[method-assign]
                entered.set()
                await release.wait()
                return await original_read(*args)

            recorder.read = slow_first_read  # type: ignore[method-assign]
            periodic = asyncio.create_task(alarms.evaluate_all())
            await entered.wait()
            # ...the clock moves past the period with three errors and evaluates at once...
            clock.advance(PERIOD)
            after_move = asyncio.create_task(alarms.evaluate_all())
            await asyncio.sleep(0.05)
            release.set()  # ...then the periodic one finishes reading the period before.
            await asyncio.gather(periodic, after_move)
            states.append(await _state(alarms))
            return states
        finally:
            await metric_store.close()
            await alarm_store.close()

    assert asyncio.run(asyncio.wait_for(scenario(), 20)) == ["OK", "ALARM"]


async def _state(alarms: AlarmService) -> str:
    described = await alarms.describe_alarms({"AlarmNames": ["errors"]})
    return str(described["MetricAlarms"][0]["StateValue"])
