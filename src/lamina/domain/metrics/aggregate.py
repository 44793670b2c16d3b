"""What a metric holds for one period: SampleCount, Sum, Minimum, Maximum, and a sketch of the values
for percentiles (p50, p99.9, …).

The sketch keeps counts in logarithmic buckets (each bucket spans 2% of its value), so any
percentile is answered within 1% relative error from a few hundred counters, and two periods merge
by adding counters: the per-minute aggregates roll up into 5-minute and hourly ones losslessly.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_GAMMA = 1.02
_LOG_GAMMA = math.log(_GAMMA)
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d{1,10})?|100)$")
BASIC_STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


def _bucket(value: float) -> int:
    """Buckets by magnitude; 0 for zero, negative indexes for negative values."""
    if value == 0:
        return 0
    index = math.ceil(math.log(abs(value)) / _LOG_GAMMA) + 1_000_000  # keep positive magnitudes > 0
    return index if value > 0 else -index


def _bucket_value(index: int) -> float:
    """The representative value of a bucket (the middle of its range, relatively)."""
    if index == 0:
        return 0.0
    magnitude = _GAMMA ** (abs(index) - 1_000_000) * 2 / (1 + _GAMMA)
    return magnitude if index > 0 else -magnitude


def percentile_of(name: str) -> float | None:
    """`p99` → 99.0, `p99.9` → 99.9; None when `name` is not a percentile statistic."""
    match = _PERCENTILE.match(name)
    if match is None:
        return None
    value = float(match.group(1))
    return value if 0 <= value <= 100 else None


@dataclass(slots=True)
class Aggregate:
    count: float = 0.0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    buckets: dict[int, float] = field(default_factory=dict)

    def add(self, value: float, count: float = 1.0) -> None:
        self.count += count
        self.total += value * count
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        index = _bucket(value)
        self.buckets[index] = self.buckets.get(index, 0.0) + count

    def add_statistics(self, count: float, total: float, minimum: float, maximum: float) -> None:
        """A StatisticSet (PutMetricData): no individual values, so percentiles see its average."""
        self.count += count
        self.total += total
        self.minimum = min(self.minimum, minimum)
        self.maximum = max(self.maximum, maximum)
        if count:
            index = _bucket(total / count)
            self.buckets[index] = self.buckets.get(index, 0.0) + count

    def merge(self, other: Aggregate) -> None:
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        for index, count in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0.0) + count

    def percentile(self, rank: float) -> float | None:
        if self.count <= 0 or not self.buckets:
            return None
        if rank <= 0:
            return self.minimum
        if rank >= 100:
            return self.maximum
        wanted = self.count * rank / 100
        seen = 0.0
        for index in sorted(self.buckets, key=_bucket_value):
            seen += self.buckets[index]
            if seen >= wanted:
                return min(max(_bucket_value(index), self.minimum), self.maximum)
        return self.maximum

    def statistic(self, name: str) -> float | None:
        if self.count <= 0:
            return None
        if name == "SampleCount":
            return self.count
        if name == "Sum":
            return self.total
        if name == "Average":
            return self.total / self.count
        if name == "Minimum":
            return self.minimum
        if name == "Maximum":
            return self.maximum
        rank = percentile_of(name)
        return self.percentile(rank) if rank is not None else None

    def to_record(self) -> dict[str, object]:
        return {
            "c": self.count,
            "s": self.total,
            "n": self.minimum,
            "x": self.maximum,
            "b": {str(index): count for index, count in self.buckets.items()},
        }

    @classmethod
    def from_record(cls, record: dict[str, object]) -> Aggregate:
        buckets = record.get("b") or {}
        assert isinstance(buckets, dict)
        return cls(
            float(record["c"]),  # type: ignore[arg-type]
            float(record["s"]),  # type: ignore[arg-type]
            float(record["n"]),  # type: ignore[arg-type]
            float(record["x"]),  # type: ignore[arg-type]
            {int(index): float(count) for index, count in buckets.items()},
        )
