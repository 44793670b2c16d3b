"""Keep-alive policies: how long an idle environment stays warm, and when to pre-warm one.

Pure and clock-injected: every method takes the time as an argument (seconds on one monotonic
clock) and nothing here reads a clock, sleeps or does I/O, so the pool and the offline simulator in
`bench/keep_alive_policies.py` run exactly the same code.

A policy answers with `KeepAliveWindows`, the two windows of "Serverless in the Wild" (Shahrad et
al., USENIX ATC'20, Fig. 12), both measured from the end of a function's last invocation:
- pre-warm 0: the environment stays loaded for `keep_alive_seconds`, then stops;
- pre-warm > 0: the environment stops at once, a new one is loaded `prewarm_seconds` after that end
  and stays loaded for `keep_alive_seconds` more.
"""

from __future__ import annotations

import abc
import collections
import math
from dataclasses import dataclass

FunctionKey = tuple[str, str]  # (function name, version): whose invocation pattern is learnt

MINUTE = 60.0
HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class KeepAliveWindows:
    prewarm_seconds: float
    keep_alive_seconds: float

    @property
    def unload_after_seconds(self) -> float:
        """When, after the last invocation ended, the (pre-warmed) environment stops."""
        return self.prewarm_seconds + self.keep_alive_seconds


class KeepAlivePolicy(abc.ABC):
    """Contract: `record_invocation` / `record_completion` come in pairs per invocation (the pool
    calls them when it hands an environment out and takes it back); the answers may change after
    each record. Times are seconds on the caller's monotonic clock."""

    name: str

    def record_invocation(self, function: FunctionKey, now: float) -> None:  # noqa: B027 - optional hook
        """An invocation of `function` starts at `now`."""

    def record_completion(self, function: FunctionKey, now: float) -> None:  # noqa: B027 - optional hook
        """An invocation of `function` ended at `now`."""

    @abc.abstractmethod
    def windows(self, function: FunctionKey) -> KeepAliveWindows: ...

    def keep_alive_until(self, function: FunctionKey, idle_since: float) -> float:
        """When an environment of `function` idle since `idle_since` stops (at `now >= until`).
        With a pre-warm window it stops at once: a pre-warmed one replaces it later."""
        windows = self.windows(function)
        if windows.prewarm_seconds > 0:
            return idle_since
        return idle_since + windows.keep_alive_seconds

    def prewarm_at(self, function: FunctionKey, last_end: float) -> float | None:
        """When to load an environment of `function` whose last invocation ended at `last_end`;
        None when environments simply stay loaded after invocations."""
        windows = self.windows(function)
        if windows.prewarm_seconds <= 0:
            return None
        return last_end + windows.prewarm_seconds

    def prewarmed_until(self, function: FunctionKey, last_end: float) -> float:
        """When an environment pre-warmed after an invocation that ended at `last_end` stops."""
        return last_end + self.windows(function).unload_after_seconds


class FixedKeepAlive(KeepAlivePolicy):
    """AWS's and Azure's practice: every idle environment stays warm for the same time."""

    name = "fixed"

    def __init__(self, keep_alive_seconds: float) -> None:
        self._windows = KeepAliveWindows(0.0, keep_alive_seconds)

    def windows(self, function: FunctionKey) -> KeepAliveWindows:
        return self._windows


@dataclass(frozen=True, slots=True)
class HistogramSettings:
    """The paper's parameters (Section 4.2), plus Lamina's minimum sample count."""

    bin_seconds: float = MINUTE
    range_seconds: float = 4 * HOUR
    head_percentile: float = 5.0  # pre-warm window
    tail_percentile: float = 99.0  # end of the keep-alive window
    histogram_margin: float = 0.10  # pre-warm 10% earlier, keep alive 10% longer
    cv_threshold: float = 2.0  # bin counts' coefficient of variation: at or above, the pattern is clear
    out_of_bounds_threshold: float = 0.5  # share of idle times past the range that switches to forecasts
    forecast_margin: float = 0.15
    forecast_samples: int = 10  # idle times the forecast averages
    min_samples: int = 10  # fewer idle times seen: the fixed keep-alive applies


class _IdleTimes:
    """One function's idle times: a range-limited histogram plus the most recent raw values."""

    __slots__ = ("bins", "in_range", "last_end", "out_of_bounds", "recent", "running", "square_sum")

    def __init__(self, bin_count: int, recent: int) -> None:
        self.bins = [0] * bin_count
        self.in_range = 0
        self.square_sum = 0  # of the bin counts: the coefficient of variation in O(1)
        self.out_of_bounds = 0
        self.recent: collections.deque[float] = collections.deque(maxlen=recent)
        self.running = 0
        self.last_end: float | None = None

    @property
    def samples(self) -> int:
        return self.in_range + self.out_of_bounds

    def add(self, index: int) -> None:
        self.square_sum += 2 * self.bins[index] + 1
        self.bins[index] += 1
        self.in_range += 1

    def coefficient_of_variation(self) -> float:
        """Of the bin counts (sample standard deviation over mean)."""
        count = len(self.bins)
        mean = self.in_range / count
        if mean == 0 or count < 2:
            return 0.0
        variance = max(0.0, (self.square_sum - count * mean * mean) / (count - 1))
        return math.sqrt(variance) / mean

    def percentile_bin(self, percentile: float) -> int:
        """Index of the bin holding the given percentile of the in-range idle times."""
        threshold = percentile / 100 * self.in_range
        cumulative = 0
        for index, value in enumerate(self.bins):
            cumulative += value
            if cumulative >= threshold and cumulative > 0:
                return index
        return len(self.bins) - 1


