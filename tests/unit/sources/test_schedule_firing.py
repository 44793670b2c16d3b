"""Schedules (here EventBridge schedule rules) fire from the clock, durably: each fire time once, also across a restart, a crash
mid-send and two servers on one store; fire times past the retry window are skipped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from lamina.clock import ManualClock
from lamina.sources.events.schedule_rules import ScheduleRules
from lamina.sources.events.service import Delivery, EventBusService
from lamina.sources.schedules.firing import RETRY_WINDOW_S, ScheduleFiring
from lamina.store.resource_ports import ResourceStore
from lamina.store.sqlite.resources import SqliteResourceStore

ACCOUNT, REGION = "111111111111", "us-east-1"
START = 1_796_486_400.0  # 2026-12-05T16:00:00Z
TARGET = {"Id": "q", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"}


class Died(BaseException):
    """The process ending mid-send: nothing after it runs (not an error a loop would catch)."""


class Recorder:
    def __init__(self) -> None:
        self.times: list[str] = []
        self.fail_next = False

    async def __call__(self, delivery: Delivery) -> bool:
        if self.fail_next:
            self.fail_next = False
            raise Died

        self.times.append(json.loads(delivery.payload)["time"])
        return True


async def opened(
    path: Path, clock: ManualClock, recorder: Recorder, owner: str = "a"
) -> tuple[ResourceStore, EventBusService, ScheduleFiring]:
    store = SqliteResourceStore(path)
    await store.open()
    service = EventBusService(store, clock, recorder)
    await service.load()
    firing = ScheduleFiring([ScheduleRules(service)], store, clock, owner)
    service.on_rules_changed(firing.changed)
    return store, service, firing


async def schedule_rule(service: EventBusService, expression: str) -> None:
    """Rule `r` on the default bus with `expression` and one queue target."""
    await service.put_rule(
        ACCOUNT,
        REGION,
        "default",
        "r",
        schedule_expression=expression,
        event_pattern=None,
        state=None,
        description=None,
        role_arn=None,
    )
    await service.put_targets(ACCOUNT, REGION, "default", "r", [TARGET])


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(body())


def test_a_rate_fires_one_period_after_creation_and_each_period_after(tmp_path: Path) -> None:
    async def body() -> None:
        clock, recorder = ManualClock(START), Recorder()
        store, service, schedules = await opened(tmp_path / "r.db", clock, recorder)
        await schedule_rule(service, "rate(5 minutes)")
        clock.advance(299)
        assert await schedules.fire_due() == 0
        assert schedules.next_due() == START + 300
        clock.advance(1)
        assert await schedules.fire_due() == 1
        clock.advance(1000)
        assert await schedules.fire_due() == 3
        assert recorder.times == [
            "2026-12-05T16:05:00Z",
            "2026-12-05T16:10:00Z",
            "2026-12-05T16:15:00Z",
            "2026-12-05T16:20:00Z",
        ]
        # Disabled: nothing; enabled again: the rate counts from then.
        await service.set_state(ACCOUNT, REGION, "default", "r", False)
        clock.advance(600)
        assert await schedules.fire_due() == 0
        await service.set_state(ACCOUNT, REGION, "default", "r", True)
        clock.advance(300)
        assert await schedules.fire_due() == 1
        assert recorder.times[-1] == "2026-12-05T16:36:40Z"  # 5 minutes after 16:31:40
        await store.close()

    run(body)


def test_after_a_restart_missed_times_fire_once_and_sent_ones_never_again(tmp_path: Path) -> None:
    async def body() -> None:
        clock, recorder = ManualClock(START), Recorder()
        store, service, schedules = await opened(tmp_path / "r.db", clock, recorder)
        await schedule_rule(service, "cron(0/10 * * * ? *)")
        clock.advance(1200)
        assert await schedules.fire_due() == 2  # 16:10, 16:20
        await store.close()

        # A new process over the same store, its clock further on: 16:30, 16:40 and 16:50 were missed.
        clock = ManualClock(START + 3000)
        store, service, schedules = await opened(tmp_path / "r.db", clock, recorder)
        await schedules.start()
        await schedules.close()
        assert recorder.times == [f"2026-12-05T16:{minute}:00Z" for minute in (10, 20, 30, 40, 50)]
        await store.close()

    run(body)


def test_a_crash_mid_send_sends_that_time_again_after_the_restart(tmp_path: Path) -> None:
    async def body() -> None:
        clock, recorder = ManualClock(START), Recorder()
        store, service, schedules = await opened(tmp_path / "r.db", clock, recorder)
        await schedule_rule(service, "rate(1 minute)")
        clock.advance(60)
        recorder.fail_next = True  # claimed, then the process dies before it is marked sent
        with pytest.raises(Died):
            await schedules.fire_due()
        assert recorder.times == []
        await store.close()
        # The restarted server takes its own unsent claim over and sends the time once; a later
        # pass sends nothing more.
        store, service, schedules = await opened(tmp_path / "r.db", clock, recorder)
        assert await schedules.fire_due() == 1
        assert await schedules.fire_due() == 0
        assert recorder.times == ["2026-12-05T16:01:00Z"]
        await store.close()
        # Another server finds the claim marked sent: nothing.
        store, service, schedules = await opened(tmp_path / "r.db", clock, recorder, owner="b")
        assert await schedules.fire_due() == 0
        await store.close()

    run(body)


def test_two_servers_on_one_store_send_each_time_once(tmp_path: Path) -> None:
    async def body() -> None:
        clock, recorder = ManualClock(START), Recorder()
        store_a, service_a, schedules_a = await opened(tmp_path / "r.db", clock, recorder, owner="a")
        await schedule_rule(service_a, "rate(1 minute)")
        store_b, _, schedules_b = await opened(tmp_path / "r.db", clock, recorder, owner="b")
        clock.advance(180)
        sent = await asyncio.gather(schedules_a.fire_due(), schedules_b.fire_due())
        assert sum(sent) == 3
        clock.advance(60)
        assert await schedules_b.fire_due() + await schedules_a.fire_due() == 1
        assert sorted(recorder.times) == [f"2026-12-05T16:0{minute}:00Z" for minute in (1, 2, 3, 4)]
        await store_a.close()
        await store_b.close()

    run(body)


def test_fire_times_past_the_retry_window_are_skipped(tmp_path: Path) -> None:
    async def body() -> None:
        clock, recorder = ManualClock(START), Recorder()
        store, service, schedules = await opened(tmp_path / "r.db", clock, recorder)
        await schedule_rule(service, "rate(1 hour)")
        clock.advance(RETRY_WINDOW_S + 3 * 3600 + 1)  # 27 fire times; the first three too old
        assert await schedules.fire_due(catching_up=True) == 24
        assert recorder.times[0] == "2026-12-05T20:00:00Z"
        await store.close()

    run(body)


def test_the_loop_wakes_when_a_fake_clock_moves(tmp_path: Path) -> None:
    async def body() -> None:
        clock, recorder = ManualClock(START), Recorder()
        store, service, schedules = await opened(tmp_path / "r.db", clock, recorder)
        await schedules.start()
        await schedule_rule(service, "rate(1 minute)")
        clock.advance(60)
        for _ in range(100):
            if recorder.times:
                break
            await asyncio.sleep(0.01)
        assert recorder.times == ["2026-12-05T16:01:00Z"]
        await schedules.close()
        await store.close()

    run(body)


def test_while_running_every_time_fires_however_far_the_clock_jumps(tmp_path: Path) -> None:
    async def body() -> None:
        clock, recorder = ManualClock(START), Recorder()
        store, service, schedules = await opened(tmp_path / "r.db", clock, recorder)
        await schedule_rule(service, "rate(1 hour)")
        clock.advance(RETRY_WINDOW_S + 3 * 3600 + 1)
        assert await schedules.fire_due() == 27
        await store.close()

    run(body)


def test_a_clock_moved_exactly_onto_a_fire_time_fires_it(tmp_path: Path) -> None:
    """Fire times pass through datetimes (microseconds): from an anchor with more digits than that,
    the minute's time can land a hair after a clock moved by exactly a minute."""

    async def body() -> None:
        clock, recorder = ManualClock(START + 0.1234567), Recorder()
        store, service, schedules = await opened(tmp_path / "r.db", clock, recorder)
        await schedule_rule(service, "rate(1 minute)")
        for _ in range(5):
            clock.advance(60)
            assert await schedules.fire_due() == 1
        await store.close()

    run(body)
