"""Server-drawn charts: the axis top, the points' places, escaping, sparklines."""

from __future__ import annotations

import re

from lamina.console.charts import HEIGHT, Series, _nice_ceiling, line_chart, sparkline


def test_the_axis_top_is_one_two_or_five_times_a_power_of_ten() -> None:
    assert [_nice_ceiling(value) for value in (0, 0.3, 1, 1.5, 3, 7, 12, 99, 101, 4999)] == [
        1.0,
        0.5,
        1,
        2,
        5,
        10,
        20,
        100,
        200,
        5000,
    ]


def test_a_line_goes_through_its_values_and_skips_the_unknown() -> None:
    svg = str(line_chart("Duration", [0, 60, 120, 180], [Series("p50", [0, None, 10, 5])], "Milliseconds"))
    points = re.search(r'points="([^"]+)"', svg)
    assert points is not None
    coordinates = [tuple(map(float, point.split(","))) for point in points.group(1).split()]
    assert len(coordinates) == 3  # the unknown slot is left out
    bottom, top = coordinates[0][1], coordinates[1][1]
    assert bottom == HEIGHT - 28 and top == 12  # 0 on the axis, 10 at the top (the axis ends at 10)
    assert 'role="img" aria-label="Duration"' in svg


def test_labels_are_escaped() -> None:
    svg = str(line_chart("<script>", [0, 1], [Series("a&b", [1, 2])], "Count"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a&amp;b" in svg


def test_sparklines_say_the_total() -> None:
    assert 'aria-label="7 invocations in the last 24 hours"' in str(sparkline([None, 3, 4]))
    assert 'aria-label="0 invocations in the last 24 hours"' in str(sparkline([]))
