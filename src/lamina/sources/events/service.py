"""The embedded EventBridge: event buses, rules and targets, kept in the resource store and indexed
in memory, and PutEvents matched against the index (no store round trip on the event path).

Every account-region has the `default` bus without creating it. Schedule rules live on the default
bus only (PutRule refuses them elsewhere, as EventBridge does); `schedule_rules.py` gives them to
the firing engine, which is told of every change through `on_rules_changed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from lamina.clock import Clock
from lamina.domain.event_patterns import EventPattern, InvalidPattern, parse_pattern
from lamina.domain.events import errors
from lamina.domain.events.envelopes import EntryError, envelope, timestamp
from lamina.domain.events.rules import (
    DEFAULT_BUS,
    DISABLED,
    ENABLED,
    MAX_BUSES,
    MAX_RULES_PER_BUS,
    MAX_TARGETS_PER_RULE,
    RULE_KIND,
    EventBus,
    Rule,
    Target,
    bus_arn,
    bus_name_of,
    check_bus_name,
    check_rule_name,
)
from lamina.domain.events.target_input import check_target_input, render_input
from lamina.domain.ids import new_request_id
from lamina.domain.schedules import InvalidScheduleExpression, parse_schedule_expression
from lamina.errors import AwsError
from lamina.sources.resource_tags import ResourceTags
from lamina.store.resource_ports import ResourceKey, ResourceStore, Write

__all__ = ["BUS_KIND", "RULE_KIND", "Delivery", "EventBusService"]

_log = logging.getLogger(__name__)
BUS_KIND = "events/bus"
TAGS_KIND = "events/tags"  # by resource ARN
_TARGET_ID = re.compile(r"[\.\-_A-Za-z0-9]{1,64}")
Region = tuple[str, str]  # (account, region)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event for one target: what `deliver` is handed."""

    rule: Rule
    target: Target
    payload: bytes
    event_id: str


Deliver = Callable[[Delivery], Awaitable[bool]]


