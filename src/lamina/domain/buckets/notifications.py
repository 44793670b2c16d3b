"""Bucket notification configurations: what PutBucketNotificationConfiguration accepts, and which
destinations an event reaches (Amazon S3 User Guide, "Amazon S3 Event Notifications": supported
event types, "Configuring event notifications using object key name filtering").

A configuration is kept as the wire dictionary GetBucketNotificationConfiguration returns, with an
`Id` generated for each destination that came without one, as S3 does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lamina.domain.buckets.errors import invalid_argument

# Every event type S3 can notify about, wildcards included.
EVENT_TYPES = frozenset(
    {
        "s3:TestEvent",
        "s3:ObjectCreated:*",
        "s3:ObjectCreated:Put",
        "s3:ObjectCreated:Post",
        "s3:ObjectCreated:Copy",
        "s3:ObjectCreated:CompleteMultipartUpload",
        "s3:ObjectRemoved:*",
        "s3:ObjectRemoved:Delete",
        "s3:ObjectRemoved:DeleteMarkerCreated",
        "s3:ObjectRestore:*",
        "s3:ObjectRestore:Post",
        "s3:ObjectRestore:Completed",
        "s3:ObjectRestore:Delete",
        "s3:ReducedRedundancyLostObject",
        "s3:Replication:*",
        "s3:Replication:OperationFailedReplication",
        "s3:Replication:OperationMissedThreshold",
        "s3:Replication:OperationReplicatedAfterThreshold",
        "s3:Replication:OperationNotTracked",
        "s3:LifecycleExpiration:*",
        "s3:LifecycleExpiration:Delete",
        "s3:LifecycleExpiration:DeleteMarkerCreated",
        "s3:LifecycleTransition",
        "s3:IntelligentTiering",
        "s3:ObjectTagging:*",
        "s3:ObjectTagging:Put",
        "s3:ObjectTagging:Delete",
        "s3:ObjectAcl:Put",
    }
)
# Configuration list member → the member naming its destination.
DESTINATIONS = {
    "LambdaFunctionConfigurations": "LambdaFunctionArn",
    "QueueConfigurations": "QueueArn",
    "TopicConfigurations": "TopicArn",
}


@dataclass(frozen=True, slots=True)
class Destination:
    """One place an event goes: `kind` is a key of DESTINATIONS."""

    kind: str
    arn: str
    configuration_id: str


def normalise(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration as it will be stored and returned; raises InvalidArgument as S3 does for
    an unknown event type, a filter rule other than one prefix and one suffix, or two
    destinations that share an event type for overlapping keys."""
    result: dict[str, Any] = {}
    rules_seen: list[tuple[frozenset[str], str, str]] = []
    for member, arn_member in DESTINATIONS.items():
        entries = []
        for entry in configuration.get(member) or []:
            events = list(entry.get("Events") or [])
            if not events:
                raise invalid_argument("The event list must not be empty.", "Event", "")
            for event in events:
                if event not in EVENT_TYPES:
                    raise invalid_argument("The event is not supported for notifications", "Event", event)
            prefix, suffix = _filter_of(entry.get("Filter"))
            for other_events, other_prefix, other_suffix in rules_seen:
                if (
                    _events_overlap(events, other_events)
                    and _affixes_overlap(prefix, other_prefix, str.startswith)
                    and _affixes_overlap(suffix, other_suffix, str.endswith)
                ):
                    raise invalid_argument(
                        "Configurations overlap. Configurations on the same bucket cannot share a "
                        "common event type.",
                        "Event",
                        events[0],
                    )
            rules_seen.append((frozenset(events), prefix, suffix))
            normalised: dict[str, Any] = {
                "Id": entry.get("Id") or str(uuid.uuid4()),
                arn_member: entry[arn_member],
                "Events": events,
            }
            if entry.get("Filter"):
                normalised["Filter"] = entry["Filter"]
            entries.append(normalised)
        if entries:
            result[member] = entries
    if configuration.get("EventBridgeConfiguration") is not None:
        result["EventBridgeConfiguration"] = {}
    return result


def _filter_of(filter_: Mapping[str, Any] | None) -> tuple[str, str]:
    prefix = suffix = None
    for rule in ((filter_ or {}).get("Key") or {}).get("FilterRules") or []:
        name = str(rule.get("Name", "")).lower()
        value = str(rule.get("Value", ""))
        if name == "prefix":
            if prefix is not None:
                raise invalid_argument(
                    "Cannot specify more than one prefix rule in a filter.", "FilterRule.Name", "prefix"
                )
            prefix = value
        elif name == "suffix":
            if suffix is not None:
                raise invalid_argument(
                    "Cannot specify more than one suffix rule in a filter.", "FilterRule.Name", "suffix"
                )
            suffix = value
        else:
            raise invalid_argument(
                "filter rule name must be either prefix or suffix", "FilterRule.Name", str(rule.get("Name"))
            )
    return prefix or "", suffix or ""


def _matches(event_type: str, event_name: str) -> bool:
    """`event_name` (such as `s3:ObjectCreated:Put`) is one `event_type` (maybe a wildcard) covers."""
    if event_type.endswith(":*"):
        return event_name.startswith(event_type[:-1])
    return event_type == event_name


def _events_overlap(first: Iterable[str], second: Iterable[str]) -> bool:
    return any(_matches(a, b) or _matches(b, a) for a in first for b in second)


def _affixes_overlap(first: str, second: str, test: Any) -> bool:
    return bool(test(first, second) or test(second, first))


def destinations(configuration: Mapping[str, Any], event_name: str, key: str) -> list[Destination]:
    """Where an event `event_name` about object `key` goes under a stored configuration."""
    found = []
    for member, arn_member in DESTINATIONS.items():
        for entry in configuration.get(member) or []:
            if not any(_matches(event_type, event_name) for event_type in entry.get("Events") or []):
                continue
            prefix, suffix = _filter_of(entry.get("Filter"))
            if key.startswith(prefix) and key.endswith(suffix):
                found.append(Destination(member, str(entry[arn_member]), str(entry["Id"])))
    return found
