"""The events EventBridge delivers (EventBridge user guide, "Amazon EventBridge events"): the
envelope around a PutEvents entry, and the "Scheduled Event" a schedule rule sends.

    {"version": "0", "id": "…", "detail-type": "…", "source": "…", "account": "…",
     "time": "2026-12-05T10:00:00Z", "region": "…", "resources": […], "detail": {…}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["EntryError", "envelope", "scheduled_event", "timestamp"]

MAX_ENTRIES = 10  # PutEvents: "Entries", 1-10
MAX_EVENT_BYTES = 262_144  # "PutEvents events entry size": 256 KB per entry


@dataclass(frozen=True, slots=True)
class EntryError:
    """A PutEvents entry refused on its own (the call succeeds; FailedEntryCount counts it)."""

    code: str
    message: str


def timestamp(moment: float) -> str:
    """EventBridge's `time`: UTC to the second, with a Z."""
    return datetime.fromtimestamp(int(moment), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(
    entry: dict[str, Any], event_id: str, account: str, region: str, now: float
) -> dict[str, Any] | EntryError:
    """The event for one PutEvents entry, or why it is refused. `Time` (a datetime boto3 sent as
    epoch seconds) defaults to now."""
    for member in ("Source", "DetailType", "Detail"):
        if not entry.get(member):
            return EntryError(
                "InvalidArgument",
                f"Parameter {member} is not valid. Reason: {member} is a required argument.",
            )
    try:
        detail = json.loads(entry["Detail"])
    except ValueError:
        return EntryError("MalformedDetail", "Detail is malformed.")
    if not isinstance(detail, dict):
        return EntryError("MalformedDetail", "Detail is malformed.")
    moment = entry.get("Time")
    when = (
        moment.timestamp() if isinstance(moment, datetime) else float(moment) if moment is not None else now
    )
    event = {
        "version": "0",
        "id": event_id,
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": account,
        "time": timestamp(when),
        "region": region,
        "resources": list(entry.get("Resources") or []),
        "detail": detail,
    }
    if len(json.dumps(event, separators=(",", ":")).encode()) > MAX_EVENT_BYTES:
        return EntryError("InvalidArgument", "Total size of the entries in the request is over the limit.")
    return event


def scheduled_event(
    event_id: str, account: str, region: str, rule_arn: str, fire_time: float
) -> dict[str, Any]:
    """What a schedule rule's targets receive (EventBridge user guide, "Scheduled events"): time is
    the fire time, not when the event was sent."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": timestamp(fire_time),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }
