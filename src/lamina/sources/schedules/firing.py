"""Fires timetables when their times come: EventBridge schedule rules and EventBridge Scheduler
schedules hand their timetables to one `ScheduleFiring`, which tells them when each time is due.

Time comes from the one clock (`lamina server --fake-clock` moves it by `POST /_lamina/clock`, and
this wakes at once). Fire times are durable:
- a timetable's last fire time is kept in the resource store, so after a restart the times missed
  meanwhile are fired once each, as far back as the retry window (24 hours, the default
  MaximumEventAgeInSeconds of both services); older ones are skipped. While running, every time
  that comes fires, however far a fake clock jumps;
- each fire time is claimed in the store before it is sent (`create` succeeds once) and the claim
  kept, marked sent, for twice the retry window, so servers sharing a database never send one
  twice; an unsent claim left by a server that stopped mid-send is taken over (by itself after a
  restart, by another after `_STALE_CLAIM_S`). A crash between handing the event on and marking
  the claim sent sends it again after the restart: at least once, as both services deliver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

from lamina.clock import Clock, ManualClock
from lamina.domain.events.envelopes import timestamp
from lamina.domain.schedules.timetables import Timetable
from lamina.store.resource_ports import ResourceKey, ResourceStore, Write

__all__ = ["RETRY_WINDOW_S", "ScheduleFiring", "Timetable", "TimetableSource"]

_log = logging.getLogger(__name__)
STATE_KIND = "schedules/state"
CLAIM_KIND = "schedules/claim"
RETRY_WINDOW_S = 86_400.0
_STALE_CLAIM_S = 60.0
_SWEEP_EVERY_S = 3600.0
_LONGEST_SLEEP_S = 30.0  # a real clock is looked at again at least this often
# Fire times go through datetimes (microseconds): one may land a hair after the clock moved
# exactly onto it, and a fake clock moved by a whole period must still fire it.
_TOLERANCE_S = 0.001


class TimetableSource(Protocol):
    def timetables(self) -> Sequence[Timetable]:
        """Those enabled now (read often: from memory)."""
        ...

    async def fire(self, timetable: Timetable, moment: float, now: float) -> None:
        """Send what `timetable` sends at `moment` (its fire time; `now` may be later)."""

    async def finished(self, timetable: Timetable) -> None:
        """`timetable` has no fire time left (an at() that fired, an EndDate passed)."""


class ScheduleFiring:
    def __init__(
        self, sources: Sequence[TimetableSource], store: ResourceStore, clock: Clock, owner: str
    ) -> None:
        """`owner`: this server's id, written into its claims."""
        self._sources = list(sources)
        self._store = store
        self._clock = clock
        self._owner = owner
        self._wake = asyncio.Event()
        self._firing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._last_fire: dict[str, float] = {}  # timetable ARN -> last fire time handled
        self._swept: dict[str, float] = {}  # timetable ARN -> when its expired claims were removed
        if isinstance(clock, ManualClock):
            clock.on_advance(self.changed)

    def add_source(self, source: TimetableSource) -> None:
        self._sources.append(source)

    def changed(self) -> None:
        """A timetable changed, or the clock moved: look again now."""
        self._wake.set()

    async def start(self) -> None:
        for key, document in await self._store.list_kind(STATE_KIND):
            self._last_fire[key.name] = float(document["last_fire"])
        try:
            await self.fire_due(catching_up=True)  # missed while stopped, before the server is ready
        except Exception:
            _log.exception("firing the schedules' missed times failed")
        self._task = asyncio.create_task(self._run(), name="schedule-firing")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def fire_due(self, *, catching_up: bool = False) -> int:
        """Send every fire time that has come; returns how many were sent. `catching_up`: after a
        restart, when times older than the retry window are skipped."""
        async with self._firing:  # the loop and a moved fake clock never send one time together
            now = self._clock.now()
            sent = 0
            for source in self._sources:
                for timetable in source.timetables():
                    sent += await self._fire_timetable(source, timetable, now, catching_up)
            return sent

    async def _fire_timetable(
        self, source: TimetableSource, timetable: Timetable, now: float, catching_up: bool
    ) -> int:
        sent = 0
        due, exhausted = self._due(timetable, now)
        for moment in due:
            sent += await self._fire(source, timetable, moment, now, catching_up)
        if exhausted:
            await source.finished(timetable)
        return sent

    def next_due(self) -> float | None:
        """The soonest fire time of any timetable (epoch seconds)."""
        soonest: float | None = None
        for source in self._sources:
            for timetable in source.timetables():
                moment = next(timetable.times_after(self._last_fire.get(timetable.arn, 0.0)), None)
                if moment is not None and (soonest is None or moment < soonest):
                    soonest = moment
        return soonest

    # -------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self.fire_due()
            except Exception:  # a store outage must not end the schedules
                _log.exception("firing schedules failed")
            self._wake.clear()
            due = self.next_due()
            if isinstance(self._clock, ManualClock) or due is None:
                wait = _LONGEST_SLEEP_S  # a fake clock's time only comes closer when it is moved
            else:
                wait = max(0.0, min(_LONGEST_SLEEP_S, due - self._clock.now()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _due(self, timetable: Timetable, now: float) -> tuple[list[float], bool]:
        """The fire times come, and whether none is left after them."""
        due: list[float] = []
        for moment in timetable.times_after(self._last_fire.get(timetable.arn, 0.0)):
            if moment > now + _TOLERANCE_S:
                return due, False
            due.append(moment)
        return due, True

    async def _fire(
        self, source: TimetableSource, timetable: Timetable, moment: float, now: float, catching_up: bool
    ) -> int:
        """Send one fire time unless it was sent already (by this server before a restart, or by
        another), or it is past the retry window."""
        name = f"{timetable.arn}@{moment:014.0f}"
        claim = ResourceKey(CLAIM_KIND, timetable.account, timetable.region, name)
        state = ResourceKey(STATE_KIND, timetable.account, timetable.region, timetable.arn)
        sent = 0
        if catching_up and now - moment > RETRY_WINDOW_S:
            _log.warning(
                "%s: fire time %s is past the retry window; skipped", timetable.arn, timestamp(moment)
            )
        elif await self._claim(claim, now):
            await source.fire(timetable, moment, now)
            await self._store.apply([Write(claim, {"owner": self._owner, "claimed_at": now, "sent": True})])
            sent = 1
        self._last_fire[timetable.arn] = moment
        await self._store.apply(
            [Write(state, {"last_fire": moment}), *await self._expired_claims(timetable, now)]
        )
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

    async def _expired_claims(self, timetable: Timetable, now: float) -> list[Write]:
        """Claims kept past twice the retry window are no longer needed: no fire time that old is
        sent. Looked for once an hour per timetable."""
        if now - self._swept.get(timetable.arn, 0.0) < _SWEEP_EVERY_S:
            return []
        self._swept[timetable.arn] = now
        claims = await self._store.list_in(
            CLAIM_KIND, timetable.account, timetable.region, f"{timetable.arn}@"
        )
        return [
            Write(ResourceKey(CLAIM_KIND, timetable.account, timetable.region, name), None)
            for name, _ in claims
            if now - float(name.rpartition("@")[2]) > 2 * RETRY_WINDOW_S
        ]
