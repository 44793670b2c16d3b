"""AWS's six-field cron: parsing, validation, and fire times with croniter as an oracle where its
semantics agree (a plain five-field expression whose `?` becomes `*`), and by hand where they do not
(`W`, `LW`, `NL`, `#`, years, ranges that wrap)."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest
from croniter import croniter

from lamina.domain.schedules.cron import InvalidCron, parse_cron

START = datetime(2026, 1, 1, 0, 0)


def wall_times(fields: str, count: int, start: datetime = START) -> list[datetime]:
    return list(itertools.islice(parse_cron(fields).times_after(start), count))


def croniter_times(fields: str, count: int, start: datetime = START) -> list[datetime]:
    """The five-field form croniter reads: day-of-week numbered from 0 (Sunday), `?` as `*`."""
    minutes, hours, day_of_month, month, day_of_week, _year = fields.split()
    if day_of_week not in ("?", "*"):
        day_of_week = ",".join(
            str(int(part) - 1) if part.isdigit() else part for part in day_of_week.split(",")
        )
    translated = " ".join(
        (minutes, hours, day_of_month.replace("?", "*"), month, day_of_week.replace("?", "*"))
    )
    iterator = croniter(translated, start)
    return [iterator.get_next(datetime) for _ in range(count)]


@pytest.mark.parametrize(
    "fields",
    [
        "0 10 * * ? *",
        "15 12 * * ? *",
        "0 18 ? * MON-FRI *",
        "0 8 1 * ? *",
        "0/15 * * * ? *",
        "0/10 * ? * MON-FRI *",
        "0/5 8-17 ? * MON-FRI *",
        "5,35 14 * * ? *",
        "*/7 */5 * * ? *",
        "0 0 L * ? *",
        "0 9 29 2 ? *",
        "30 23 31 * ? *",
        "0 12 ? * 1,7 *",
        "0 6 ? JAN-MAR,NOV 3 *",
        "10-50/20 4 15 * ? *",
    ],
)
def test_fire_times_agree_with_croniter(fields: str) -> None:
    assert wall_times(fields, 40) == croniter_times(fields, 40)


def test_times_after_starts_strictly_after_the_given_minute() -> None:
    assert wall_times("30 1 * * ? *", 2, datetime(2026, 5, 1, 1, 30, 59)) == [
        datetime(2026, 5, 2, 1, 30),
        datetime(2026, 5, 3, 1, 30),
    ]


def test_last_day_of_the_month_across_month_lengths_and_leap_years() -> None:
    days = [moment.date().isoformat() for moment in wall_times("0 0 L * ? *", 14, datetime(2027, 12, 31, 12))]
    assert days[:4] == ["2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30"]
    assert "2029-02-28" in days


def test_nearest_weekday_never_leaves_the_month() -> None:
    # 2026-08-01 is a Saturday: 1W is Monday the 3rd, not Friday July 31.
    assert wall_times("0 9 1W 8 ? 2026", 1) == [datetime(2026, 8, 3, 9)]
    # 2026-05-31 is a Sunday: 31W is Friday the 29th, not Monday June 1.
    assert wall_times("0 9 31W 5 ? 2026", 1) == [datetime(2026, 5, 29, 9)]
    # 2026-02-15 is a Sunday: Monday the 16th; 2026-02-14 a Saturday: Friday the 13th.
    assert wall_times("0 9 15W,14W 2 ? 2026", 2) == [datetime(2026, 2, 13, 9), datetime(2026, 2, 16, 9)]
    # A 31W in a 30-day month does not fire.
    assert [moment.month for moment in wall_times("0 9 31W * ? 2026", 7)] == [1, 3, 5, 7, 8, 10, 12]


def test_last_weekday_of_the_month() -> None:
    # January 2026 ends on a Saturday, May 2026 on a Sunday, March on a Tuesday.
    assert [moment.date().isoformat() for moment in wall_times("0 17 LW * ? 2026", 5)] == [
        "2026-01-30",
        "2026-02-27",
        "2026-03-31",
        "2026-04-30",
        "2026-05-29",
    ]


def test_nth_weekday_of_the_month() -> None:
    # 3#2: the second Tuesday (3 = Tuesday, 1 = Sunday).
    assert [moment.day for moment in wall_times("0 10 ? * 3#2 2026", 4)] == [13, 10, 10, 14]
    assert [moment.day for moment in wall_times("0 10 ? * TUE#2 2026", 1)] == [13]
    # A fifth Friday only in months that have one.
    assert [moment.date().isoformat() for moment in wall_times("0 10 ? * 6#5 2026", 3)] == [
        "2026-01-30",
        "2026-05-29",
        "2026-07-31",
    ]


def test_last_given_weekday_and_plain_l_in_day_of_week() -> None:
    assert [moment.day for moment in wall_times("0 12 ? * 6L 2026", 3)] == [30, 27, 27]  # last Friday
    assert {moment.weekday() for moment in wall_times("0 12 ? * L *", 10)} == {5}  # L alone: Saturday


def test_ranges_wrap_around_as_quartz_does() -> None:
    assert {moment.strftime("%a") for moment in wall_times("0 12 ? * FRI-MON *", 20)} == {
        "Fri",
        "Sat",
        "Sun",
        "Mon",
    }
    assert sorted({moment.hour for moment in wall_times("0 22-2 * * ? *", 30)}) == [0, 1, 2, 22, 23]


def test_years_bound_the_schedule() -> None:
    assert wall_times("0 0 1 1 ? 2027-2029", 10) == [datetime(year, 1, 1) for year in (2027, 2028, 2029)]
    assert wall_times("0 0 1 1 ? 2020", 1) == []  # every year it names has passed


def test_a_date_no_calendar_has_never_fires() -> None:
    assert wall_times("0 0 30 2 ? *", 1) == []
    assert wall_times("0 0 31 4,6,9,11 ? *", 1) == []


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ("0 10 * * *", "6 fields"),
        ("0 10 * * ? * *", "6 fields"),
        ("0 10 * * * *", "exactly one"),
        ("0 10 ? * ? *", "exactly one"),
        ("0 10 1 * MON *", "exactly one"),
        ("60 10 * * ? *", "outside minutes"),
        ("0 24 * * ? *", "outside hours"),
        ("0 10 0 * ? *", "outside day-of-month"),
        ("0 10 32 * ? *", "outside day-of-month"),
        ("0 10 * 13 ? *", "outside month"),
        ("0 10 ? * 8 *", "outside day-of-week"),
        ("0 10 ? * 0 *", "outside day-of-week"),
        ("0 10 * * ? 1969", "outside year"),
        ("0/0 10 * * ? *", "positive"),
        ("0/x 10 * * ? *", "positive"),
        ("a 10 * * ? *", "not a value"),
        ("0 10 ? * 2#1,3#2 *", "that one expression"),
        ("0 10 ? * 2#6 *", "1-5"),
        ("0 10 ? * 9#1 *", "outside day-of-week"),
        ("0 10 * FOO ? *", "not a value"),
        ("0 10 * * ? 2030-2027", "runs forward"),
        ("0 ١ * * ? *", "not a value"),  # digits other than ASCII's
    ],
)
def test_invalid_expressions_say_why(fields: str, reason: str) -> None:
    with pytest.raises(InvalidCron, match=reason):
        parse_cron(fields)


def test_names_are_case_insensitive_and_fields_keep_their_text() -> None:
    expression = parse_cron("0  18 ? jan-mar mon-fri  *")
    assert expression.months == (1, 2, 3)
    assert str(expression) == "cron(0 18 ? jan-mar mon-fri *)"
