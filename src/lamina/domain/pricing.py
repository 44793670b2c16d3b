"""What Lambda usage costs, as AWS prices it (x86, on-demand; aws.amazon.com/lambda/pricing):
$0.20 per million requests and $0.0000166667 per GB-second of billed duration (1 ms steps, init
included), with a monthly free tier of one million requests and 400,000 GB-seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MB_PER_GB = 1024
MS_PER_SECOND = 1000


@dataclass(frozen=True, slots=True)
class Prices:
    per_million_requests: float = 0.20
    per_gb_second: float = 0.0000166667
    free_requests: int = 1_000_000
    free_gb_seconds: float = 400_000.0


AWS_PRICES = Prices()


def gb_seconds(billed_ms: float, memory_mb: float) -> float:
    return billed_ms / MS_PER_SECOND * memory_mb / MB_PER_GB


@dataclass(frozen=True, slots=True)
class Cost:
    requests: float
    compute: float

    @property
    def total(self) -> float:
        return self.requests + self.compute


def cost(requests: int, used_gb_seconds: float, prices: Prices = AWS_PRICES, *, free_tier: bool) -> Cost:
    billable_requests = max(0, requests - prices.free_requests) if free_tier else requests
    billable_compute = max(0.0, used_gb_seconds - prices.free_gb_seconds) if free_tier else used_gb_seconds
    return Cost(
        billable_requests * prices.per_million_requests / 1_000_000, billable_compute * prices.per_gb_second
    )


def invocation_cost(memory_mb: int, duration_ms: float, prices: Prices = AWS_PRICES) -> float:
    """One invocation, without the free tier (power tuning compares these)."""
    return (
        prices.per_million_requests / 1_000_000
        + gb_seconds(math.ceil(duration_ms), memory_mb) * prices.per_gb_second
    )


def affordable_invocations(
    budget: float, memory_mb: int, duration_ms: float, prices: Prices = AWS_PRICES, *, free_tier: bool
) -> int:
    """How many invocations of this size `budget` dollars pay for in a month."""
    each = invocation_cost(memory_mb, duration_ms, prices)
    if not free_tier:
        return int(budget / each)
    low, high = 0, 1
    while (
        cost(high, high * gb_seconds(math.ceil(duration_ms), memory_mb), prices, free_tier=True).total
        <= budget
    ):
        high *= 2
    while low < high - 1:  # the cost grows with the count: bisect
        middle = (low + high) // 2
        spent = cost(
            middle, middle * gb_seconds(math.ceil(duration_ms), memory_mb), prices, free_tier=True
        ).total
        low, high = (middle, high) if spent <= budget else (low, middle)
    return low
