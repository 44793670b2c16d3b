"""EventBridge Scheduler's schedules and schedule groups (Scheduler API reference: CreateSchedule,
CreateScheduleGroup), their checks and their documents for the resource store.

ARNs: `arn:aws:scheduler:REGION:ACCOUNT:schedule/GROUP/NAME` and `…:schedule-group/NAME`. Every
account-region has the `default` group without creating it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lamina.domain.schedules import errors
from lamina.domain.schedules.expressions import (
    AtExpression,
    InvalidScheduleExpression,
    ScheduleExpression,
    parse_schedule_expression,
)

__all__ = [
    "DEFAULT_GROUP",
    "Schedule",
    "ScheduleGroup",
    "checked_schedule",
    "group_arn",
    "schedule_arn",
    "zone_of",
]

DEFAULT_GROUP = "default"
SCHEDULE_KIND = "scheduler/schedule"  # the kind of its documents in the resource store
ENABLED, DISABLED = "ENABLED", "DISABLED"
MAX_FLEXIBLE_WINDOW_MINUTES = 1440


def schedule_arn(region: str, account: str, group: str, name: str) -> str:
    return f"arn:aws:scheduler:{region}:{account}:schedule/{group}/{name}"


def group_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:scheduler:{region}:{account}:schedule-group/{name}"


def zone_of(name: str) -> tzinfo:
    """An IANA zone by name; raises ValidationException for one that does not exist."""
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise errors.validation(f"Invalid time zone: {name}.") from None


@dataclass(frozen=True, slots=True)
class ScheduleGroup:
    name: str
    account: str
    region: str
    created_at: float = 0.0
    modified_at: float = 0.0

    @property
    def arn(self) -> str:
        return group_arn(self.region, self.account, self.name)

    def describe(self) -> dict[str, Any]:
        return {
            "Arn": self.arn,
            "Name": self.name,
            "State": "ACTIVE",
            "CreationDate": datetime.fromtimestamp(self.created_at, UTC),
            "LastModificationDate": datetime.fromtimestamp(self.modified_at, UTC),
        }


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    group: str
    account: str
    region: str
    expression: str
    target: dict[str, Any]  # as given (AWS member names): GetSchedule answers it back
    flexible_time_window: dict[str, Any]
    timezone: str = "UTC"
    state: str = ENABLED
    start_date: float | None = None
    end_date: float | None = None
    description: str | None = None
    kms_key_arn: str | None = None
    action_after_completion: str = "NONE"
    created_at: float = 0.0
    modified_at: float = 0.0
    # When it was last created, changed or enabled: nothing before this fires.
    armed_at: float = 0.0
    parsed: ScheduleExpression = field(default=None, compare=False, repr=False)  # type: ignore[assignment]

    @property
    def arn(self) -> str:
        return schedule_arn(self.region, self.account, self.group, self.name)

    @property
    def enabled(self) -> bool:
        return self.state == ENABLED

    @property
    def store_name(self) -> str:
        return f"{self.group}/{self.name}"

    def to_document(self) -> dict[str, Any]:
        return {
            "expression": self.expression,
            "target": self.target,
            "flexible_time_window": self.flexible_time_window,
            "timezone": self.timezone,
            "state": self.state,
            "start_date": self.start_date,
            "end_date": self.end_date,
            "description": self.description,
            "kms_key_arn": self.kms_key_arn,
            "action_after_completion": self.action_after_completion,
            "created_at": self.created_at,
            "modified_at": self.modified_at,
            "armed_at": self.armed_at,
        }

    @classmethod
    def from_document(cls, account: str, region: str, store_name: str, document: dict[str, Any]) -> Schedule:
        group, _, name = store_name.rpartition("/")
        return cls(
            name,
            group,
            account,
            region,
            document["expression"],
            document["target"],
            document["flexible_time_window"],
            document.get("timezone", "UTC"),
            document.get("state", ENABLED),
            document.get("start_date"),
            document.get("end_date"),
            document.get("description"),
            document.get("kms_key_arn"),
            document.get("action_after_completion", "NONE"),
            document.get("created_at", 0.0),
            document.get("modified_at", 0.0),
            document.get("armed_at", 0.0),
            parse_schedule_expression(document["expression"], allow_at=True),
        )

    def describe(self) -> dict[str, Any]:
        """GetSchedule's output."""
        output: dict[str, Any] = {
            "Arn": self.arn,
            "GroupName": self.group,
            "Name": self.name,
            "ScheduleExpression": self.expression,
            "ScheduleExpressionTimezone": self.timezone,
            "State": self.state,
            "CreationDate": datetime.fromtimestamp(self.created_at, UTC),
            "LastModificationDate": datetime.fromtimestamp(self.modified_at, UTC),
            "Target": self.target,
            "FlexibleTimeWindow": self.flexible_time_window,
            "ActionAfterCompletion": self.action_after_completion,
        }
        for member, value in (("Description", self.description), ("KmsKeyArn", self.kms_key_arn)):
            if value is not None:
                output[member] = value
        for member, moment in (("StartDate", self.start_date), ("EndDate", self.end_date)):
            if moment is not None:
                output[member] = datetime.fromtimestamp(moment, UTC)
        return output

    def summary(self) -> dict[str, Any]:
        """ListSchedules' entry."""
        return {
            "Arn": self.arn,
            "GroupName": self.group,
            "Name": self.name,
            "State": self.state,
            "CreationDate": datetime.fromtimestamp(self.created_at, UTC),
            "LastModificationDate": datetime.fromtimestamp(self.modified_at, UTC),
            "Target": {"Arn": self.target["Arn"]},
        }


def checked_schedule(schedule: Schedule) -> Schedule:
    """The schedule with its expression parsed, or the ValidationException CreateSchedule and
    UpdateSchedule answer."""
    try:
        parsed = parse_schedule_expression(schedule.expression, allow_at=True)
    except InvalidScheduleExpression:
        raise errors.validation(f"Invalid Schedule Expression {schedule.expression}.") from None
    zone_of(schedule.timezone)
    window = schedule.flexible_time_window
    mode = window.get("Mode")
    if mode == "FLEXIBLE" and "MaximumWindowInMinutes" not in window:
        raise errors.validation("MaximumWindowInMinutes must be provided when Mode is FLEXIBLE.")
    if mode == "OFF" and "MaximumWindowInMinutes" in window:
        raise errors.validation("MaximumWindowInMinutes must not be provided when Mode is OFF.")
    if (
        schedule.start_date is not None
        and schedule.end_date is not None
        and schedule.end_date <= schedule.start_date
    ):
        raise errors.validation("The EndDate must be after the StartDate.")
    if (
        not isinstance(parsed, AtExpression)
        and schedule.end_date is not None
        and schedule.end_date <= schedule.armed_at
    ):
        raise errors.validation("The EndDate must be in the future.")
    if "Input" in schedule.target and str(schedule.target["Arn"]).startswith("arn:aws:lambda:"):
        try:
            json.loads(_without_context_attributes(str(schedule.target["Input"])))
        except ValueError:
            raise errors.validation("Input must be a valid JSON for a Lambda target.") from None
    return replace(schedule, parsed=parsed)


def _without_context_attributes(text: str) -> str:
    for name in ("schedule-arn", "scheduled-time", "execution-id", "attempt-number"):
        text = text.replace(f"<aws.scheduler.{name}>", "x")
    return text
