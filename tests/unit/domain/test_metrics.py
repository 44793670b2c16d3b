"""Pure metric logic: aggregates and percentile sketches, metric math, alarm evaluation."""

from __future__ import annotations

import random

import pytest

from lamina.domain.metrics.aggregate import Aggregate, percentile_of
from lamina.domain.metrics.alarms import ALARM, INSUFFICIENT_DATA, OK, Rule, evaluate
from lamina.domain.metrics.expressions import ExpressionError
from lamina.domain.metrics.expressions import evaluate as compute


def test_basic_statistics() -> None:
    aggregate = Aggregate()
    for value in (4.0, 1.0, 7.0):
        aggregate.add(value)
    assert [
        aggregate.statistic(name) for name in ("SampleCount", "Sum", "Average", "Minimum", "Maximum")
    ] == [
        3.0,
        12.0,
        4.0,
        1.0,
        7.0,
    ]
    assert Aggregate().statistic("Sum") is None


@pytest.mark.parametrize("rank", [50.0, 90.0, 99.0, 99.9])
def test_percentiles_are_within_two_percent(rank: float) -> None:
    generator = random.Random(7)
    values = [generator.lognormvariate(3, 1) for _ in range(20_000)]
    aggregate = Aggregate()
    for value in values:
        aggregate.add(value)
    exact = sorted(values)[int(len(values) * rank / 100) - 1]
    assert aggregate.percentile(rank) == pytest.approx(exact, rel=0.02)


def test_merging_equals_adding_everything_to_one() -> None:
    left, right, both = Aggregate(), Aggregate(), Aggregate()
    for value in range(1, 200):
        (left if value % 2 else right).add(float(value))
        both.add(float(value))
    left.merge(right)
    assert left.to_record() == both.to_record()
    assert Aggregate.from_record(left.to_record()).statistic("p90") == both.statistic("p90")


def test_statistic_sets_and_zero_and_negative_values() -> None:
    aggregate = Aggregate()
    aggregate.add_statistics(4, 40.0, 5.0, 15.0)
    aggregate.add(0.0)
    aggregate.add(-3.0)
    assert aggregate.statistic("SampleCount") == 6
    assert aggregate.statistic("Minimum") == -3.0
    assert aggregate.statistic("p100") == 15.0
    assert aggregate.statistic("p0") == -3.0
    assert percentile_of("p99.9") == 99.9 and percentile_of("Sum") is None and percentile_of("p101") is None


SERIES = {"errors": {0: 2.0, 60: 0.0, 120: 5.0}, "calls": {0: 10.0, 60: 0.0, 180: 4.0}}


def test_metric_math_ratios_sums_and_fills() -> None:
    assert compute("errors / calls * 100", SERIES, ["errors", "calls"]) == {0: 20.0}  # 60: /0 dropped
    assert compute("errors + calls", SERIES, []) == {0: 12.0, 60: 0.0}
    assert compute("SUM(METRICS())", SERIES, ["errors", "calls"]) == {0: 12.0, 60: 0.0, 120: 5.0, 180: 4.0}
    assert compute("MAX([errors, calls])", SERIES, []) == {0: 10.0, 60: 0.0, 120: 5.0, 180: 4.0}
    assert compute("FILL(errors, 0)", SERIES, [], [0, 60, 120, 180]) == {0: 2.0, 60: 0.0, 120: 5.0, 180: 0.0}
    assert compute("-(errors - 1) * 2", SERIES, []) == {0: -2.0, 60: 2.0, 120: -8.0}
    for bad in ("errors +", "unknown * 2", "2 + 3", "errors ) 1"):
        with pytest.raises(ExpressionError):
            compute(bad, SERIES, [])


RULE = Rule(threshold=2, comparison="GreaterThanThreshold", evaluation_periods=3, datapoints_to_alarm=2)


@pytest.mark.parametrize(
    ("rule", "values", "current", "expected"),
    [
        (RULE, [3, 5, 1], OK, ALARM),
        (RULE, [3, 1, 1], ALARM, OK),
        (RULE, [None, None, None], OK, INSUFFICIENT_DATA),
        (RULE, [None, 3, 4], OK, ALARM),
        (RULE, [None, None, 4], OK, OK),  # missing: one breaching of one present is below 2
        (Rule(2, "GreaterThanThreshold", 3, 2, "breaching"), [None, None, 1], OK, ALARM),
        (Rule(2, "GreaterThanThreshold", 3, 2, "notBreaching"), [None, None, None], ALARM, OK),
        (Rule(2, "GreaterThanThreshold", 3, 2, "ignore"), [None, None, None], ALARM, ALARM),
        (Rule(2, "LessThanOrEqualToThreshold", 1, 1), [2], OK, ALARM),
        (Rule(2, "GreaterThanOrEqualToThreshold", 1, 1), [1.99], ALARM, OK),
    ],
)
def test_alarm_states(rule: Rule, values: list[float | None], current: str, expected: str) -> None:
    periods = [(index * 60, value) for index, value in enumerate(values)]
    assert evaluate(rule, periods, current).state == expected


def test_alarm_reasons_read_like_cloudwatchs() -> None:
    result = evaluate(Rule(2, "GreaterThanThreshold", 1, 1), [(0, 3.0)], OK)
    assert result.reason == (
        "Threshold Crossed: 1 out of the last 1 datapoints [3 (01/01/70 00:00:00)] was greater than the "
        "threshold (2) (minimum 1 datapoint for OK -> ALARM transition)."
    )
