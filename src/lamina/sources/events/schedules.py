"""Fires EventBridge schedule rules when their times come: each enabled rule with a
ScheduleExpression sends the "Scheduled Event" to its targets at every fire time.

Time comes from the one clock (`lamina server --fake-clock` moves it by `POST /_lamina/clock`, and
this wakes at once). Fire times are durable:
- a rule's last fire time is kept in the resource store, so after a restart the fire times missed
  meanwhile are fired once each, as far back as the retry window (24 hours, EventBridge's default
  MaximumEventAgeInSeconds); older ones are skipped;
- each fire time is claimed in the store before it is sent (`create` succeeds once) and the claim
  kept, marked sent, for twice the retry window, so servers sharing a database never send one
  twice; an unsent claim left by a server that stopped mid-send is taken over (by itself after a
  restart, by another after `_STALE_CLAIM_S`). A crash between handing the event to its targets
  and marking the claim sent sends it again after the restart: at least once, as EventBridge's
  own delivery is.

A rate rule first fires one period after it was created or enabled (compatibility.md); a cron rule
at its first matching minute after that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from lamina.clock import Clock, ManualClock
from lamina.domain.events.envelopes import scheduled_event, timestamp
from lamina.domain.events.rules import Rule
from lamina.domain.schedules import RateExpression, fire_times, parse_schedule_expression
from lamina.sources.events.service import EventBusService
from lamina.store.resource_ports import ResourceKey, ResourceStore, Write

__all__ = ["RuleSchedules"]

_log = logging.getLogger(__name__)
STATE_KIND = "events/schedule-state"
CLAIM_KIND = "events/schedule-claim"
RETRY_WINDOW_S = 86_400.0
_STALE_CLAIM_S = 60.0
_SWEEP_EVERY_S = 3600.0
_LONGEST_SLEEP_S = 30.0  # a real clock is looked at again at least this often
_EVENT_IDS = uuid.UUID("6f0c6b1e-4c55-4d0e-9d5a-2a3c0e5b7a10")  # namespace: one id per rule and fire time


class RuleSchedules:
    def __init__(self, service: EventBusService, store: ResourceStore, clock: Clock, owner: str) -> None:
        """`owner`: this server's id, written into its claims."""
        self._service = service
        self._store = store
        self._clock = clock
        self._owner = owner
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_fire: dict[str, float] = {}  # rule ARN -> last fire time sent (epoch seconds)
        self._swept: dict[str, float] = {}  # rule ARN -> when its expired claims were last removed
        service.on_rules_changed(self._wake.set)
        if isinstance(clock, ManualClock):
            clock.on_advance(self._wake.set)

    async def start(self) -> None:
        for key, document in await self._store.list_kind(STATE_KIND):
            self._last_fire[key.name] = float(document["last_fire"])
        try:
            await self.fire_due()  # what was missed while stopped, before the server is ready
        except Exception:
            _log.exception("firing the schedule rules' missed times failed")
        self._task = asyncio.create_task(self._run(), name="rule-schedules")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def fire_due(self) -> int:
        """Send every fire time that has come; returns how many were sent."""
        now = self._clock.now()
        sent = 0
        for rule in self._service.rules():
            if rule.schedule_expression and rule.enabled:
                for moment in self._due(rule, now):
                    sent += await self._fire(rule, moment, now)
        return sent

    def next_due(self) -> float | None:
        """The soonest fire time of any enabled schedule rule (epoch seconds)."""
        soonest: float | None = None
        for rule in self._service.rules():
            if rule.schedule_expression and rule.enabled:
                moment = next(self._times(rule, self._after(rule)), None)
                if moment is not None and (soonest is None or moment < soonest):
                    soonest = moment
        return soonest

    # -------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self.fire_due()
            except Exception:  # a store outage must not end the schedules
                _log.exception("firing schedule rules failed")
            self._wake.clear()
            due = self.next_due()
            wait = (
                _LONGEST_SLEEP_S if due is None else max(0.0, min(_LONGEST_SLEEP_S, due - self._clock.now()))
            )
            if isinstance(self._clock, ManualClock):
                wait = _LONGEST_SLEEP_S  # only a move of the clock (or a change) brings a time closer
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _after(self, rule: Rule) -> float:
        return max(self._last_fire.get(rule.arn, 0.0), rule.schedule_anchor)

    def _times(self, rule: Rule, after: float) -> Any:
        expression = parse_schedule_expression(str(rule.schedule_expression))
        anchor = None
        if isinstance(expression, RateExpression):
            anchor = datetime.fromtimestamp(rule.schedule_anchor, UTC) + expression.period
        start = datetime.fromtimestamp(after, UTC)
        return (moment.timestamp() for moment in fire_times(expression, start, anchor=anchor))

    def _due(self, rule: Rule, now: float) -> list[float]:
        due = []
        for moment in self._times(rule, self._after(rule)):
            if moment > now:
                break
            due.append(moment)
        return due

    async def _fire(self, rule: Rule, moment: float, now: float) -> int:
        """Send one fire time unless it was sent already (by this server before a restart, or by
        another), or it is past the retry window."""
        name = f"{rule.arn}@{moment:014.0f}"
        claim = ResourceKey(CLAIM_KIND, rule.account, rule.region, name)
        state = ResourceKey(STATE_KIND, rule.account, rule.region, rule.arn)
        sent = 0
        if now - moment > RETRY_WINDOW_S:
            _log.warning(
                "rule %s: fire time %s is past the retry window; skipped", rule.arn, timestamp(moment)
            )
        elif await self._claim(claim, now):
            event_id = str(uuid.uuid5(_EVENT_IDS, name))
            event = scheduled_event(event_id, rule.account, rule.region, rule.arn, moment)
            await self._service.deliver_to_targets(rule, event, timestamp(now))
            await self._store.apply([Write(claim, {"owner": self._owner, "claimed_at": now, "sent": True})])
            sent = 1
        self._last_fire[rule.arn] = moment
        await self._store.apply([Write(state, {"last_fire": moment}), *await self._expired_claims(rule, now)])
        return sent

    async def _claim(self, claim: ResourceKey, now: float) -> bool:
        """Whether this server is to send the fire time: the claim is new, or an unsent one left by
        a server that stopped mid-send (this one before a restart, or another gone quiet)."""
        document = {"owner": self._owner, "claimed_at": now, "sent": False}
        if await self._store.create(claim, document):
            return True
        held = await self._store.get(claim)
        if held is None or held.get("sent"):
            return False
        if held.get("owner") != self._owner and now - float(held.get("claimed_at", 0)) < _STALE_CLAIM_S:
            return False
        await self._store.apply([Write(claim, document)])
        return True

    async def _expired_claims(self, rule: Rule, now: float) -> list[Write]:
        """Claims kept past the retry window are no longer needed: no fire time that old is sent.
        Looked for once an hour per rule."""
        if now - self._swept.get(rule.arn, 0.0) < _SWEEP_EVERY_S:
            return []
        self._swept[rule.arn] = now
        claims = await self._store.list_in(CLAIM_KIND, rule.account, rule.region, f"{rule.arn}@")
        return [
            Write(ResourceKey(CLAIM_KIND, rule.account, rule.region, name), None)
            for name, _ in claims
            if now - float(name.rpartition("@")[2]) > 2 * RETRY_WINDOW_S
        ]
