"""Lambda pricing arithmetic against AWS's published examples."""

from __future__ import annotations

import pytest

from lamina.domain.pricing import Prices, affordable_invocations, cost, gb_seconds, invocation_cost


def test_gb_seconds_and_costs() -> None:
    assert gb_seconds(1000, 1024) == 1.0
    assert gb_seconds(100, 128) == 0.0125
    # AWS pricing page example: 3M requests of 120 ms at 1536 MB — 540,000 GB-s.
    used = 3_000_000 * gb_seconds(120, 1536)
    assert used == pytest.approx(540_000)
    with_free = cost(3_000_000, used, free_tier=True)
    assert with_free.compute == pytest.approx((540_000 - 400_000) * 0.0000166667)
    assert with_free.requests == pytest.approx(0.40)
    assert cost(3_000_000, used, free_tier=False).total == pytest.approx(540_000 * 0.0000166667 + 0.60)


def test_free_tier_never_goes_negative_and_prices_are_configurable() -> None:
    assert cost(10, 5.0, free_tier=True).total == 0.0
    doubled = Prices(per_million_requests=0.40, per_gb_second=0.0000333334)
    assert cost(1_000_000, 0, doubled, free_tier=False).total == pytest.approx(0.40)


def test_affordable_invocations_inverts_cost() -> None:
    count = affordable_invocations(9.0, 128, 100, free_tier=False)
    assert 22_000_000 < count < 22_100_000
    assert count * invocation_cost(128, 100) <= 9.0 < (count + 1) * invocation_cost(128, 100) + 1e-9
    with_free = affordable_invocations(9.0, 128, 100, free_tier=True)
    spent = cost(with_free, with_free * gb_seconds(100, 128), free_tier=True).total
    assert (
        spent <= 9.0 < cost(with_free + 1000, (with_free + 1000) * gb_seconds(100, 128), free_tier=True).total
    )