class EventBusService:
    def __init__(self, store: ResourceStore, clock: Clock, deliver: Deliver) -> None:
        self._store = store
        self._clock = clock
        self._deliver = deliver
        self._rules: dict[Region, dict[tuple[str, str], Rule]] = {}
        self._patterns: dict[str, EventPattern] = {}  # rule ARN -> its parsed pattern
        self._buses: dict[Region, dict[str, EventBus]] = {}
        self._listeners: list[Callable[[], None]] = []
        self._lock = asyncio.Lock()  # changes one at a time: a rule and its targets are one document
        self._tags = ResourceTags(store, TAGS_KIND)

    def on_rules_changed(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    async def load(self) -> None:
        """Index what the store holds (at start; again to see other servers' changes)."""
        rules: dict[Region, dict[tuple[str, str], Rule]] = {}
        for key, document in await self._store.list_kind(RULE_KIND):
            rule = Rule.from_document(key.account, key.region, key.name, document)
            rules.setdefault((key.account, key.region), {})[(rule.bus, rule.name)] = rule
        buses: dict[Region, dict[str, EventBus]] = {}
        for key, document in await self._store.list_kind(BUS_KIND):
            buses.setdefault((key.account, key.region), {})[key.name] = EventBus.from_document(
                key.account, key.region, key.name, document
            )
        self._rules, self._buses = rules, buses
        self._patterns = {
            rule.arn: parse_pattern(rule.event_pattern)
            for region_rules in rules.values()
            for rule in region_rules.values()
            if rule.event_pattern
        }
        self._changed()

    def rule_by_arn(self, arn: str) -> Rule | None:
        for region_rules in self._rules.values():
            for rule in region_rules.values():
                if rule.arn == arn:
                    return rule
        return None

    def rules(self) -> list[Rule]:
        """Every rule of every account-region (the scheduler's view)."""
        return [rule for region_rules in self._rules.values() for rule in region_rules.values()]

    # buses -------------------------------------------------------------------------------------
    def bus(self, account: str, region: str, name: str) -> EventBus:
        if name == DEFAULT_BUS:
            return EventBus(DEFAULT_BUS, account, region)
        bus = self._buses.get((account, region), {}).get(name)
        if bus is None:
            raise errors.bus_not_found(name)
        return bus

    def buses(self, account: str, region: str, prefix: str = "") -> list[EventBus]:
        found = [EventBus(DEFAULT_BUS, account, region), *self._buses.get((account, region), {}).values()]
        return sorted(
            (bus for bus in found if bus.name.startswith(prefix)), key=lambda bus: bus.name.encode()
        )

    async def create_bus(self, account: str, region: str, name: str, description: str | None) -> EventBus:
        check_bus_name(name)
        async with self._lock:
            if len(self._buses.get((account, region), {})) >= MAX_BUSES:
                raise errors.limit_exceeded("The requested resource exceeds the maximum number allowed.")
            now = self._clock.now()
            bus = EventBus(name, account, region, description, now, now)
            if name == DEFAULT_BUS or not await self._store.create(
                ResourceKey(BUS_KIND, account, region, name), bus.to_document()
            ):
                raise errors.bus_exists(name)
            self._buses.setdefault((account, region), {})[name] = bus
            return bus

    async def delete_bus(self, account: str, region: str, name: str) -> None:
        """Idempotent, as EventBridge's is; the bus's rules go with it."""
        if name == DEFAULT_BUS:
            raise errors.validation("Cannot delete event bus default.")
        async with self._lock:
            region_rules = self._rules.get((account, region), {})
            gone = [rule for rule in region_rules.values() if rule.bus == name]
            await self._store.apply(
                [
                    Write(ResourceKey(BUS_KIND, account, region, name), None),
                    self._tags.cleared(bus_arn(region, account, name)),
                ]
                + [Write(ResourceKey(RULE_KIND, account, region, rule.store_name), None) for rule in gone]
                + [self._tags.cleared(rule.arn) for rule in gone]
            )
            self._buses.get((account, region), {}).pop(name, None)
            for rule in gone:
                region_rules.pop((rule.bus, rule.name), None)
                self._patterns.pop(rule.arn, None)
        self._changed()

    # rules -------------------------------------------------------------------------------------
    def rule(self, account: str, region: str, bus: str, name: str) -> Rule:
        self.bus(account, region, bus)
        rule = self._rules.get((account, region), {}).get((bus, name))
        if rule is None:
            raise errors.rule_not_found(name, bus)
        return rule

    def list_rules(self, account: str, region: str, bus: str, prefix: str = "") -> list[Rule]:
        self.bus(account, region, bus)
        found = [
            rule
            for (rule_bus, name), rule in self._rules.get((account, region), {}).items()
            if rule_bus == bus and name.startswith(prefix)
        ]
        return sorted(found, key=lambda rule: rule.name.encode())

    def rules_by_target(self, account: str, region: str, bus: str, target_arn: str) -> list[Rule]:
        return [
            rule
            for rule in self.list_rules(account, region, bus)
            if any(t.arn == target_arn for t in rule.targets)
        ]

    async def put_rule(
        self,
        account: str,
        region: str,
        bus: str,
        name: str,
        *,
        schedule_expression: str | None,
        event_pattern: str | None,
        state: str | None,
        description: str | None,
        role_arn: str | None,
    ) -> Rule:
        """Create or replace a rule (its targets kept): PutRule is an upsert."""
        check_rule_name(name)
        self.bus(account, region, bus)
        if not schedule_expression and not event_pattern:
            raise errors.validation("Parameter(s) EventPattern or ScheduleExpression must be specified.")
        if schedule_expression:
            if bus != DEFAULT_BUS:
                raise errors.validation("ScheduleExpression is supported only on the default event bus.")
            try:
                parse_schedule_expression(schedule_expression)
            except InvalidScheduleExpression:
                raise errors.invalid_schedule() from None
        pattern = None
        if event_pattern:
            try:
                pattern = parse_pattern(event_pattern)
            except InvalidPattern as error:
                raise errors.invalid_pattern(str(error)) from None
        async with self._lock:
            current = self._rules.get((account, region), {}).get((bus, name))
            on_bus = sum(1 for (rule_bus, _) in self._rules.get((account, region), {}) if rule_bus == bus)
            if current is None and on_bus >= MAX_RULES_PER_BUS:
                raise errors.limit_exceeded("The requested resource exceeds the maximum number allowed.")
            state = state or ENABLED
            anchor = self._clock.now()
            if current is not None and current.schedule_expression == schedule_expression and current.enabled:
                anchor = current.schedule_anchor  # an unchanged schedule keeps its rhythm
            rule = Rule(
                name,
                bus,
                account,
                region,
                state,
                schedule_expression or None,
                event_pattern or None,
                description,
                role_arn,
                anchor,
                current.targets if current is not None else (),
            )
            await self._save(rule)
            if pattern is not None:
                self._patterns[rule.arn] = pattern
            else:
                self._patterns.pop(rule.arn, None)
        self._changed()
        return rule

    async def set_state(self, account: str, region: str, bus: str, name: str, enabled: bool) -> None:
        async with self._lock:
            rule = self.rule(account, region, bus, name)
            if rule.enabled == enabled:
                return
            changes: dict[str, Any] = {"state": ENABLED if enabled else DISABLED}
            if enabled:
                changes["schedule_anchor"] = self._clock.now()
            await self._save(replace(rule, **changes))
        self._changed()

    async def delete_rule(self, account: str, region: str, bus: str, name: str, force: bool = False) -> None:
        """Idempotent for a missing rule (DeleteRule answers success), refused while it has targets."""
        self.bus(account, region, bus)
        async with self._lock:
            rule = self._rules.get((account, region), {}).get((bus, name))
            if rule is None:
                return
            if rule.targets and not force:
                raise errors.validation("Rule can't be deleted since it has targets.")
            await self._store.apply(
                [
                    Write(ResourceKey(RULE_KIND, account, region, rule.store_name), None),
                    self._tags.cleared(rule.arn),
                ]
            )
            self._rules[(account, region)].pop((bus, name), None)
            self._patterns.pop(rule.arn, None)
        self._changed()

    # targets -----------------------------------------------------------------------------------
    async def put_targets(
        self, account: str, region: str, bus: str, name: str, targets: Sequence[dict[str, Any]]
    ) -> list[dict[str, str]]:
        """Add or replace targets by Id; returns the entries refused (FailedEntries)."""
        async with self._lock:
            rule = self.rule(account, region, bus, name)
            kept = {target.id: target for target in rule.targets}
            failed: list[dict[str, str]] = []
            for wire in targets:
                reason = _target_problem(wire)
                if reason is not None:
                    failed.append(
                        {
                            "TargetId": str(wire.get("Id", "")),
                            "ErrorCode": "ValidationException",
                            "ErrorMessage": reason,
                        }
                    )
                    continue
                kept[str(wire["Id"])] = Target(dict(wire))
            if len(kept) > MAX_TARGETS_PER_RULE:
                raise errors.limit_exceeded("The requested resource exceeds the maximum number allowed.")
            await self._save(rule.with_targets(tuple(kept.values())))
        self._changed()
        return failed

    async def remove_targets(
        self, account: str, region: str, bus: str, name: str, ids: Sequence[str]
    ) -> list[dict[str, str]]:
        async with self._lock:
            rule = self.rule(account, region, bus, name)
            present = {target.id for target in rule.targets}
            failed = [
                {
                    "TargetId": target_id,
                    "ErrorCode": "ResourceNotFoundException",
                    "ErrorMessage": f"Target {target_id} not found.",
                }
                for target_id in ids
                if target_id not in present
            ]
            await self._save(rule.with_targets(tuple(t for t in rule.targets if t.id not in set(ids))))
        self._changed()
        return failed

    # tags --------------------------------------------------------------------------------------
    async def tags(self, arn: str) -> dict[str, str]:
        self._check_exists(arn)
        return await self._tags.get(arn)

    async def tag(self, arn: str, tags: dict[str, str]) -> None:
        async with self._lock:
            self._check_exists(arn)
            await self._tags.add(arn, tags)

    async def untag(self, arn: str, names: Sequence[str]) -> None:
        async with self._lock:
            self._check_exists(arn)
            await self._tags.remove(arn, names)

    def _check_exists(self, arn: str) -> None:
        """Raises ResourceNotFoundException unless `arn` is an existing rule or bus."""
        parts = arn.split(":", 5)
        if len(parts) == 6 and parts[:3] == ["arn", "aws", "events"]:
            region, account, resource = parts[3], parts[4], parts[5]
            if resource.startswith("rule/"):
                bus, _, name = resource.removeprefix("rule/").rpartition("/")
                with contextlib.suppress(AwsError):
                    self.rule(account, region, bus or DEFAULT_BUS, name)
                    return
            elif resource.startswith("event-bus/"):
                with contextlib.suppress(AwsError):
                    self.bus(account, region, resource.removeprefix("event-bus/"))
                    return
        raise errors.resource_not_found(arn)

    # events ------------------------------------------------------------------------------------
    async def put_events(
        self, account: str, region: str, entries: Sequence[dict[str, Any]]
    ) -> list[dict[str, str]]:
        """One result per entry, in order: an EventId, or an ErrorCode and ErrorMessage. The events
        are handed to their targets' delivery before this returns (each target's delivery is
        durable on its own: the async invocation queue, the queue's store)."""
        results: list[dict[str, str]] = []
        now = self._clock.now()
        for entry in entries:
            event_id = new_request_id()
            bus_name = bus_name_of(entry.get("EventBusName"))
            if bus_name != DEFAULT_BUS and bus_name not in self._buses.get((account, region), {}):
                results.append(
                    {"ErrorCode": "InvalidArgument", "ErrorMessage": f"Event bus {bus_name} does not exist."}
                )
                continue
            event = envelope(entry, event_id, account, region, now)
            if isinstance(event, EntryError):
                results.append({"ErrorCode": event.code, "ErrorMessage": event.message})
                continue
            await self.dispatch(account, region, bus_name, event)
            results.append({"EventId": event_id})
        return results

    async def dispatch(self, account: str, region: str, bus: str, event: dict[str, Any]) -> int:
        """Hand `event` to the targets of every enabled rule on `bus` whose pattern matches it;
        returns how many deliveries were made."""
        ingested = timestamp(self._clock.now())
        count = 0
        for (rule_bus, _), rule in list(self._rules.get((account, region), {}).items()):
            pattern = self._patterns.get(rule.arn)
            if rule_bus != bus or not rule.enabled or pattern is None or not pattern.matches(event):
                continue
            count += await self.deliver_to_targets(rule, event, ingested)
        return count

    async def deliver_to_targets(self, rule: Rule, event: dict[str, Any], ingested: str) -> int:
        for target in rule.targets:
            payload = render_input(target.wire, event, rule.arn, rule.name, ingested)
            try:
                await self._deliver(Delivery(rule, target, payload, str(event["id"])))
            except Exception:  # one target's failure must not keep the event from the others
                _log.exception("delivering event %s to %s failed", event["id"], target.arn)
        return len(rule.targets)

    # -------------------------------------------------------------------------------------------
    async def _save(self, rule: Rule) -> None:
        await self._store.apply(
            [Write(ResourceKey(RULE_KIND, rule.account, rule.region, rule.store_name), rule.to_document())]
        )
        self._rules.setdefault((rule.account, rule.region), {})[(rule.bus, rule.name)] = rule

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()


def _target_problem(wire: dict[str, Any]) -> str | None:
    target_id = str(wire.get("Id", ""))
    if not _TARGET_ID.fullmatch(target_id):
        return f"Parameter Id is not valid: {target_id!r} must match [\\.\\-_A-Za-z0-9]{{1,64}}."
    if not str(wire.get("Arn", "")).startswith("arn:"):
        return "Parameter Arn is not valid."
    return check_target_input(wire)
