"""When a rule or schedule fires, as data: a `Timetable` is an expression with its zone, its
bounds and a rate's first time, built from an EventBridge schedule rule or a Scheduler schedule.
The firing engine (`sources/schedules/firing.py`) and `lamina schedules` read the same ones.

- A rate rule first fires one period after it was created or enabled (compatibility.md); a cron
  rule at its first matching minute (UTC) after that.
- A Scheduler rate schedule fires at its StartDate (or at once, without one) and every period
  after; a cron schedule at its matching minutes in its zone from StartDate; an at() schedule once,
  when its time is not before the minute it was set. Nothing fires after EndDate.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from lamina.domain.events.rules import Rule
from lamina.domain.schedules.expressions import (
    AtExpression,
    RateExpression,
    ScheduleExpression,
    parse_schedule_expression,
)
from lamina.domain.schedules.fire_times import fire_times
from lamina.domain.schedules.records import Schedule, zone_of

__all__ = ["Timetable", "rule_timetable", "schedule_timetable"]


@dataclass(frozen=True, slots=True)
class Timetable:
    """When one rule or schedule fires. Times are epoch seconds."""

    arn: str  # its fire times' claims and state are kept under it
    account: str
    region: str
    expression: ScheduleExpression
    not_before: float  # nothing fires at or before this (created, enabled, StartDate)
    rate_start: float = 0.0  # a rate expression's first fire time
    zone: tzinfo = UTC
    end: float | None = None  # nothing fires after this (EndDate)

    def times_after(self, after: float) -> Iterator[float]:
        anchor = (
            datetime.fromtimestamp(self.rate_start, UTC)
            if isinstance(self.expression, RateExpression)
            else None
        )
        end = datetime.fromtimestamp(self.end, UTC) if self.end is not None else None
        start = datetime.fromtimestamp(max(after, self.not_before), UTC)
        for moment in fire_times(self.expression, start, zone=self.zone, anchor=anchor, end=end):
            yield moment.timestamp()


@functools.lru_cache(maxsize=4096)
def _parsed(expression: str) -> ScheduleExpression:
    return parse_schedule_expression(expression, allow_at=True)


def rule_timetable(rule: Rule) -> Timetable:
    """An EventBridge schedule rule's (it must have a ScheduleExpression)."""
    expression = _parsed(str(rule.schedule_expression))
    first = rule.schedule_anchor
    if isinstance(expression, RateExpression):
        first += expression.period.total_seconds()
    return Timetable(rule.arn, rule.account, rule.region, expression, rule.schedule_anchor, first)


def schedule_timetable(schedule: Schedule) -> Timetable:
    expression = schedule.parsed or _parsed(schedule.expression)
    zone = zone_of(schedule.timezone)
    if isinstance(expression, AtExpression):
        armed_minute = schedule.armed_at - schedule.armed_at % 60
        return Timetable(
            schedule.arn, schedule.account, schedule.region, expression, armed_minute - 1e-3, zone=zone
        )
    not_before = schedule.armed_at
    first = schedule.armed_at
    if schedule.start_date is not None:
        not_before = max(not_before, schedule.start_date - 1e-3)
        first = schedule.start_date
        if isinstance(expression, RateExpression) and first < schedule.armed_at:
            period = expression.period.total_seconds()
            first += period * -(-(schedule.armed_at - first) // period)  # the first not already past
    else:
        not_before -= 1e-3  # a rate without StartDate fires at once
    return Timetable(
        schedule.arn,
        schedule.account,
        schedule.region,
        expression,
        not_before,
        rate_start=first,
        zone=zone,
        end=schedule.end_date,
    )
