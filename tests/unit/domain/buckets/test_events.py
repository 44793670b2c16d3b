"""The event document S3 sends a destination (User Guide, "Event message structure", 2.1)."""

from __future__ import annotations

import json
from dataclasses import replace

from lamina.domain.buckets.events import ObjectEvent, event_document, new_sequencer

CREATED = ObjectEvent(
    "ObjectCreated:Put",
    "photos",
    "OWNERID",
    "eu-west-1",
    "red flower/été+x.jpg",
    1024,
    "d41d8cd98f00b204e9800998ecf8427e",
    "0055AED6DCD90281E5",
    1_700_000_000.123456,
    "AWS:CALLER",
    "203.0.113.7",
    "REQ123",
    "HOST456",
)


def _record(event: ObjectEvent, configuration_id: str = "config-1") -> dict[str, object]:
    document = json.loads(event_document(event, configuration_id))
    assert list(document) == ["Records"] and len(document["Records"]) == 1
    record: dict[str, object] = document["Records"][0]
    return record


def test_a_created_event_has_exactly_s3s_shape() -> None:
    assert _record(CREATED) == {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "eu-west-1",
        "eventTime": "2023-11-14T22:13:20.123Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:CALLER"},
        "requestParameters": {"sourceIPAddress": "203.0.113.7"},
        "responseElements": {"x-amz-request-id": "REQ123", "x-amz-id-2": "HOST456"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "config-1",
            "bucket": {
                "name": "photos",
                "ownerIdentity": {"principalId": "OWNERID"},
                "arn": "arn:aws:s3:::photos",
            },
            "object": {
                "key": "red+flower/%C3%A9t%C3%A9%2Bx.jpg",
                "size": 1024,
                "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                "sequencer": "0055AED6DCD90281E5",
            },
        },
    }


def test_a_removed_event_has_no_size_or_etag() -> None:
    removed = replace(CREATED, event_name="ObjectRemoved:Delete", size=None, etag=None)
    record = _record(removed)
    assert record["eventName"] == "ObjectRemoved:Delete"
    s3 = record["s3"]
    assert isinstance(s3, dict)
    assert s3["object"] == {"key": "red+flower/%C3%A9t%C3%A9%2Bx.jpg", "sequencer": "0055AED6DCD90281E5"}


def test_an_empty_created_object_keeps_size_zero() -> None:
    record = _record(replace(CREATED, size=0))
    s3 = record["s3"]
    assert isinstance(s3, dict) and s3["object"]["size"] == 0


def test_event_names_carry_no_s3_prefix_and_keys_are_form_encoded() -> None:
    record = _record(replace(CREATED, event_name="ObjectCreated:CompleteMultipartUpload", key="a b?c=d&e"))
    assert record["eventName"] == "ObjectCreated:CompleteMultipartUpload"
    s3 = record["s3"]
    assert isinstance(s3, dict) and s3["object"]["key"] == "a+b%3Fc%3Dd%26e"


def test_the_document_is_compact_json() -> None:
    document = event_document(CREATED, "c")
    assert b" " not in document.replace(b"red+flower", b"")  # separators without spaces


def test_sequencers_increase_as_strings_of_equal_length() -> None:
    sequencers = [new_sequencer() for _ in range(2000)]
    assert len({len(sequencer) for sequencer in sequencers}) == 1
    assert all(int(sequencer, 16) >= 0 for sequencer in sequencers)
    assert sequencers == sorted(sequencers)
    assert len(set(sequencers)) == len(sequencers)
