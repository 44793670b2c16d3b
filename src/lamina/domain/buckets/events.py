"""The event S3 sends a destination, record for record as AWS's (Amazon S3 User Guide, "Event
message structure"; event version 2.1)."""

from __future__ import annotations

import datetime
import itertools
import json
import time
from dataclasses import dataclass
from urllib.parse import quote_plus

__all__ = ["ObjectEvent", "event_document", "new_sequencer"]

_counter = itertools.count()


def new_sequencer() -> str:
    """An increasing hexadecimal value: S3's `sequencer` orders the events of one key (later events
    compare greater as strings of equal length, which these are: nanoseconds then a counter)."""
    return f"{time.time_ns():016X}{next(_counter) % 0x10000:04X}"


def encode_key(key: str) -> str:
    """The key as S3 writes it in events: form-encoded, so a space is `+` (the User Guide's
    example: 'red flower.jpg' is 'red+flower.jpg'); `/` stays as it is."""
    return quote_plus(key, safe="/")


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    """One thing that happened to one object, as the service saw it."""

    event_name: str  # without the "s3:" prefix: ObjectCreated:Put
    bucket: str
    bucket_owner: str  # the owner's principal id
    region: str
    key: str
    size: int | None  # None for removals
    etag: str | None  # unquoted; None for removals
    sequencer: str
    time: float  # epoch seconds
    principal_id: str  # who caused it
    source_ip: str
    request_id: str
    host_id: str


def event_record(event: ObjectEvent, configuration_id: str) -> dict[str, object]:
    moment = datetime.datetime.fromtimestamp(event.time, datetime.UTC)
    obj: dict[str, object] = {"key": encode_key(event.key)}
    if event.size is not None:
        obj["size"] = event.size
    if event.etag is not None:
        obj["eTag"] = event.etag
    obj["sequencer"] = event.sequencer
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": event.region,
        "eventTime": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
        "eventName": event.event_name,
        "userIdentity": {"principalId": event.principal_id},
        "requestParameters": {"sourceIPAddress": event.source_ip},
        "responseElements": {"x-amz-request-id": event.request_id, "x-amz-id-2": event.host_id},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {
                "name": event.bucket,
                "ownerIdentity": {"principalId": event.bucket_owner},
                "arn": f"arn:aws:s3:::{event.bucket}",
            },
            "object": obj,
        },
    }


def event_document(event: ObjectEvent, configuration_id: str) -> bytes:
    """The payload a function gets: `{"Records": [record]}` (S3 sends one record per event)."""
    return json.dumps({"Records": [event_record(event, configuration_id)]}, separators=(",", ":")).encode()
