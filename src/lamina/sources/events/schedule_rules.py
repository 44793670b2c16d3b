"""EventBridge schedule rules as timetables for `sources/schedules/firing.py`: each enabled rule
with a ScheduleExpression sends the "Scheduled Event" to its targets at every fire time.

A rate rule first fires one period after it was created or enabled (compatibility.md); a cron rule
at its first matching minute (UTC) after that.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence

from lamina.domain.events.envelopes import scheduled_event, timestamp
from lamina.domain.schedules import RateExpression, ScheduleExpression, parse_schedule_expression
from lamina.sources.events.service import EventBusService
from lamina.sources.schedules.firing import Timetable

__all__ = ["ScheduleRules"]

# Namespace of the Scheduled Events' ids: one id per rule and fire time, the same if sent again.
_EVENT_IDS = uuid.UUID("6f0c6b1e-4c55-4d0e-9d5a-2a3c0e5b7a10")


@functools.lru_cache(maxsize=4096)
def _parsed(expression: str) -> ScheduleExpression:
    return parse_schedule_expression(expression)


class ScheduleRules:
    def __init__(self, service: EventBusService) -> None:
        self._service = service

    def timetables(self) -> Sequence[Timetable]:
        found = []
        for rule in self._service.rules():
            if not rule.schedule_expression or not rule.enabled:
                continue
            expression = _parsed(rule.schedule_expression)
            first = rule.schedule_anchor
            if isinstance(expression, RateExpression):
                first += expression.period.total_seconds()
            found.append(
                Timetable(rule.arn, rule.account, rule.region, expression, rule.schedule_anchor, first)
            )
        return found

    async def fire(self, timetable: Timetable, moment: float, now: float) -> None:
        rule = self._service.rule_by_arn(timetable.arn)
        if rule is None:
            return
        event_id = str(uuid.uuid5(_EVENT_IDS, f"{rule.arn}@{moment:.0f}"))
        event = scheduled_event(event_id, rule.account, rule.region, rule.arn, moment)
        await self._service.deliver_to_targets(rule, event, timestamp(now))

    async def finished(self, timetable: Timetable) -> None:
        """A rule stays as it is (a cron whose years are over simply never fires again)."""
