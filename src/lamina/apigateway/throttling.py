"""Request rates and quotas of API Gateway: token buckets (a steady rate with a burst) for stage
and usage-plan throttling, and counts per quota period for usage-plan quotas. In memory: a
restart refills every bucket and restarts every count (see docs/compatibility.md)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

__all__ = ["MAX_OFFSET", "QuotaCounter", "TokenBuckets", "period_start"]

MAX_TRACKED = 100_000


class TokenBuckets:
    """One bucket per key: `burst` tokens at most, refilled at `rate` a second."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, ...], tuple[float, float]] = {}  # key → (tokens, at)

    def take(self, key: tuple[str, ...], rate: float, burst: int) -> bool:
        """Whether a request may pass now (and, if so, its token is taken)."""
        now = time.monotonic()
        capacity = max(float(burst), 1.0) if burst > 0 else max(rate, 1.0)
        tokens, at = self._buckets.get(key, (capacity, now))
        tokens = min(capacity, tokens + (now - at) * rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        if len(self._buckets) >= MAX_TRACKED and key not in self._buckets:
            self._buckets.clear()  # every bucket full again: only ever lets more through
        self._buckets[key] = (tokens - 1.0, now)
        return True


def period_start(period: str, moment: datetime, offset: int = 0) -> str:
    """The quota period `moment` falls in, as a key, in UTC: a DAY; a WEEK starting on Sunday
    moved by `offset` days (1: Monday); a MONTH starting on its 1st moved by `offset` days, as
    API Gateway's QuotaSettings define them."""
    day = moment.astimezone(UTC).date()
    if period == "WEEK":
        first_weekday = (6 + offset) % 7  # date.weekday(): Monday 0 … Sunday 6
        day = day - timedelta(days=(day.weekday() - first_weekday) % 7)
    elif period == "MONTH":
        start = day.replace(day=1 + offset)
        if day < start:
            start = (day.replace(day=1) - timedelta(days=1)).replace(day=1 + offset)
        day = start
    return day.isoformat()


MAX_OFFSET = {"DAY": 0, "WEEK": 6, "MONTH": 27}


class QuotaCounter:
    """Requests counted per (key, period)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, ...], int] = {}

    def take(self, key: tuple[str, ...], period: str, limit: int, offset: int = 0) -> bool:
        window = (*key, period_start(period, datetime.now(UTC), offset))
        used = self._counts.get(window, 0)
        if used >= limit:
            return False
        if len(self._counts) >= MAX_TRACKED and window not in self._counts:
            self._counts = {k: v for k, v in self._counts.items() if k[-1] == window[-1]}
        self._counts[window] = used + 1
        return True

    def used(self, key: tuple[str, ...], period: str, offset: int = 0) -> int:
        return self._counts.get((*key, period_start(period, datetime.now(UTC), offset)), 0)
