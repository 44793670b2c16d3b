"""AWS's six-field cron expressions (EventBridge user guide, "Cron expressions reference"; the same
syntax in EventBridge Scheduler): minutes, hours, day-of-month, month, day-of-week, year.

    cron(0 10 * * ? *)        10:00 every day
    cron(15 12 L * ? *)       12:15 on the last day of every month
    cron(0 8 ? * 2#1 *)       08:00 on the first Monday of every month (1 = Sunday)
    cron(0 18 ? * MON-FRI *)  18:00 on weekdays

Fields take values, `,` lists, `-` ranges (a range may wrap, as Quartz's do: `FRI-MON`), `*`, and
`/` steps (`0/15`, `*/10`, `5-50/5`). Day-of-month also takes `L` (the last day), `NW` (the weekday
nearest day N, never leaving its month) and `LW` (the last weekday); day-of-week takes `L` (Saturday,
the week's last day), `NL` (the month's last day N) and `N#k` (its k-th day N, alone in the field).
Exactly one of day-of-month and day-of-week is `?`.

Times here are wall-clock times without a zone: `fire_times` places them in one.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

__all__ = ["CronExpression", "InvalidCron", "parse_cron"]

# The calendar repeats every 400 years: no match in that span means none ever.
_CALENDAR_CYCLE_YEARS = 400
_LAST_YEAR = 9999  # datetime's; AWS documents 1970-2199 but accepts later years (compatibility.md)
_MONTH_NAMES = {name.upper(): number for number, name in enumerate(calendar.month_abbr) if name}
_DAY_NAMES = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_SATURDAY = 7


class InvalidCron(ValueError):
    """The expression is not one AWS accepts; the message says which part, for our logs and CLI
    (the APIs answer with their own fixed wording)."""


@dataclass(frozen=True, slots=True)
class _Bounds:
    name: str
    low: int
    high: int
    names: dict[str, int] | None = None


_MINUTES = _Bounds("minutes", 0, 59)
_HOURS = _Bounds("hours", 0, 23)
_DAYS_OF_MONTH = _Bounds("day-of-month", 1, 31)
_MONTHS = _Bounds("month", 1, 12, _MONTH_NAMES)
_DAYS_OF_WEEK = _Bounds("day-of-week", 1, 7, _DAY_NAMES)
_YEARS = _Bounds("year", 1970, _LAST_YEAR)


@dataclass(frozen=True, slots=True)
class DayOfMonthRule:
    days: frozenset[int] = frozenset()
    last_day: bool = False  # L
    last_weekday: bool = False  # LW
    nearest_weekdays: frozenset[int] = frozenset()  # NW

    def days_in(self, year: int, month: int) -> set[int]:
        length = calendar.monthrange(year, month)[1]
        found = {day for day in self.days if day <= length}
        if self.last_day:
            found.add(length)
        if self.last_weekday:
            found.add(_nearest_weekday(year, month, length, length))
        found.update(
            _nearest_weekday(year, month, day, length) for day in self.nearest_weekdays if day <= length
        )
        return found


@dataclass(frozen=True, slots=True)
class DayOfWeekRule:
    weekdays: frozenset[int] = frozenset()  # 1 = Sunday … 7 = Saturday
    last_of_month: frozenset[int] = frozenset()  # NL
    nth: tuple[int, int] | None = None  # N#k: (weekday, k)

    def days_in(self, year: int, month: int) -> set[int]:
        length = calendar.monthrange(year, month)[1]
        first = _aws_weekday(date(year, month, 1))
        found: set[int] = set()
        for day in range(1, length + 1):
            weekday = (first - 1 + day - 1) % 7 + 1
            if weekday in self.weekdays:
                found.add(day)
            if weekday in self.last_of_month and day + 7 > length:
                found.add(day)
            if self.nth is not None and weekday == self.nth[0] and (day - 1) // 7 + 1 == self.nth[1]:
                found.add(day)
        return found


@dataclass(frozen=True, slots=True)
class CronExpression:
    fields: str  # as written inside cron(...)
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...] | None  # None: every year
    day_of_month: DayOfMonthRule | None  # None: `?`
    day_of_week: DayOfWeekRule | None  # None: `?`

    def __str__(self) -> str:
        return f"cron({self.fields})"

    def days_in(self, year: int, month: int) -> list[int]:
        rule = self.day_of_month if self.day_of_month is not None else self.day_of_week
        assert rule is not None, "parse_cron leaves exactly one day field as ?"
        return sorted(rule.days_in(year, month))

    def times_after(self, moment: datetime) -> Iterator[datetime]:
        """Every matching wall-clock minute after `moment` (naive), in order; ends when the
        expression can match no more (its last year passed, or a date no calendar has)."""
        start = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        last_match_year = start.year
        for year in self._years_from(start.year):
            if self.years is None and year - last_match_year > _CALENDAR_CYCLE_YEARS:
                return
            for month in self.months:
                if (year, month) < (start.year, start.month):
                    continue
                for day in self.days_in(year, month):
                    today = (year, month, day)
                    if today < (start.year, start.month, start.day):
                        continue
                    for hour in self.hours:
                        if today == (start.year, start.month, start.day) and hour < start.hour:
                            continue
                        for minute in self.minutes:
                            candidate = datetime(year, month, day, hour, minute)
                            if candidate >= start:
                                last_match_year = year
                                yield candidate

    def _years_from(self, first: int) -> Iterator[int]:
        if self.years is None:
            yield from range(first, _LAST_YEAR + 1)
        else:
            yield from (year for year in self.years if year >= first)


def parse_cron(fields: str) -> CronExpression:
    """The fields inside `cron(...)`; raises InvalidCron."""
    parts = fields.split()
    if len(parts) != 6:
        raise InvalidCron(f"a cron expression has 6 fields, not {len(parts)}")
    minutes, hours, day_of_month, months, day_of_week, years = parts
    if (day_of_month == "?") == (day_of_week == "?"):
        raise InvalidCron("exactly one of day-of-month and day-of-week must be ?")
    return CronExpression(
        fields=" ".join(parts),
        minutes=tuple(sorted(_values(minutes, _MINUTES))),
        hours=tuple(sorted(_values(hours, _HOURS))),
        months=tuple(sorted(_values(months, _MONTHS))),
        years=None if years == "*" else tuple(sorted(_values(years, _YEARS))),
        day_of_month=None if day_of_month == "?" else _day_of_month(day_of_month),
        day_of_week=None if day_of_week == "?" else _day_of_week(day_of_week),
    )


def _day_of_month(field: str) -> DayOfMonthRule:
    days: set[int] = set()
    last_day = last_weekday = False
    nearest: set[int] = set()
    for item in field.split(","):
        upper = item.upper()
        if upper == "L":
            last_day = True
        elif upper == "LW":
            last_weekday = True
        elif upper.endswith("W") and upper[:-1].isdigit():
            nearest.add(_number(upper[:-1], _DAYS_OF_MONTH))
        else:
            days.update(_item_values(item, _DAYS_OF_MONTH))
    return DayOfMonthRule(frozenset(days), last_day, last_weekday, frozenset(nearest))


def _day_of_week(field: str) -> DayOfWeekRule:
    items = field.split(",")
    if any("#" in item for item in items):
        if len(items) != 1:
            raise InvalidCron("a day-of-week with # holds that one expression only")
        weekday, _, instance = items[0].partition("#")
        if not instance.isdigit() or not 1 <= int(instance) <= 5:
            raise InvalidCron(f"{items[0]!r}: the instance after # is 1-5")
        return DayOfWeekRule(nth=(_number(weekday, _DAYS_OF_WEEK), int(instance)))
    weekdays: set[int] = set()
    last_of_month: set[int] = set()
    for item in items:
        upper = item.upper()
        if upper == "L":
            weekdays.add(_SATURDAY)
        elif upper.endswith("L") and len(upper) > 1:
            last_of_month.add(_number(upper[:-1], _DAYS_OF_WEEK))
        else:
            weekdays.update(_item_values(item, _DAYS_OF_WEEK))
    return DayOfWeekRule(frozenset(weekdays), frozenset(last_of_month))


def _values(field: str, bounds: _Bounds) -> set[int]:
    found: set[int] = set()
    for item in field.split(","):
        found.update(_item_values(item, bounds))
    return found


def _item_values(item: str, bounds: _Bounds) -> set[int]:
    """One list item: `*`, `N`, `A-B`, each optionally `/STEP`."""
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) == 0:
            raise InvalidCron(f"{item!r} in {bounds.name}: a step is a positive number")
        step = int(step_text)
    if base == "*":
        low, high = bounds.low, bounds.high
    elif "-" in base:
        first, _, last = base.partition("-")
        low, high = _number(first, bounds), _number(last, bounds)
    else:
        low = _number(base, bounds)
        high = bounds.high if slash else low  # `5/15`: from 5 to the field's end
    if high >= low:
        return set(range(low, high + 1, step))
    if bounds is _YEARS:
        raise InvalidCron(f"{item!r}: a year range runs forward")
    span = bounds.high - bounds.low + 1  # a range that wraps, as FRI-MON or 22-2
    return {
        bounds.low + (low - bounds.low + offset) % span for offset in range(0, high - low + span + 1, step)
    }


def _number(text: str, bounds: _Bounds) -> int:
    if bounds.names is not None and text.upper() in bounds.names:
        return bounds.names[text.upper()]
    if not text.isdigit() or not text.isascii():
        raise InvalidCron(f"{text!r} is not a value of {bounds.name}")
    value = int(text)
    if not bounds.low <= value <= bounds.high:
        raise InvalidCron(f"{value} is outside {bounds.name}'s {bounds.low}-{bounds.high}")
    return value


def _aws_weekday(day: date) -> int:
    """1 = Sunday … 7 = Saturday, as AWS numbers them (Python's Monday is 0)."""
    return (day.weekday() + 1) % 7 + 1


def _nearest_weekday(year: int, month: int, day: int, length: int) -> int:
    """The Monday-to-Friday day nearest `day`, never leaving the month (Quartz's `W`, which AWS's
    cron follows): a Saturday moves to Friday, or to Monday the 3rd when it is the 1st; a Sunday
    moves to Monday, or to Friday when it ends the month."""
    weekday = date(year, month, day).weekday()  # Monday 0 … Sunday 6
    if weekday == 5:
        return day - 1 if day > 1 else day + 2
    if weekday == 6:
        return day + 1 if day < length else day - 2
    return day
