"""Schedule expressions as EventBridge rules and EventBridge Scheduler write them, and their fire
times: `rate(...)`, `cron(...)` (AWS's six-field syntax) and `at(...)`. Pure: no clock, no I/O."""

from lamina.domain.schedules.cron import CronExpression, parse_cron
from lamina.domain.schedules.expressions import (
    AtExpression,
    InvalidScheduleExpression,
    RateExpression,
    ScheduleExpression,
    parse_schedule_expression,
)
from lamina.domain.schedules.fire_times import fire_times, next_fire_time

__all__ = [
    "AtExpression",
    "CronExpression",
    "InvalidScheduleExpression",
    "RateExpression",
    "ScheduleExpression",
    "fire_times",
    "next_fire_time",
    "parse_cron",
    "parse_schedule_expression",
]
