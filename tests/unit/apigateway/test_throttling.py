"""Token buckets and quota periods of API Gateway's throttling."""

from __future__ import annotations

from datetime import UTC, datetime

from lamina.apigateway.throttling import QuotaCounter, TokenBuckets, period_start


def test_a_bucket_lets_its_burst_through_then_refuses() -> None:
    buckets = TokenBuckets()
    taken = [buckets.take(("k",), rate=0.001, burst=3) for _ in range(5)]
    assert taken == [True, True, True, False, False]
    assert buckets.take(("other",), rate=0.001, burst=3)  # each key has its own bucket


def test_a_bucket_refills_at_its_rate() -> None:
    buckets = TokenBuckets()
    assert buckets.take(("k",), rate=1000.0, burst=1)
    refilled = False
    for _ in range(100_000):
        if buckets.take(("k",), rate=1000.0, burst=1):
            refilled = True
            break
    assert refilled


def test_quota_periods() -> None:
    thursday = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    assert period_start("DAY", thursday) == "2026-12-03"
    assert period_start("WEEK", thursday) == "2026-11-29"  # offset 0: weeks start on Sunday
    assert period_start("WEEK", thursday, offset=1) == "2026-11-30"  # Monday
    assert period_start("MONTH", thursday) == "2026-12-01"
    assert period_start("MONTH", thursday, offset=5) == "2026-11-06"  # the 6th of last month
    assert period_start("MONTH", datetime(2026, 12, 10, tzinfo=UTC), offset=5) == "2026-12-06"


def test_a_quota_counts_to_its_limit() -> None:
    quotas = QuotaCounter()
    assert [quotas.take(("plan", "key"), "DAY", 2) for _ in range(3)] == [True, True, False]
    assert quotas.used(("plan", "key"), "DAY") == 2
    assert quotas.take(("plan", "other"), "DAY", 2)
