"""When a schedule fires: instants (aware, UTC) from an expression, a time zone and its bounds.

Time zones and daylight saving time follow the Scheduler user guide ("Daylight saving time"):
cron and at times are wall-clock times in the schedule's zone; a wall-clock time that does not
exist (skipped when clocks go forward) does not fire, and one that happens twice (when clocks go
back) fires once, at its first occurrence. Rate expressions count elapsed time from their anchor,
untouched by the zone. EventBridge rules are the same with the zone fixed at UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo

from lamina.domain.schedules.cron import CronExpression
from lamina.domain.schedules.expressions import AtExpression, RateExpression, ScheduleExpression

__all__ = ["fire_times", "next_fire_time"]


def fire_times(
    expression: ScheduleExpression,
    after: datetime,
    *,
    zone: tzinfo = UTC,
    anchor: datetime | None = None,
    end: datetime | None = None,
) -> Iterator[datetime]:
    """The instants strictly after `after`, in order, up to `end` inclusive.

    `anchor`: a rate expression's first fire time (the Scheduler's StartDate, or when the rule or
    schedule began); required for rates. All datetimes are aware."""
    for moment in _unbounded(expression, after, zone, anchor):
        if end is not None and moment > end:
            return
        yield moment


def next_fire_time(
    expression: ScheduleExpression,
    after: datetime,
    *,
    zone: tzinfo = UTC,
    anchor: datetime | None = None,
    end: datetime | None = None,
) -> datetime | None:
    return next(fire_times(expression, after, zone=zone, anchor=anchor, end=end), None)


def _unbounded(
    expression: ScheduleExpression, after: datetime, zone: tzinfo, anchor: datetime | None
) -> Iterator[datetime]:
    if after.tzinfo is None:
        raise ValueError("`after` must be aware")
    if isinstance(expression, RateExpression):
        if anchor is None:
            raise ValueError("a rate expression needs an anchor")
        yield from _rate_times(expression, after, anchor)
    elif isinstance(expression, AtExpression):
        moment = _existing(expression.moment, zone)
        if moment is not None and moment > after:
            yield moment
    else:
        yield from _cron_times(expression, after, zone)


def _rate_times(expression: RateExpression, after: datetime, anchor: datetime) -> Iterator[datetime]:
    period = expression.period
    moment = anchor.astimezone(UTC)
    if moment <= after:
        moment += period * ((after - moment) // period + 1)
    while True:
        yield moment
        moment += period


def _cron_times(expression: CronExpression, after: datetime, zone: tzinfo) -> Iterator[datetime]:
    # When clocks went back and `after` lies in the repeated hour's second pass, the wall times
    # after it first map to that hour's first pass, before `after`: the comparison drops them.
    local_after = after.astimezone(zone).replace(tzinfo=None, fold=0)
    for wall_time in expression.times_after(local_after):
        moment = _existing(wall_time, zone)
        if moment is not None and moment > after:
            yield moment


def _existing(wall_time: datetime, zone: tzinfo) -> datetime | None:
    """The first instant `wall_time` happens in `zone` (UTC), or None when it never does (a time
    skipped as clocks went forward)."""
    moment = wall_time.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if moment.astimezone(zone).replace(tzinfo=None) != wall_time:
        return None
    return moment
