"""The embedded EventBridge Scheduler: schedules and schedule groups kept in the resource store and
indexed in memory, and their timetables for the firing engine (`firing.py`).

What fires (Scheduler user guide, "Schedule types"): a rate schedule at its StartDate (or when it
was created or enabled, without one) and every period after; a cron schedule at its matching
minutes in its time zone; an at() schedule once. Nothing fires before StartDate or after EndDate.
A schedule with nothing left to fire is deleted when its ActionAfterCompletion is DELETE. With a
FLEXIBLE window the target is invoked at the window's start (compatibility.md).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from lamina.clock import Clock
from lamina.domain.schedules import errors
from lamina.domain.schedules.records import (
    DEFAULT_GROUP,
    DISABLED,
    ENABLED,
    SCHEDULE_KIND,
    Schedule,
    ScheduleGroup,
    checked_schedule,
)
from lamina.domain.schedules.timetables import Timetable, schedule_timetable
from lamina.sources.resource_tags import ResourceTags
from lamina.store.resource_ports import ResourceKey, ResourceStore, Write

__all__ = ["ScheduleInvocation", "SchedulerService"]

_log = logging.getLogger(__name__)
GROUP_KIND = "scheduler/group"
TAGS_KIND = "scheduler/tags"
_EXECUTIONS = uuid.UUID("0b7e5a59-2f1c-4c3e-8f5e-7d8f8c1e4a21")  # namespace of execution ids
Region = tuple[str, str]


@dataclass(frozen=True, slots=True)
class ScheduleInvocation:
    """One fire time of one schedule, for its target."""

    schedule: Schedule
    payload: bytes
    execution_id: str


Deliver = Callable[[ScheduleInvocation], Awaitable[bool]]


class SchedulerService:
    def __init__(self, store: ResourceStore, clock: Clock, deliver: Deliver) -> None:
        self._store = store
        self._clock = clock
        self._deliver = deliver
        self._schedules: dict[Region, dict[tuple[str, str], Schedule]] = {}
        self._groups: dict[Region, dict[str, ScheduleGroup]] = {}
        self._listeners: list[Callable[[], None]] = []
        self._lock = asyncio.Lock()
        self._tags = ResourceTags(store, TAGS_KIND)

    def on_changed(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    async def load(self) -> None:
        schedules: dict[Region, dict[tuple[str, str], Schedule]] = {}
        for key, document in await self._store.list_kind(SCHEDULE_KIND):
            schedule = Schedule.from_document(key.account, key.region, key.name, document)
            schedules.setdefault((key.account, key.region), {})[(schedule.group, schedule.name)] = schedule
        groups: dict[Region, dict[str, ScheduleGroup]] = {}
        for key, document in await self._store.list_kind(GROUP_KIND):
            groups.setdefault((key.account, key.region), {})[key.name] = ScheduleGroup(
                key.name, key.account, key.region, document["created_at"], document["modified_at"]
            )
        self._schedules, self._groups = schedules, groups
        self._changed()

    # groups ------------------------------------------------------------------------------------
    def group(self, account: str, region: str, name: str) -> ScheduleGroup:
        if name == DEFAULT_GROUP:
            return ScheduleGroup(DEFAULT_GROUP, account, region)
        group = self._groups.get((account, region), {}).get(name)
        if group is None:
            raise errors.group_not_found(name)
        return group

    def groups(self, account: str, region: str, prefix: str = "") -> list[ScheduleGroup]:
        found = [
            ScheduleGroup(DEFAULT_GROUP, account, region),
            *self._groups.get((account, region), {}).values(),
        ]
        return sorted(
            (group for group in found if group.name.startswith(prefix)), key=lambda group: group.name.encode()
        )

    async def create_group(self, account: str, region: str, name: str) -> ScheduleGroup:
        if name == DEFAULT_GROUP:
            raise errors.default_group()
        async with self._lock:
            now = self._clock.now()
            group = ScheduleGroup(name, account, region, now, now)
            if not await self._store.create(
                ResourceKey(GROUP_KIND, account, region, name), {"created_at": now, "modified_at": now}
            ):
                raise errors.group_exists(name)
            self._groups.setdefault((account, region), {})[name] = group
            return group

    async def delete_group(self, account: str, region: str, name: str) -> None:
        """Deletes the group's schedules with it, as Scheduler does."""
        if name == DEFAULT_GROUP:
            raise errors.default_group()
        async with self._lock:
            group = self.group(account, region, name)
            region_schedules = self._schedules.get((account, region), {})
            gone = [schedule for schedule in region_schedules.values() if schedule.group == name]
            await self._store.apply(
                [Write(ResourceKey(GROUP_KIND, account, region, name), None), self._tags.cleared(group.arn)]
                + [Write(ResourceKey(SCHEDULE_KIND, account, region, s.store_name), None) for s in gone]
            )
            self._groups[(account, region)].pop(name, None)
            for schedule in gone:
                region_schedules.pop((schedule.group, schedule.name), None)
        self._changed()

    # schedules ---------------------------------------------------------------------------------
    def schedule(self, account: str, region: str, group: str, name: str) -> Schedule:
        self.group(account, region, group)
        schedule = self._schedules.get((account, region), {}).get((group, name))
        if schedule is None:
            raise errors.schedule_not_found(name)
        return schedule

    def list_schedules(
        self, account: str, region: str, group: str | None, prefix: str, state: str | None
    ) -> list[Schedule]:
        if group is not None:
            self.group(account, region, group)
        found = [
            schedule
            for schedule in self._schedules.get((account, region), {}).values()
            if (group is None or schedule.group == group)
            and schedule.name.startswith(prefix)
            and (state is None or schedule.state == state)
        ]
        return sorted(found, key=lambda schedule: (schedule.group.encode(), schedule.name.encode()))

    async def create(self, schedule: Schedule) -> Schedule:
        """`schedule` as the caller gave it; its times and parse are set here."""
        self.group(schedule.account, schedule.region, schedule.group)
        now = self._clock.now()
        schedule = checked_schedule(replace(schedule, created_at=now, modified_at=now, armed_at=now))
        async with self._lock:
            key = ResourceKey(SCHEDULE_KIND, schedule.account, schedule.region, schedule.store_name)
            if not await self._store.create(key, schedule.to_document()):
                raise errors.schedule_exists(schedule.name)
            self._index(schedule)
        self._changed()
        return schedule

    async def update(self, schedule: Schedule) -> Schedule:
        """UpdateSchedule replaces every setting (what it leaves out returns to its default)."""
        async with self._lock:
            current = self.schedule(schedule.account, schedule.region, schedule.group, schedule.name)
            now = self._clock.now()
            schedule = checked_schedule(
                replace(schedule, created_at=current.created_at, modified_at=now, armed_at=now)
            )
            await self._save(schedule)
        self._changed()
        return schedule

    async def delete(self, account: str, region: str, group: str, name: str) -> None:
        async with self._lock:
            schedule = self.schedule(account, region, group, name)
            await self._remove(schedule)
        self._changed()

    # tags (groups only carry tags in Scheduler) ------------------------------------------------
    async def tags(self, arn: str) -> dict[str, str]:
        self._check_group(arn)
        return await self._tags.get(arn)

    async def tag(self, arn: str, tags: dict[str, str]) -> None:
        async with self._lock:
            self._check_group(arn)
            await self._tags.add(arn, tags)

    async def untag(self, arn: str, names: Sequence[str]) -> None:
        async with self._lock:
            self._check_group(arn)
            await self._tags.remove(arn, names)

    def _check_group(self, arn: str) -> None:
        parts = arn.split(":", 5)
        if (
            len(parts) == 6
            and parts[:3] == ["arn", "aws", "scheduler"]
            and parts[5].startswith("schedule-group/")
        ):
            region, account = parts[3], parts[4]
            name = parts[5].removeprefix("schedule-group/")
            if name == DEFAULT_GROUP or name in self._groups.get((account, region), {}):
                return
        raise errors.resource_not_found(arn)

    # the firing engine's source ----------------------------------------------------------------
    def timetables(self) -> Sequence[Timetable]:
        found = []
        for region_schedules in self._schedules.values():
            for schedule in region_schedules.values():
                if schedule.enabled:
                    found.append(schedule_timetable(schedule))
        return found

    async def fire(self, timetable: Timetable, moment: float, now: float) -> None:
        schedule = self._by_arn(timetable.arn)
        if schedule is None:
            return
        execution_id = str(uuid.uuid5(_EXECUTIONS, f"{schedule.arn}@{moment:.0f}"))
        payload = _input(schedule, moment, execution_id)
        try:
            await self._deliver(ScheduleInvocation(schedule, payload, execution_id))
        except Exception:  # the next fire time must still come
            _log.exception("schedule %s: delivering execution %s failed", schedule.arn, execution_id)

    async def finished(self, timetable: Timetable) -> None:
        schedule = self._by_arn(timetable.arn)
        if schedule is None or schedule.action_after_completion != "DELETE":
            return
        async with self._lock:
            await self._remove(schedule)
        self._changed()

    # -------------------------------------------------------------------------------------------
    def _by_arn(self, arn: str) -> Schedule | None:
        parts = arn.split(":", 5)
        group, _, name = parts[5].removeprefix("schedule/").rpartition("/")
        return self._schedules.get((parts[4], parts[3]), {}).get((group, name))

    def _index(self, schedule: Schedule) -> None:
        self._schedules.setdefault((schedule.account, schedule.region), {})[
            (schedule.group, schedule.name)
        ] = schedule

    async def _save(self, schedule: Schedule) -> None:
        key = ResourceKey(SCHEDULE_KIND, schedule.account, schedule.region, schedule.store_name)
        await self._store.apply([Write(key, schedule.to_document())])
        self._index(schedule)

    async def _remove(self, schedule: Schedule) -> None:
        key = ResourceKey(SCHEDULE_KIND, schedule.account, schedule.region, schedule.store_name)
        await self._store.apply([Write(key, None)])
        self._schedules.get((schedule.account, schedule.region), {}).pop(
            (schedule.group, schedule.name), None
        )

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    async def set_state(self, account: str, region: str, group: str, name: str, enabled: bool) -> None:
        async with self._lock:
            schedule = self.schedule(account, region, group, name)
            changes: dict[str, object] = {
                "state": ENABLED if enabled else DISABLED,
                "modified_at": self._clock.now(),
            }
            if enabled and not schedule.enabled:
                changes["armed_at"] = self._clock.now()
            await self._save(replace(schedule, **changes))  # type: ignore[arg-type]
        self._changed()


def _input(schedule: Schedule, moment: float, execution_id: str) -> bytes:
    """The target's input with Scheduler's context attributes filled in (Scheduler user guide,
    "Adding context attributes"); `{}` when the schedule has none."""
    text = str(schedule.target.get("Input", "{}"))
    for name, value in (
        ("schedule-arn", schedule.arn),
        ("scheduled-time", datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("execution-id", execution_id),
        ("attempt-number", "1"),
    ):
        text = text.replace(f"<aws.scheduler.{name}>", value)
    return text.encode()
