"""A target's input from an event: the whole event, Input, InputPath, InputTransformer (EventBridge
user guide, "Transforming target input")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lamina.domain.events.target_input import MISSING, check_target_input, render_input, select

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "e-1",
    "detail-type": "order",
    "source": "shop",
    "resources": ["arn:one", "arn:two"],
    "detail": {"id": "o-1", "total": 250.5, "items": [{"sku": "a"}], "note": 'say "hi"\n', "with space": 1},
}
RULE = "arn:aws:events:us-east-1:000000000000:rule/r"


def render(target: dict[str, Any]) -> Any:
    return json.loads(render_input(target, EVENT, RULE, "r", "2026-12-05T10:00:00Z"))


def test_select_follows_simple_json_paths() -> None:
    assert select(EVENT, "$") is EVENT
    assert select(EVENT, "$.detail.id") == "o-1"
    assert select(EVENT, "$.resources[1]") == "arn:two"
    assert select(EVENT, "$.detail.items[0].sku") == "a"
    assert select(EVENT, "$.detail['with space']") == 1
    assert select(EVENT, "$.detail-type") == "order"
    assert select(EVENT, "$.detail.nope") is MISSING
    assert select(EVENT, "$.resources[5]") is MISSING
    assert select(EVENT, "$.detail.id.deeper") is MISSING
    with pytest.raises(ValueError):
        select(EVENT, "detail.id")
    with pytest.raises(ValueError):
        select(EVENT, "$..id")


def test_the_whole_event_input_and_input_path() -> None:
    assert render({"Id": "t", "Arn": "a"}) == EVENT
    assert render({"Id": "t", "Arn": "a", "Input": '{"fixed": true}'}) == {"fixed": True}
    assert render({"Id": "t", "Arn": "a", "InputPath": "$.detail.items"}) == [{"sku": "a"}]
    assert render({"Id": "t", "Arn": "a", "InputPath": "$.detail.nope"}) is None


def test_a_template_places_text_inside_quotes_and_json_outside() -> None:
    transformer = {
        "InputPathsMap": {
            "id": "$.detail.id",
            "total": "$.detail.total",
            "note": "$.detail.note",
            "items": "$.detail.items",
            "gone": "$.nope",
        },
        "InputTemplate": (
            '{"line": "order <id> for <total>: <note>", "total": <total>, "items": <items>, '
            '"gone": <gone>, "gone_text": "[<gone>]", "id": <id>, "rule": "<aws.events.rule-name>", '
            '"arn": <aws.events.rule-arn>, "event": <aws.events.event>, "at": <aws.events.event.ingestion-time>, '
            '"not_a_variable": "<unknown> and \\"<id>\\""}'
        ),
    }
    assert render({"Id": "t", "Arn": "a", "InputTransformer": transformer}) == {
        "line": 'order o-1 for 250.5: say "hi"\n',
        "total": 250.5,
        "items": [{"sku": "a"}],
        "gone": None,
        "gone_text": "[]",
        "id": "o-1",
        "rule": "r",
        "arn": RULE,
        "event": EVENT,
        "at": "2026-12-05T10:00:00Z",
        "not_a_variable": '<unknown> and "o-1"',
    }


def test_a_plain_string_template() -> None:
    transformer = {"InputPathsMap": {"id": "$.detail.id"}, "InputTemplate": '"Order <id> arrived"'}
    assert render({"Id": "t", "Arn": "a", "InputTransformer": transformer}) == "Order o-1 arrived"


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ({"Input": "{}", "InputPath": "$"}, "Only one of"),
        ({"Input": "not json"}, "Parameter Input is not valid."),
        ({"InputPath": "detail"}, "Parameter InputPath is not valid."),
        (
            {"InputTransformer": {"InputPathsMap": {"x": "nope"}, "InputTemplate": "<x>"}},
            "not a valid JSONPath",
        ),
        ({"InputTransformer": {"InputPathsMap": {"aws.x": "$"}, "InputTemplate": "<x>"}}, "reserved"),
        (
            {"InputTransformer": {"InputPathsMap": {f"v{i}": "$" for i in range(101)}, "InputTemplate": "1"}},
            "100",
        ),
    ],
)
def test_refused_input_settings(target: dict[str, Any], reason: str) -> None:
    problem = check_target_input({"Id": "t", "Arn": "a", **target})
    assert problem is not None and reason in problem


def test_accepted_input_settings() -> None:
    assert check_target_input({"Id": "t", "Arn": "a"}) is None
    assert check_target_input({"Id": "t", "Arn": "a", "InputPath": "$.detail['a b'][0]"}) is None
