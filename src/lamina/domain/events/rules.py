"""Event buses, rules and targets as EventBridge defines them (EventBridge API reference: PutRule,
PutTargets, CreateEventBus), with their documents for the resource store.

A rule lives on one bus. Its ARN is `arn:aws:events:REGION:ACCOUNT:rule/NAME` on the default bus
and `…:rule/BUS/NAME` on any other; a bus's is `…:event-bus/NAME`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from lamina.domain.events import errors

__all__ = [
    "DEFAULT_BUS",
    "EventBus",
    "Rule",
    "Target",
    "bus_arn",
    "check_bus_name",
    "check_rule_name",
    "rule_arn",
]

DEFAULT_BUS = "default"
RULE_KIND = "events/rule"  # the kind of its documents in the resource store
ENABLED, DISABLED = "ENABLED", "DISABLED"
MAX_TARGETS_PER_RULE = 5  # EventBridge quotas: "Targets per rule"
MAX_RULES_PER_BUS = 300  # "Rules per event bus"
MAX_BUSES = 100  # "Event buses per account" (custom ones)
_NAME = re.compile(r"[\.\-_A-Za-z0-9]{1,64}")
_BUS_NAME = re.compile(r"[/\.\-_A-Za-z0-9]{1,256}")
# A bus named by ARN in EventBusName (PutRule, PutEvents and the others accept either).
_BUS_ARN = re.compile(r"arn:aws[\w-]*:events:[a-z0-9-]+:\d{12}:event-bus/([/\.\-_A-Za-z0-9]+)")


def rule_arn(region: str, account: str, bus: str, name: str) -> str:
    path = name if bus == DEFAULT_BUS else f"{bus}/{name}"
    return f"arn:aws:events:{region}:{account}:rule/{path}"


def bus_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:events:{region}:{account}:event-bus/{name}"


def bus_name_of(value: str | None) -> str:
    """EventBusName as a name or an ARN; absent means the default bus."""
    if not value:
        return DEFAULT_BUS
    match = _BUS_ARN.fullmatch(value)
    return match.group(1) if match else value


def check_rule_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise errors.validation(
            f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"
        )


def check_bus_name(name: str) -> None:
    if "/" in name:
        raise errors.validation("Event bus name must not contain '/'.")
    if not _BUS_NAME.fullmatch(name):
        raise errors.validation(
            f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [/\\.\\-_A-Za-z0-9]+"
        )


@dataclass(frozen=True, slots=True)
class EventBus:
    name: str
    account: str
    region: str
    description: str | None = None
    created_at: float = 0.0
    modified_at: float = 0.0

    @property
    def arn(self) -> str:
        return bus_arn(self.region, self.account, self.name)

    def to_document(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "created_at": self.created_at,
            "modified_at": self.modified_at,
        }

    @classmethod
    def from_document(cls, account: str, region: str, name: str, document: dict[str, Any]) -> EventBus:
        return cls(
            name,
            account,
            region,
            document.get("description"),
            document["created_at"],
            document["modified_at"],
        )


@dataclass(frozen=True, slots=True)
class Target:
    """One PutTargets entry as given (AWS member names), kept whole: ListTargetsByRule answers it back."""

    wire: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.wire["Id"])

    @property
    def arn(self) -> str:
        return str(self.wire["Arn"])

    @property
    def dead_letter_arn(self) -> str | None:
        config = self.wire.get("DeadLetterConfig") or {}
        return config.get("Arn")

    @property
    def maximum_event_age(self) -> int:
        """Seconds EventBridge keeps retrying (RetryPolicy.MaximumEventAgeInSeconds, 24 h by default)."""
        return int((self.wire.get("RetryPolicy") or {}).get("MaximumEventAgeInSeconds", 86400))


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    bus: str
    account: str
    region: str
    state: str = ENABLED
    schedule_expression: str | None = None
    event_pattern: str | None = None
    description: str | None = None
    role_arn: str | None = None
    # When the rule last became enabled with its schedule: a rate counts from here.
    schedule_anchor: float = 0.0
    targets: tuple[Target, ...] = field(default=())

    @property
    def arn(self) -> str:
        return rule_arn(self.region, self.account, self.bus, self.name)

    @property
    def enabled(self) -> bool:
        return self.state != DISABLED

    @property
    def store_name(self) -> str:
        """The rule's name in the resource store: unique per account-region across buses."""
        return f"{self.bus}/{self.name}"

    def with_targets(self, targets: tuple[Target, ...]) -> Rule:
        return replace(self, targets=targets)

    def to_document(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "schedule_expression": self.schedule_expression,
            "event_pattern": self.event_pattern,
            "description": self.description,
            "role_arn": self.role_arn,
            "schedule_anchor": self.schedule_anchor,
            "targets": [target.wire for target in self.targets],
        }

    @classmethod
    def from_document(cls, account: str, region: str, store_name: str, document: dict[str, Any]) -> Rule:
        bus, _, name = store_name.rpartition("/")
        return cls(
            name,
            bus,
            account,
            region,
            document["state"],
            document.get("schedule_expression"),
            document.get("event_pattern"),
            document.get("description"),
            document.get("role_arn"),
            document.get("schedule_anchor", 0.0),
            tuple(Target(wire) for wire in document.get("targets", [])),
        )

    def describe(self) -> dict[str, Any]:
        """DescribeRule's output (ListRules' entries are the same, less CreatedBy)."""
        output: dict[str, Any] = {
            "Name": self.name,
            "Arn": self.arn,
            "State": self.state,
            "EventBusName": self.bus,
        }
        for member, value in (
            ("EventPattern", self.event_pattern),
            ("ScheduleExpression", self.schedule_expression),
            ("Description", self.description),
            ("RoleArn", self.role_arn),
        ):
            if value is not None:
                output[member] = value
        return output
