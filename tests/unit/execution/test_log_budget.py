"""The log budget: a token bucket per function, a backlog bound per account, drops counted."""

from __future__ import annotations

import asyncio
import os

from lamina.execution.log_budget import (
    BACKLOGGED,
    EVENT_OVERHEAD_BYTES,
    RATE_LIMITED,
    LogBudget,
    LogLimits,
    TokenBucket,
)
from lamina.execution.log_capture import PipeLogCapture


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_starts_full_spends_and_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(rate=100, burst=300, now=0.0)
    assert bucket.refill(0.0) == 300
    assert bucket.take(250)
    assert not bucket.take(100)  # never goes negative
    assert bucket.take(50)
    assert bucket.refill(1.0) == 100
    assert bucket.refill(10.0) == 300  # capped at the burst
    assert bucket.refill(5.0) == 300  # a clock going back changes nothing


def test_functions_have_buckets_of_their_own_and_full_ones_are_forgotten() -> None:
    clock = Clock()
    budget = LogBudget(LogLimits(rate_bytes=10, burst_bytes=100), lambda: 0, clock)
    first = budget.meter("a").open()
    assert first is not None and first.take(100)
    other = budget.meter("b").open()
    assert other is not None and other.take(100)  # "a" spent its own, not "b"'s
    again = budget.meter("a").open()
    assert again is first and not again.take(1)  # every environment of "a" shares one bucket
    clock.now = 1000.0  # both full again: a sweep (on the next new bucket) forgets them
    budget.meter("c").open()
    assert budget.bucket("a", clock.now) is not first


def test_a_meter_counts_drops_and_reports_them_once() -> None:
    budget = LogBudget(LogLimits(), lambda: 0, Clock())
    meter = budget.meter("f")
    assert meter.take_dropped() is None
    meter.dropped(3, 300)
    meter.dropped(0, 0)
    assert meter.take_dropped() == (RATE_LIMITED, 3, 300)
    assert meter.take_dropped() is None


def test_a_backlogged_store_drops_every_line_with_its_own_reason() -> None:
    backlog = [0]
    budget = LogBudget(LogLimits(account_buffer_bytes=1000), lambda: backlog[0], Clock())
    meter = budget.meter("f")
    assert meter.open() is not None
    backlog[0] = 1001
    assert meter.open() is None
    meter.dropped(1, 10)
    assert meter.take_dropped() == (BACKLOGGED, 1, 10)


def _capture(limits: LogLimits, data: bytes) -> tuple[list[str], tuple[str, int, int] | None]:
    async def main() -> tuple[list[str], tuple[str, int, int] | None]:
        lines: list[str] = []
        meter = LogBudget(limits, lambda: 0, Clock()).meter("f")
        capture = PipeLogCapture(lambda _, line: lines.append(line), meter)
        writer = os.dup(capture.write_fd)
        capture.start()
        try:
            for start in range(0, len(data), 65536):
                os.write(writer, data[start : start + 65536])
                capture.drain()
        finally:
            os.close(writer)
            capture.close()
        return lines, meter.take_dropped()

    return asyncio.run(main())


def test_the_capture_keeps_lines_within_the_budget_and_counts_the_rest_unread() -> None:
    line = b"x" * 74 + b"\n"  # costs 74 + 26 = 100
    kept, dropped = _capture(LogLimits(rate_bytes=1, burst_bytes=1000), line * 50)
    assert len(kept) == 1000 // (74 + EVENT_OVERHEAD_BYTES)
    assert dropped == (RATE_LIMITED, 40, 40 * 75)


def test_a_flood_far_past_the_budget_is_counted_a_chunk_at_a_time() -> None:
    line = b"y" * 1023 + b"\n"
    kept, dropped = _capture(LogLimits(rate_bytes=1, burst_bytes=4096), line * 4096)  # 4 MB
    assert len(kept) == 4096 // (1024 - 1 + EVENT_OVERHEAD_BYTES)
    assert dropped is not None
    assert dropped[1] + len(kept) == 4096
    assert dropped[2] + 1024 * len(kept) == 4096 * 1024


def test_without_a_meter_every_line_is_kept() -> None:
    async def main() -> list[str]:
        lines: list[str] = []
        capture = PipeLogCapture(lambda _, line: lines.append(line))
        writer = os.dup(capture.write_fd)
        capture.start()
        os.write(writer, b"a\nb\n")
        os.close(writer)
        capture.close()
        return lines

    assert asyncio.run(main()) == ["a", "b"]


def test_empty_lines_cost_the_event_overhead_and_past_the_budget_are_only_counted() -> None:
    kept, dropped = _capture(LogLimits(rate_bytes=1, burst_bytes=26 * 10), b"\n" * 1_000_000)
    assert kept == [""] * 10
    assert dropped == (RATE_LIMITED, 1_000_000 - 10, 1_000_000 - 10)


def test_a_line_longer_than_an_event_is_charged_for_every_piece() -> None:
    line = b"L" * (256 * 1024 * 2 + 10) + b"\n"  # three events
    kept, dropped = _capture(
        LogLimits(rate_bytes=1, burst_bytes=len(line) + 3 * EVENT_OVERHEAD_BYTES), line * 2
    )
    assert [len(piece) for piece in kept] == [256 * 1024, 256 * 1024, 10]
    assert dropped is not None and dropped[1] >= 1
