"""The three schedule expressions: `rate(value unit)`, `cron(fields)` and `at(yyyy-mm-ddThh:mm:ss)`.

EventBridge rules take rate and cron (EventBridge user guide, "Rate expressions": the unit is
singular when the value is 1 and plural otherwise, so `rate(1 hours)` and `rate(5 hour)` are
refused); EventBridge Scheduler takes all three (Scheduler user guide, "Schedule types").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from lamina.domain.schedules.cron import CronExpression, InvalidCron, parse_cron

__all__ = [
    "AtExpression",
    "InvalidScheduleExpression",
    "RateExpression",
    "ScheduleExpression",
    "parse_schedule_expression",
]

_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"rate\((\d+) +([a-z]+)\)", re.ASCII)
_CRON = re.compile(r"cron\((.*)\)", re.ASCII | re.DOTALL)
_AT = re.compile(r"at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)", re.ASCII)


class InvalidScheduleExpression(ValueError):
    """Not an expression the API accepts; the message says why (the APIs answer with their own
    fixed wording, the CLI and logs with this)."""


@dataclass(frozen=True, slots=True)
class RateExpression:
    value: int
    unit: str  # minute, hour or day

    def __str__(self) -> str:
        return f"rate({self.value} {self.unit}{'' if self.value == 1 else 's'})"

    @property
    def period(self) -> timedelta:
        """Elapsed time, not calendar time: a day is 24 hours also across a DST change, as the
        Scheduler guide documents for rate expressions."""
        return timedelta(seconds=self.value * _UNIT_SECONDS[self.unit])


@dataclass(frozen=True, slots=True)
class AtExpression:
    moment: datetime  # naive: a wall-clock time in the schedule's time zone

    def __str__(self) -> str:
        return f"at({self.moment.strftime('%Y-%m-%dT%H:%M:%S')})"


ScheduleExpression = RateExpression | CronExpression | AtExpression


def parse_schedule_expression(text: str, *, allow_at: bool = False) -> ScheduleExpression:
    """`allow_at`: one-time schedules exist in EventBridge Scheduler only, not on rules."""
    if match := _RATE.fullmatch(text):
        return _rate(int(match.group(1)), match.group(2))
    if match := _CRON.fullmatch(text):
        try:
            return parse_cron(match.group(1))
        except InvalidCron as error:
            raise InvalidScheduleExpression(str(error)) from None
    if allow_at and (match := _AT.fullmatch(text)):
        try:
            year, month, day, hour, minute, second = (int(part) for part in match.groups())
            return AtExpression(datetime(year, month, day, hour, minute, second))
        except ValueError:
            raise InvalidScheduleExpression(f"{text!r} is not a calendar date and time") from None
    forms = (
        "rate(value unit), cron(fields) or at(yyyy-mm-ddThh:mm:ss)"
        if allow_at
        else "rate(value unit) or cron(fields)"
    )
    raise InvalidScheduleExpression(f"{text[:100]!r} is not {forms}")


def _rate(value: int, unit: str) -> RateExpression:
    if value <= 0:
        raise InvalidScheduleExpression("a rate's value is a positive number")
    singular = unit.removesuffix("s")
    if singular not in _UNIT_SECONDS:
        raise InvalidScheduleExpression(f"{unit!r} is not minute(s), hour(s) or day(s)")
    if (value == 1) != (unit == singular):
        raise InvalidScheduleExpression(
            f"rate({value} {unit}): the unit is singular for 1 and plural otherwise"
        )
    return RateExpression(value, singular)
