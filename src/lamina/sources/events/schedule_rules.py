"""EventBridge schedule rules as timetables for `sources/schedules/firing.py`: each enabled rule
with a ScheduleExpression sends the "Scheduled Event" to its targets at every fire time.
(`domain/schedules/timetables.py` says when).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from lamina.domain.events.envelopes import scheduled_event, timestamp
from lamina.domain.schedules.timetables import Timetable, rule_timetable
from lamina.sources.events.service import EventBusService

__all__ = ["ScheduleRules"]

# Namespace of the Scheduled Events' ids: one id per rule and fire time, the same if sent again.
_EVENT_IDS = uuid.UUID("6f0c6b1e-4c55-4d0e-9d5a-2a3c0e5b7a10")


class ScheduleRules:
    def __init__(self, service: EventBusService) -> None:
        self._service = service

    def timetables(self) -> Sequence[Timetable]:
        return [
            rule_timetable(rule)
            for rule in self._service.rules()
            if rule.schedule_expression and rule.enabled
        ]

    async def fire(self, timetable: Timetable, moment: float, now: float) -> None:
        rule = self._service.rule_by_arn(timetable.arn)
        if rule is None:
            return
        event_id = str(uuid.uuid5(_EVENT_IDS, f"{rule.arn}@{moment:.0f}"))
        event = scheduled_event(event_id, rule.account, rule.region, rule.arn, moment)
        await self._service.deliver_to_targets(rule, event, timestamp(now))

    async def finished(self, timetable: Timetable) -> None:
        """A rule stays as it is (a cron whose years are over simply never fires again)."""
