"""The envelope PutEvents puts around an entry, the refusals of single entries, and the Scheduled
Event a schedule rule sends."""

from __future__ import annotations

import datetime
import json

from lamina.domain.events.envelopes import EntryError, envelope, scheduled_event, timestamp

NOW = 1_796_490_000.75  # 2026-12-05T17:00:00Z and a bit


def test_an_entry_becomes_an_event() -> None:
    entry = {"Source": "shop", "DetailType": "order", "Detail": '{"id": 1}', "Resources": ["arn:x"]}
    assert envelope(entry, "e-1", "111111111111", "eu-west-1", NOW) == {
        "version": "0",
        "id": "e-1",
        "detail-type": "order",
        "source": "shop",
        "account": "111111111111",
        "time": "2026-12-05T17:00:00Z",
        "region": "eu-west-1",
        "resources": ["arn:x"],
        "detail": {"id": 1},
    }


def test_the_entry_time_is_kept() -> None:
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    entry = {"Source": "s", "DetailType": "d", "Detail": "{}", "Time": moment}
    event = envelope(entry, "e", "1", "r", NOW)
    assert not isinstance(event, EntryError) and event["time"] == "2026-01-02T03:04:05Z"


def test_refused_entries() -> None:
    assert envelope({"DetailType": "d", "Detail": "{}"}, "e", "1", "r", NOW) == EntryError(
        "InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument."
    )
    assert envelope({"Source": "s", "Detail": "{}"}, "e", "1", "r", NOW) == EntryError(
        "InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is a required argument."
    )
    for detail in ("{", "[1]", '"text"', "3"):
        assert envelope(
            {"Source": "s", "DetailType": "d", "Detail": detail}, "e", "1", "r", NOW
        ) == EntryError("MalformedDetail", "Detail is malformed.")
    huge = {"Source": "s", "DetailType": "d", "Detail": json.dumps({"x": "y" * 262_144})}
    refused = envelope(huge, "e", "1", "r", NOW)
    assert isinstance(refused, EntryError) and refused.code == "InvalidArgument"


def test_the_scheduled_event() -> None:
    rule = "arn:aws:events:us-east-1:1:rule/r"
    assert scheduled_event("e", "1", "us-east-1", rule, 1_796_490_000) == {
        "version": "0",
        "id": "e",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "1",
        "time": "2026-12-05T17:00:00Z",
        "region": "us-east-1",
        "resources": [rule],
        "detail": {},
    }
    assert timestamp(0) == "1970-01-01T00:00:00Z"
