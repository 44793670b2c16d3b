"""Fire times in a time zone, across daylight saving changes, as the Scheduler user guide documents:
a skipped wall time does not fire, a repeated one fires once, and rates count elapsed time."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lamina.domain.schedules import fire_times, next_fire_time, parse_schedule_expression

NEW_YORK = ZoneInfo("America/New_York")  # 2026: forward on March 8 at 02:00, back on November 1 at 02:00
SYDNEY = ZoneInfo("Australia/Sydney")  # 2026: back on April 5 at 03:00, forward on October 4 at 02:00


def local(moments: list[datetime], zone: ZoneInfo) -> list[str]:
    return [moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %z") for moment in moments]


def first(text: str, after: datetime, count: int, **options: object) -> list[datetime]:
    expression = parse_schedule_expression(text, allow_at=True)
    return list(itertools.islice(fire_times(expression, after, **options), count))  # type: ignore[arg-type]


def test_cron_times_are_wall_clock_times_in_the_zone() -> None:
    moments = first("cron(0 9 * * ? *)", datetime(2026, 6, 1, tzinfo=UTC), 2, zone=NEW_YORK)
    assert moments == [datetime(2026, 6, 1, 13, tzinfo=UTC), datetime(2026, 6, 2, 13, tzinfo=UTC)]


def test_a_wall_time_skipped_when_clocks_go_forward_does_not_fire() -> None:
    moments = first("cron(30 2 * * ? *)", datetime(2026, 3, 6, tzinfo=UTC), 3, zone=NEW_YORK)
    assert local(moments, NEW_YORK) == [
        "2026-03-06 02:30 -0500",
        "2026-03-07 02:30 -0500",
        "2026-03-09 02:30 -0400",
    ]


def test_a_wall_time_repeated_when_clocks_go_back_fires_once() -> None:
    moments = first("cron(0,30 1 * * ? *)", datetime(2026, 10, 31, 12, tzinfo=UTC), 4, zone=NEW_YORK)
    assert local(moments, NEW_YORK) == [
        "2026-11-01 01:00 -0400",
        "2026-11-01 01:30 -0400",
        "2026-11-02 01:00 -0500",
        "2026-11-02 01:30 -0500",
    ]


def test_after_the_second_pass_of_a_repeated_hour_nothing_fires_twice() -> None:
    second_pass = datetime(2026, 11, 1, 1, 10, tzinfo=NEW_YORK, fold=1)
    moments = first("cron(*/20 * * * ? *)", second_pass, 2, zone=NEW_YORK)
    assert local(moments, NEW_YORK) == ["2026-11-01 02:00 -0500", "2026-11-01 02:20 -0500"]


def test_southern_hemisphere_changes() -> None:
    back = first("cron(30 2 * * ? *)", datetime(2026, 4, 3, 12, tzinfo=UTC), 3, zone=SYDNEY)
    assert local(back, SYDNEY) == [
        "2026-04-04 02:30 +1100",
        "2026-04-05 02:30 +1100",
        "2026-04-06 02:30 +1000",
    ]
    forward = first("cron(30 2 * * ? *)", datetime(2026, 10, 2, 12, tzinfo=UTC), 2, zone=SYDNEY)
    assert local(forward, SYDNEY) == ["2026-10-03 02:30 +1000", "2026-10-05 02:30 +1100"]


def test_rates_count_elapsed_time_across_a_change() -> None:
    anchor = datetime(2026, 3, 7, 12, tzinfo=NEW_YORK)
    moments = first("rate(1 day)", anchor - timedelta(seconds=1), 3, anchor=anchor, zone=NEW_YORK)
    # 24 hours after noon on March 7 is 13:00 on March 8, once clocks went forward.
    assert local(moments, NEW_YORK) == [
        "2026-03-07 12:00 -0500",
        "2026-03-08 13:00 -0400",
        "2026-03-09 13:00 -0400",
    ]


def test_rates_continue_from_their_anchor() -> None:
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    assert first("rate(5 minutes)", datetime(2026, 1, 1, 0, 7, tzinfo=UTC), 2, anchor=anchor) == [
        datetime(2026, 1, 1, 0, 10, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 15, tzinfo=UTC),
    ]
    # Exactly on a fire time: the next one.
    assert first("rate(5 minutes)", datetime(2026, 1, 1, 0, 10, tzinfo=UTC), 1, anchor=anchor) == [
        datetime(2026, 1, 1, 0, 15, tzinfo=UTC)
    ]


def test_a_rate_needs_an_anchor_and_after_must_be_aware() -> None:
    with pytest.raises(ValueError, match="anchor"):
        first("rate(5 minutes)", datetime(2026, 1, 1, tzinfo=UTC), 1)
    with pytest.raises(ValueError, match="aware"):
        first("cron(0 9 * * ? *)", datetime(2026, 1, 1), 1)


def test_at_fires_once_in_its_zone_and_never_at_a_skipped_time() -> None:
    assert first("at(2026-07-04T09:00:00)", datetime(2026, 1, 1, tzinfo=UTC), 5, zone=NEW_YORK) == [
        datetime(2026, 7, 4, 13, tzinfo=UTC)
    ]
    assert first("at(2026-07-04T09:00:00)", datetime(2026, 8, 1, tzinfo=UTC), 1, zone=NEW_YORK) == []
    assert first("at(2026-03-08T02:30:00)", datetime(2026, 1, 1, tzinfo=UTC), 1, zone=NEW_YORK) == []


def test_end_bounds_the_fire_times_inclusively() -> None:
    expression = parse_schedule_expression("cron(0 * * * ? *)")
    after = datetime(2026, 1, 1, tzinfo=UTC)
    moments = list(fire_times(expression, after, end=datetime(2026, 1, 1, 3, tzinfo=UTC)))
    assert [moment.hour for moment in moments] == [1, 2, 3]
    assert next_fire_time(expression, after, end=datetime(2026, 1, 1, 0, 30, tzinfo=UTC)) is None
