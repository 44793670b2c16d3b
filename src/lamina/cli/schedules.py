"""`lamina schedules`: every EventBridge schedule rule and Scheduler schedule with its next fire
times, in the user's time zone, as a table; or, with --expression, the next fire times of an
expression not created yet, so that a cron expression can be checked before it fires.

Reads the data directory's resource store (or the shared PostgreSQL database): no server needs to
be running.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lamina.cli.errors import CliError
from lamina.cli.tables import print_table
from lamina.config import Settings
from lamina.domain.events.rules import RULE_KIND, Rule
from lamina.domain.schedules import InvalidScheduleExpression, fire_times, parse_schedule_expression
from lamina.domain.schedules.records import SCHEDULE_KIND, Schedule
from lamina.domain.schedules.timetables import Timetable, rule_timetable, schedule_timetable
from lamina.store_choice import StoreChoice

__all__ = ["local_zone", "print_expression", "print_schedules"]

_ZONEINFO_ROOT = "/usr/share/zoneinfo/"


def local_zone(name: str | None = None) -> tzinfo:
    """`name`, else $TZ, else the zone /etc/localtime links to, else UTC."""
    candidates = [name, os.environ.get("TZ", "").lstrip(":") or None]
    try:
        target = os.path.realpath("/etc/localtime")
        if _ZONEINFO_ROOT in target:
            candidates.append(target.split(_ZONEINFO_ROOT, 1)[1])
    except OSError:
        pass
    for candidate in candidates:
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            if candidate == name:
                raise CliError(f"no time zone {name}", "use an IANA name such as Europe/Paris") from None
    return UTC


def _format(moment: float, zone: tzinfo) -> str:
    return datetime.fromtimestamp(moment, zone).strftime("%Y-%m-%d %H:%M %Z")


def print_expression(expression: str, zone_name: str | None, count: int, as_json: bool) -> None:
    """The next fire times of `expression`, evaluated in `zone_name` (a rate counts from now)."""
    try:
        parsed = parse_schedule_expression(expression, allow_at=True)
    except InvalidScheduleExpression as error:
        raise CliError(
            f"not a schedule expression: {error}", "e.g. 'cron(0 8 ? * MON-FRI *)' or 'rate(5 minutes)'"
        ) from None
    zone = local_zone(zone_name)
    now = datetime.now(UTC)
    times = [
        moment.timestamp()
        for moment in itertools.islice(fire_times(parsed, now, zone=zone, anchor=now), count)
    ]
    if as_json:
        print(json.dumps({"expression": expression, "timeZone": str(zone), "next": [_iso(t) for t in times]}))
        return
    rows = [[str(index + 1), _format(moment, zone), _iso(moment)] for index, moment in enumerate(times)]
    print_table(f"{expression} in {zone}", [("#", "right"), ("local time", "left"), ("UTC", "left")], rows)


def print_schedules(
    data_dir: Path, metadata_url: str | None, zone_name: str | None, count: int, as_json: bool
) -> None:
    zone = local_zone(zone_name)
    settings = Settings(data_dir=data_dir)
    stores = StoreChoice(
        replace(settings, metadata_url=metadata_url or settings.recorded_metadata_url()), serving=False
    )
    entries = asyncio.run(_entries(stores))
    now = time.time()
    listed = []
    for kind, name, expression, state, where, timetable in entries:
        upcoming = list(itertools.islice(timetable.times_after(now), count)) if state == "ENABLED" else []
        listed.append((kind, name, expression, state, where, str(timetable.zone), upcoming))
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "kind": kind,
                        "name": name,
                        "expression": expression,
                        "state": state,
                        "location": where,
                        "scheduleTimeZone": schedule_zone,
                        "next": [_iso(t) for t in upcoming],
                    }
                    for kind, name, expression, state, where, schedule_zone, upcoming in listed
                ]
            )
        )
        return
    if not listed:
        print("no schedule rules or schedules")
        return
    rows = [
        [kind, name, expression, schedule_zone, state, ", ".join(_format(t, zone) for t in upcoming) or "-"]
        for kind, name, expression, state, _, schedule_zone, upcoming in listed
    ]
    columns = [
        ("kind", "left"),
        ("name", "left"),
        ("expression", "left"),
        ("zone", "left"),
        ("state", "left"),
        (f"next fire times ({zone})", "left"),
    ]
    print_table(None, columns, rows)  # type: ignore[arg-type]


async def _entries(stores: StoreChoice) -> list[tuple[str, str, str, str, str, Timetable]]:
    store = stores.resources()
    await stores.open()
    await store.open()
    try:
        found = []
        for key, document in await store.list_kind(RULE_KIND):
            rule = Rule.from_document(key.account, key.region, key.name, document)
            if rule.schedule_expression:
                name = rule.name if rule.bus == "default" else f"{rule.bus}/{rule.name}"
                found.append(
                    (
                        "rule",
                        name,
                        rule.schedule_expression,
                        rule.state,
                        f"{key.account}/{key.region}",
                        rule_timetable(rule),
                    )
                )
        for key, document in await store.list_kind(SCHEDULE_KIND):
            schedule = Schedule.from_document(key.account, key.region, key.name, document)
            found.append(
                (
                    "schedule",
                    f"{schedule.group}/{schedule.name}",
                    schedule.expression,
                    schedule.state,
                    f"{key.account}/{key.region}",
                    schedule_timetable(schedule),
                )
            )
        return found
    finally:
        await store.close()
        await stores.close()


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
