"""Keep-alive policies as pure functions of the times they are given: fixed, and the hybrid
histogram policy of "Serverless in the Wild" (windows from known idle times, fallbacks)."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lamina.execution.pool.keep_alive import (
    HOUR,
    MINUTE,
    FixedKeepAlive,
    HistogramSettings,
    HybridHistogramKeepAlive,
    KeepAliveWindows,
    _IdleTimes,
    build_keep_alive_policy,
)

F = ("f", "$LATEST")
G = ("g", "$LATEST")
FALLBACK = 600.0


def adaptive(idle_times: list[float], function: tuple[str, str] = F) -> HybridHistogramKeepAlive:
    policy = HybridHistogramKeepAlive(FALLBACK)
    for seconds in idle_times:
        policy.record_idle_time(function, seconds)
    return policy


def test_fixed_keeps_every_environment_for_the_same_time() -> None:
    policy = FixedKeepAlive(600)
    assert policy.windows(F) == KeepAliveWindows(0.0, 600.0)
    assert policy.keep_alive_until(F, 1000.0) == 1600.0
    assert policy.prewarm_at(F, 1000.0) is None
    policy.record_invocation(F, 0.0)  # learns nothing
    policy.record_completion(F, 1.0)
    assert policy.windows(G) == policy.windows(F)


def test_build_by_name() -> None:
    assert isinstance(build_keep_alive_policy("fixed", 60), FixedKeepAlive)
    assert isinstance(build_keep_alive_policy("adaptive", 60), HybridHistogramKeepAlive)
    with pytest.raises(ValueError, match="unknown keep-alive policy"):
        build_keep_alive_policy("lru", 60)


def test_too_few_idle_times_fall_back_to_the_fixed_keep_alive() -> None:
    policy = adaptive([15 * MINUTE] * 9)
    assert policy.windows(F) == KeepAliveWindows(0.0, FALLBACK)
    assert policy.pattern(F) == "fallback"
    assert policy.windows(G) == KeepAliveWindows(0.0, FALLBACK)  # never seen
    policy.record_idle_time(F, 15 * MINUTE)
    assert policy.windows(F) != KeepAliveWindows(0.0, FALLBACK)


def test_a_periodic_function_is_unloaded_and_prewarmed_from_head_and_tail() -> None:
    # A 15-minute timer with jitter: idle times in the bins of minutes 14 and 15.
    policy = adaptive([14.5 * MINUTE] * 50 + [15.2 * MINUTE] * 50)
    windows = policy.windows(F)
    assert policy.pattern(F) == "histogram"
    # head: bin 14 starts at 840 s, minus 10%; tail: bin 15 ends at 960 s, plus 10%.
    assert windows.prewarm_seconds == pytest.approx(840 * 0.9)
    assert windows.unload_after_seconds == pytest.approx(960 * 1.1)
    assert windows.keep_alive_seconds == pytest.approx(960 * 1.1 - 840 * 0.9)
    last_end = 10_000.0
    assert policy.keep_alive_until(F, last_end) == last_end  # unloaded right after the invocation
    assert policy.prewarm_at(F, last_end) == pytest.approx(last_end + 756)
    assert policy.prewarmed_until(F, last_end) == pytest.approx(last_end + 1056)


def test_percentiles_ignore_rare_outliers_at_the_head_and_tail() -> None:
    # 2% very short and 0.5% very long idle times stay below the 5th and above the 99th percentile.
    idle_times = [10.0] * 4 + [30 * MINUTE + 20] * 195 + [3 * HOUR]
    windows = adaptive(idle_times).windows(F)
    assert windows.prewarm_seconds == pytest.approx(30 * MINUTE * 0.9)
    assert windows.unload_after_seconds == pytest.approx(31 * MINUTE * 1.1)


def test_a_head_in_the_first_minute_keeps_the_environment_loaded() -> None:
    # A bursty function: most idle times are seconds, a few are 40-minute gaps between bursts.
    idle_times = [5.0] * 96 + [40 * MINUTE + 10] * 4
    policy = adaptive(idle_times)
    windows = policy.windows(F)
    assert windows.prewarm_seconds == 0
    assert windows.keep_alive_seconds == pytest.approx(41 * MINUTE * 1.1)
    assert policy.prewarm_at(F, 50.0) is None
    assert policy.keep_alive_until(F, 50.0) == pytest.approx(50.0 + 41 * MINUTE * 1.1)


def test_idle_times_without_a_pattern_keep_the_environment_for_the_whole_range() -> None:
    # One idle time in each of the 240 one-minute bins: CV 0 < 2, the histogram is not representative.
    policy = adaptive([index * MINUTE + 1 for index in range(240)])
    assert policy.windows(F) == KeepAliveWindows(0.0, 4 * HOUR)
    assert policy.pattern(F) == "no-pattern"


def test_mostly_out_of_range_idle_times_use_the_forecast() -> None:
    # Over half the idle times exceed 4 hours: forecast = mean of the last 10 (ARIMA simplified away).
    idle_times = [10 * MINUTE] * 5 + [5 * HOUR] * 6 + [7 * HOUR] * 4
    policy = adaptive(idle_times)
    assert policy.pattern(F) == "forecast"
    windows = policy.windows(F)
    forecast = (6 * 5 * HOUR + 4 * 7 * HOUR) / 10
    assert windows.prewarm_seconds == pytest.approx(forecast * 0.85)
    assert windows.keep_alive_seconds == pytest.approx(forecast * 0.30)


def test_idle_times_are_measured_from_the_times_the_caller_passes() -> None:
    """Clock injection: any epoch works, nothing reads a clock; only idle gaps count."""
    policy = HybridHistogramKeepAlive(FALLBACK)
    now = 1e9
    for _ in range(12):
        policy.record_invocation(F, now)
        policy.record_invocation(F, now + 1)  # overlaps the first: no idle time in between
        policy.record_completion(F, now + 2)
        policy.record_completion(F, now + 3)
        now += 3 + 5 * MINUTE + 30  # 5.5 minutes idle
    windows = policy.windows(F)
    assert windows.prewarm_seconds == pytest.approx(5 * MINUTE * 0.9)
    assert windows.unload_after_seconds == pytest.approx(6 * MINUTE * 1.1)
    assert policy.windows(G) == KeepAliveWindows(0.0, FALLBACK)  # per function


def test_an_invocation_starting_before_the_last_end_counts_as_no_idle_time() -> None:
    policy = HybridHistogramKeepAlive(FALLBACK, HistogramSettings(min_samples=1))
    policy.record_invocation(F, 100.0)
    policy.record_completion(F, 200.0)
    policy.record_invocation(F, 150.0)  # clocks of concurrent callers may interleave
    policy.record_completion(F, 210.0)
    assert policy.windows(F) == KeepAliveWindows(0.0, MINUTE * 1.1)  # one idle time of 0 s


def test_settings_change_the_windows() -> None:
    settings = HistogramSettings(bin_seconds=10, range_seconds=600, histogram_margin=0, min_samples=3)
    policy = HybridHistogramKeepAlive(FALLBACK, settings)
    for _ in range(3):
        policy.record_idle_time(F, 125.0)
    assert policy.windows(F) == KeepAliveWindows(120.0, 10.0)


@given(st.lists(st.integers(min_value=0, max_value=239), min_size=1, max_size=300))
def test_the_running_coefficient_of_variation_matches_the_definition(indexes: list[int]) -> None:
    idle_times = _IdleTimes(240, 10)
    for index in indexes:
        idle_times.add(index)
    expected = statistics.stdev(idle_times.bins) / statistics.mean(idle_times.bins)
    assert idle_times.coefficient_of_variation() == pytest.approx(expected)
