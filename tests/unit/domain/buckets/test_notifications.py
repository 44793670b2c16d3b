"""Notification configurations: what PutBucketNotificationConfiguration accepts and stores, and
which destinations an event reaches."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from lamina.domain.buckets.notifications import Destination, destinations, normalise
from lamina.errors import AwsError

FUNCTION = "arn:aws:lambda:us-east-1:111111111111:function:f"
OTHER_FUNCTION = "arn:aws:lambda:us-east-1:111111111111:function:g"
QUEUE = "arn:aws:sqs:us-east-1:111111111111:q"


def _filter(*rules: tuple[str, str]) -> dict[str, Any]:
    return {"Key": {"FilterRules": [{"Name": name, "Value": value} for name, value in rules]}}


def _function(
    events: list[str], *rules: tuple[str, str], arn: str = FUNCTION, **extra: Any
) -> dict[str, Any]:
    entry: dict[str, Any] = {"LambdaFunctionArn": arn, "Events": events, **extra}
    if rules:
        entry["Filter"] = _filter(*rules)
    return entry


def _invalid(configuration: dict[str, Any]) -> AwsError:
    with pytest.raises(AwsError) as caught:
        normalise(configuration)
    assert (caught.value.code, caught.value.status) == ("InvalidArgument", 400)
    return caught.value


def test_normalise_generates_ids_and_keeps_given_ones() -> None:
    stored = normalise(
        {
            "LambdaFunctionConfigurations": [
                _function(["s3:ObjectCreated:*"], ("prefix", "in/")),
                _function(["s3:ObjectRemoved:*"], Id="mine"),
            ],
            "QueueConfigurations": [{"QueueArn": QUEUE, "Events": ["s3:ObjectRestore:Post"]}],
        }
    )
    first, second = stored["LambdaFunctionConfigurations"]
    uuid.UUID(first["Id"])  # a generated id
    assert first == {
        "Id": first["Id"],
        "LambdaFunctionArn": FUNCTION,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": _filter(("prefix", "in/")),
    }
    assert second == {"Id": "mine", "LambdaFunctionArn": FUNCTION, "Events": ["s3:ObjectRemoved:*"]}
    assert stored["QueueConfigurations"][0]["QueueArn"] == QUEUE
    assert "TopicConfigurations" not in stored
    again = normalise({"LambdaFunctionConfigurations": [_function(["s3:ObjectCreated:*"])]})
    assert again["LambdaFunctionConfigurations"][0]["Id"] != first["Id"]


def test_an_empty_configuration_stays_empty_and_eventbridge_is_kept() -> None:
    assert normalise({}) == {}
    assert normalise({"LambdaFunctionConfigurations": []}) == {}
    assert normalise({"EventBridgeConfiguration": {}}) == {"EventBridgeConfiguration": {}}


@pytest.mark.parametrize(
    "event", ["s3:ObjectCreated:Patch", "ObjectCreated:Put", "s3:*", "", "s3:objectcreated:*"]
)
def test_unknown_events_are_refused(event: str) -> None:
    error = _invalid({"LambdaFunctionConfigurations": [_function([event])]})
    assert error.extra == {"ArgumentName": "Event", "ArgumentValue": event}


def test_an_empty_event_list_is_refused() -> None:
    _invalid({"LambdaFunctionConfigurations": [_function([])]})


@pytest.mark.parametrize(
    "rules",
    [
        (("prefix", "a"), ("prefix", "b")),
        (("suffix", ".jpg"), ("Suffix", ".png")),  # names are not case-sensitive
        (("prefix", "a"), ("suffix", "b"), ("prefix", "c")),
    ],
)
def test_duplicate_prefix_or_suffix_rules_are_refused(rules: tuple[tuple[str, str], ...]) -> None:
    _invalid({"LambdaFunctionConfigurations": [_function(["s3:ObjectCreated:*"], *rules)]})


@pytest.mark.parametrize("name", ["contains", "Prefix ", "", "regex"])
def test_rule_names_other_than_prefix_and_suffix_are_refused(name: str) -> None:
    error = _invalid({"LambdaFunctionConfigurations": [_function(["s3:ObjectCreated:*"], (name, "x"))]})
    assert error.extra["ArgumentName"] == "FilterRule.Name"


def test_rule_names_in_any_case_are_accepted() -> None:
    normalise(
        {
            "LambdaFunctionConfigurations": [
                _function(["s3:ObjectCreated:*"], ("Prefix", "a"), ("SUFFIX", "b"))
            ]
        }
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (_function(["s3:ObjectCreated:*"]), _function(["s3:ObjectCreated:Put"], arn=OTHER_FUNCTION)),
        (_function(["s3:ObjectCreated:Put"]), _function(["s3:ObjectCreated:Put"])),
        (
            _function(["s3:ObjectCreated:Put"], ("prefix", "a/")),
            _function(["s3:ObjectCreated:*"], ("prefix", "a/b")),
        ),
        (
            _function(["s3:ObjectCreated:*"], ("suffix", ".jpg")),
            _function(["s3:ObjectCreated:*"], ("suffix", "x.jpg")),
        ),
        (
            _function(["s3:ObjectCreated:*"], ("prefix", "a")),
            _function(["s3:ObjectCreated:*"], ("suffix", ".jpg")),
        ),
    ],
    ids=["wildcard-and-member", "same-event", "nested-prefixes", "nested-suffixes", "prefix-and-suffix"],
)
def test_overlapping_configurations_are_refused(first: dict[str, Any], second: dict[str, Any]) -> None:
    _invalid({"LambdaFunctionConfigurations": [first, second]})


def test_overlap_is_checked_across_destination_kinds() -> None:
    _invalid(
        {
            "LambdaFunctionConfigurations": [_function(["s3:ObjectCreated:Put"])],
            "QueueConfigurations": [{"QueueArn": QUEUE, "Events": ["s3:ObjectCreated:*"]}],
        }
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (_function(["s3:ObjectCreated:*"]), _function(["s3:ObjectRemoved:*"])),
        (_function(["s3:ObjectCreated:Put"]), _function(["s3:ObjectCreated:Copy"])),
        (
            _function(["s3:ObjectCreated:*"], ("prefix", "a/")),
            _function(["s3:ObjectCreated:*"], ("prefix", "b/")),
        ),
        (
            _function(["s3:ObjectCreated:*"], ("suffix", ".jpg")),
            _function(["s3:ObjectCreated:*"], ("suffix", ".png")),
        ),
    ],
    ids=["other-events", "other-members", "disjoint-prefixes", "disjoint-suffixes"],
)
def test_configurations_that_cannot_both_match_are_accepted(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    stored = normalise({"LambdaFunctionConfigurations": [first, second]})
    assert len(stored["LambdaFunctionConfigurations"]) == 2


STORED = normalise(
    {
        "LambdaFunctionConfigurations": [
            _function(["s3:ObjectCreated:*"], ("prefix", "images/"), ("suffix", ".jpg"), Id="images"),
            _function(["s3:ObjectRemoved:Delete"], arn=OTHER_FUNCTION, Id="removed"),
            _function(["s3:ObjectCreated:Copy"], ("prefix", "copies/"), arn=OTHER_FUNCTION, Id="copies"),
        ],
        "QueueConfigurations": [
            {
                "Id": "queue",
                "QueueArn": QUEUE,
                "Events": ["s3:ObjectCreated:Put"],
                "Filter": _filter(("prefix", "queue/")),
            }
        ],
    }
)


@pytest.mark.parametrize(
    ("event", "key", "ids"),
    [
        ("s3:ObjectCreated:Put", "images/cat.jpg", ["images"]),
        ("s3:ObjectCreated:CompleteMultipartUpload", "images/a/b.jpg", ["images"]),
        ("s3:ObjectCreated:Put", "images/cat.png", []),
        ("s3:ObjectCreated:Put", "queue/cat.jpg", ["queue"]),
        ("s3:ObjectCreated:Put", "other/cat.jpg", []),
        ("s3:ObjectCreated:Put", "images/.jpg", ["images"]),
        ("s3:ObjectCreated:Put", "images.jpg", []),
        ("s3:ObjectCreated:Post", "other/cat.jpg", []),
        ("s3:ObjectCreated:Copy", "copies/x", ["copies"]),
        ("s3:ObjectCreated:Copy", "images/x.jpg", ["images"]),
        ("s3:ObjectRemoved:Delete", "images/cat.jpg", ["removed"]),
        ("s3:ObjectRemoved:DeleteMarkerCreated", "x", []),
        ("s3:ObjectRestore:Post", "images/cat.jpg", []),
    ],
)
def test_destinations_match_events_wildcards_and_filters(event: str, key: str, ids: list[str]) -> None:
    assert [destination.configuration_id for destination in destinations(STORED, event, key)] == ids


def test_destinations_name_their_kind_and_arn() -> None:
    assert destinations(STORED, "s3:ObjectCreated:Put", "queue/x") == [
        Destination("QueueConfigurations", QUEUE, "queue")
    ]
    assert destinations(STORED, "s3:ObjectRemoved:Delete", "x") == [
        Destination("LambdaFunctionConfigurations", OTHER_FUNCTION, "removed")
    ]
    assert destinations({}, "s3:ObjectCreated:Put", "x") == []


def test_a_wildcard_only_covers_its_own_family() -> None:
    stored = normalise({"LambdaFunctionConfigurations": [_function(["s3:ObjectCreated:*"], Id="c")]})
    assert destinations(stored, "s3:ObjectCreatedX:Put", "k") == []
    assert destinations(stored, "s3:ObjectRemoved:Delete", "k") == []
    assert [d.configuration_id for d in destinations(stored, "s3:ObjectCreated:Put", "k")] == ["c"]