class HybridHistogramKeepAlive(KeepAlivePolicy):
    """The hybrid histogram policy of "Serverless in the Wild" (Shahrad et al., ATC'20, Section 4.2).

    Per function, idle times (from the end of an invocation to the start of the next one, while no
    other invocation runs) go into 1-minute bins over 4 hours. Then, in this order:
    - fewer than `min_samples` idle times: the fixed keep-alive (`fallback_seconds`), no pre-warm
      (Lamina's choice; the paper starts from its conservative default below);
    - at least half of them past the 4-hour range: a forecast of the next idle time; pre-warm at
      forecast - 15%, keep alive for 2 × 15% of it. The paper forecasts with ARIMA; Lamina
      simplifies that to the mean of the last 10 idle times;
    - bin counts with a coefficient of variation below 2 (no clear pattern, the histogram is not
      representative): no pre-warm, keep alive for the whole range (4 hours), as in the paper;
    - otherwise the histogram's head and tail: pre-warm at the 5th percentile's bin minus 10%,
      stop at the end of the 99th percentile's bin plus 10%. A head in the first bin means no
      pre-warm: the environment stays loaded from the end of the invocation.
    """

    name = "adaptive"

    def __init__(self, fallback_seconds: float, settings: HistogramSettings | None = None) -> None:
        self._fallback = KeepAliveWindows(0.0, fallback_seconds)
        self._settings = settings or HistogramSettings()
        self._bin_count = max(1, round(self._settings.range_seconds / self._settings.bin_seconds))
        self._functions: dict[FunctionKey, _IdleTimes] = {}
        self._decisions: dict[FunctionKey, tuple[str, KeepAliveWindows]] = {}  # until the next record

    def _idle_times(self, function: FunctionKey) -> _IdleTimes:
        idle_times = self._functions.get(function)
        if idle_times is None:
            idle_times = _IdleTimes(self._bin_count, self._settings.forecast_samples)
            self._functions[function] = idle_times
        return idle_times

    def record_invocation(self, function: FunctionKey, now: float) -> None:
        idle_times = self._idle_times(function)
        if idle_times.running == 0 and idle_times.last_end is not None:
            self.record_idle_time(function, max(0.0, now - idle_times.last_end))
        idle_times.running += 1

    def record_completion(self, function: FunctionKey, now: float) -> None:
        idle_times = self._idle_times(function)
        idle_times.running = max(0, idle_times.running - 1)
        if idle_times.last_end is None or now > idle_times.last_end:
            idle_times.last_end = now

    def record_idle_time(self, function: FunctionKey, seconds: float) -> None:
        """Add one observed idle time directly (what `record_invocation` does after an idle gap)."""
        idle_times = self._idle_times(function)
        index = int(seconds // self._settings.bin_seconds)
        if index < self._bin_count:
            idle_times.add(index)
        else:
            idle_times.out_of_bounds += 1
        idle_times.recent.append(seconds)
        self._decisions.pop(function, None)

    def windows(self, function: FunctionKey) -> KeepAliveWindows:
        return self._decide(function)[1]

    def pattern(self, function: FunctionKey) -> str:
        """Which rule decides the windows: "fallback" (too few idle times), "forecast" (mostly
        past the histogram's range), "no-pattern" (not representative) or "histogram"."""
        return self._decide(function)[0]

    def _decide(self, function: FunctionKey) -> tuple[str, KeepAliveWindows]:
        decision = self._decisions.get(function)
        if decision is None:
            decision = self._compute(self._functions.get(function))
            self._decisions[function] = decision
        return decision

    def _compute(self, idle_times: _IdleTimes | None) -> tuple[str, KeepAliveWindows]:
        settings = self._settings
        if idle_times is None or idle_times.samples < max(1, settings.min_samples):
            return "fallback", self._fallback
        if idle_times.out_of_bounds >= settings.out_of_bounds_threshold * idle_times.samples:
            forecast = sum(idle_times.recent) / len(idle_times.recent)
            margin = settings.forecast_margin
            return "forecast", KeepAliveWindows(forecast * (1 - margin), forecast * margin * 2)
        if idle_times.coefficient_of_variation() < settings.cv_threshold:
            return "no-pattern", KeepAliveWindows(0.0, settings.range_seconds)
        head = idle_times.percentile_bin(settings.head_percentile) * settings.bin_seconds
        tail = (idle_times.percentile_bin(settings.tail_percentile) + 1) * settings.bin_seconds
        prewarm = head * (1 - settings.histogram_margin)
        unload_after = tail * (1 + settings.histogram_margin)
        return "histogram", KeepAliveWindows(prewarm, unload_after - prewarm)


def build_keep_alive_policy(name: str, keep_alive_seconds: float) -> KeepAlivePolicy:
    """`fixed` or `adaptive` (the hybrid histogram, falling back to `keep_alive_seconds`)."""
    if name == FixedKeepAlive.name:
        return FixedKeepAlive(keep_alive_seconds)
    if name == HybridHistogramKeepAlive.name:
        return HybridHistogramKeepAlive(keep_alive_seconds)
    raise ValueError(f"unknown keep-alive policy {name!r}: expected fixed or adaptive")


KEEP_ALIVE_POLICIES = (FixedKeepAlive.name, HybridHistogramKeepAlive.name)
