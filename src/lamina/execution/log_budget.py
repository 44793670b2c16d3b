"""How much a function may log: a rate per function, a bound on what the server holds, and drops.

A function can print faster than any disk takes it (a loop of `print` makes hundreds of MB a
second), and every byte it prints passes through the server. So each function has a token bucket
(bytes per second, with a burst) shared by all its environments, and each account a bound on the
bytes its log store holds in memory before they are written. A line that finds the bucket empty or
the store too far behind is dropped unread (its bytes are counted, not decoded), and the function's
log stream gets a platform record saying how many records and bytes went, as Lambda's Telemetry API
reports `platform.logsDropped` (reason, droppedRecords, droppedBytes).

A line costs its bytes plus 26, the per-event overhead CloudWatch Logs counts (PutLogEvents quotas),
so a flood of empty lines is limited too. Pure policy: the clock is passed in, nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# CloudWatch Logs: an event's size is its message in UTF-8 plus 26 bytes.
EVENT_OVERHEAD_BYTES = 26

RATE_LIMITED = "Function logged faster than its log rate limit allows."
BACKLOGGED = "The log store fell behind; lines were dropped to keep the server's memory bounded."


@dataclass(frozen=True, slots=True)
class LogLimits:
    """`lamina server --log-limit NAME=VALUE`. Defaults are generous: far above what a function
    that logs to be read produces, far below what would hurt the server."""

    # Bytes per second each function may log, all its environments together.
    rate_bytes: int = 4 * 1024 * 1024
    # Bytes a function may log at once after a quiet spell (the bucket's size).
    burst_bytes: int = 16 * 1024 * 1024
    # Bytes an environment holds before it hands its lines to the log store.
    environment_buffer_bytes: int = 256 * 1024
    # Bytes an account's log store may hold in memory, not yet written, before lines are dropped.
    account_buffer_bytes: int = 64 * 1024 * 1024
    # Bytes an account's logs may take on disk; beyond, its oldest streams (then the oldest events
    # of the oldest stream) are deleted.
    account_quota_bytes: int = 10 * 1024 * 1024 * 1024


class TokenBucket:
    """`rate` tokens a second up to `burst`; starts full."""

    __slots__ = ("_burst", "_rate", "_tokens", "_updated")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._updated = now

    def refill(self, now: float) -> float:
        """Tokens available at `now`."""
        if now > self._updated:
            self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
        return self._tokens

    @property
    def tokens(self) -> float:
        """Tokens left at the last `refill`."""
        return self._tokens

    def take(self, cost: float) -> bool:
        """Spend `cost` if that many are there (call `refill` first); never goes negative."""
        if self._tokens < cost:
            return False
        self._tokens -= cost
        return True


class LogBudget:
    """One account's budget: a bucket per function and the store's backlog bound. Buckets are
    created on a function's first line and dropped once full again (an idle function holds none)."""

    def __init__(self, limits: LogLimits, backlog: Callable[[], int], clock: Callable[[], float]) -> None:
        """`backlog()`: bytes the account's log store holds unwritten."""
        self.limits = limits
        self._backlog = backlog
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._next_sweep = 0.0
        self.dropped_records = 0  # since start, all functions (the platform's metrics)
        self.dropped_bytes = 0

    def meter(self, function: str) -> LineMeter:
        return LineMeter(self, function)

    def bucket(self, function: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(function)
        if bucket is None:
            if now >= self._next_sweep:
                self._sweep(now)
            bucket = self._buckets[function] = TokenBucket(
                self.limits.rate_bytes, self.limits.burst_bytes, now
            )
        return bucket

    def backlogged(self) -> bool:
        return self._backlog() > self.limits.account_buffer_bytes

    def now(self) -> float:
        return self._clock()

    def _sweep(self, now: float) -> None:
        """Forget the buckets that are full again: a new one starts full, so nothing changes."""
        self._next_sweep = now + 60.0
        burst = self.limits.burst_bytes
        for name in [name for name, bucket in self._buckets.items() if bucket.refill(now) >= burst]:
            del self._buckets[name]


class LineMeter:
    """One environment's view of the budget: admits or drops lines and counts the drops since they
    were last reported."""

    __slots__ = ("_budget", "_function", "dropped_bytes", "dropped_records", "reason")

    def __init__(self, budget: LogBudget, function: str) -> None:
        self._budget = budget
        self._function = function
        self.dropped_records = 0
        self.dropped_bytes = 0
        self.reason = RATE_LIMITED

    def open(self) -> TokenBucket | None:
        """The bucket to charge this chunk's lines to, or None when the store is too far behind
        (every line of the chunk is dropped)."""
        if self._budget.backlogged():
            self.reason = BACKLOGGED
            return None
        now = self._budget.now()
        bucket = self._budget.bucket(self._function, now)
        bucket.refill(now)
        return bucket

    def dropped(self, records: int, size: int) -> None:
        if records > 0:
            self.dropped_records += records
            self.dropped_bytes += size
            self._budget.dropped_records += records
            self._budget.dropped_bytes += size

    def take_dropped(self) -> tuple[str, int, int] | None:
        """(reason, records, bytes) dropped since the last call, or None."""
        if self.dropped_records == 0:
            return None
        report = (self.reason, self.dropped_records, self.dropped_bytes)
        self.dropped_records = self.dropped_bytes = 0
        self.reason = RATE_LIMITED
        return report
