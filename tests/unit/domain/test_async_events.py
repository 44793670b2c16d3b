"""Queued events, their retry arithmetic, destination records, and recursion lineage."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from lamina.domain.async_events import (
    EventInvokeConfig,
    QueuedEvent,
    default_invoke_config,
    destination_record,
)
from lamina.domain.recursion import MAX_CHAIN_DEPTH, chain_depth, is_recursive_loop, trace_for_invocation


def event(**changes: object) -> QueuedEvent:
    values: dict[str, object] = {
        "event_id": "id-1",
        "function_name": "f",
        "qualifier": None,
        "payload": b'{"a": 1}',
        "enqueued_at_ms": 1_000,
    }
    values.update(changes)
    return QueuedEvent(**values)  # type: ignore[arg-type]


def test_records_round_trip_with_binary_payloads() -> None:
    original = event(payload=b"\x00\xffnot json", qualifier="live", client_context="{}", runs=2)
    assert QueuedEvent.from_record(json.loads(json.dumps(original.to_record()))) == original


def test_retry_delays_follow_the_runs() -> None:
    first = event().after_run(10_000, (60.0, 120.0))
    assert (first.runs, first.next_attempt_at_ms) == (1, 70_000)
    second = first.after_run(20_000, (60.0, 120.0))
    assert (second.runs, second.next_attempt_at_ms) == (2, 140_000)
    third = second.after_run(0, (60.0, 120.0))
    assert third.next_attempt_at_ms == 120_000  # the last delay repeats


def test_throttle_backoff_doubles_up_to_its_ceiling() -> None:
    delays = []
    current = event()
    for _ in range(12):
        current = current.postponed(0, 1.0, 300.0)
        delays.append(current.next_attempt_at_ms / 1000)
    assert delays[:4] == [1.0, 2.0, 4.0, 8.0]
    assert delays[-1] == 300.0 and current.runs == 0


def test_destination_record_shape() -> None:
    record = json.loads(
        destination_record(
            event(runs=3),
            "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST",
            "RetriesExhausted",
            status_code=200,
            executed_version="$LATEST",
            function_error="Unhandled",
            response_payload=b'{"errorMessage": "boom"}',
            now=datetime(2026, 11, 30, 1, 2, 3, 456000, tzinfo=UTC),
        )
    )
    assert record == {
        "version": "1.0",
        "timestamp": "2026-11-30T01:02:03.456Z",
        "requestContext": {
            "requestId": "id-1",
            "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {"a": 1},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "boom"},
    }


def test_a_non_json_payload_is_recorded_as_text() -> None:
    record = json.loads(
        destination_record(
            event(payload=b"plain"),
            "arn",
            "EventAgeExceeded",
            status_code=None,
            executed_version=None,
            function_error=None,
            response_payload=None,
        )
    )
    assert record["requestPayload"] == "plain" and "responsePayload" not in record


def test_a_first_call_starts_a_chain_and_calls_from_inside_go_one_deeper() -> None:
    first, depth = trace_for_invocation(None)
    assert depth == 1 and first.startswith("Root=1-") and ";Lineage=" in first
    chain, _ = chain_depth(first)
    second, depth = trace_for_invocation(first)
    assert depth == 2
    assert chain_depth(second) == (chain, 2)
    assert second.split(";")[0] == first.split(";")[0]  # the same Root


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, (None, 0)),
        ("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1", (None, 0)),
        ("Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=abcd0123:7", ("abcd0123", 7)),
    ],
)
def test_chain_depth(header: str | None, expected: tuple[str | None, int]) -> None:
    assert chain_depth(header) == expected


def test_only_terminate_stops_and_only_past_the_limit() -> None:
    assert not is_recursive_loop(MAX_CHAIN_DEPTH, "Terminate")
    assert is_recursive_loop(MAX_CHAIN_DEPTH + 1, "Terminate")
    assert not is_recursive_loop(MAX_CHAIN_DEPTH + 50, "Allow")


def test_an_event_invoke_config_shows_only_what_was_set_and_both_destinations() -> None:
    arn = "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST"
    fresh = default_invoke_config("f", "$LATEST")
    assert fresh.to_api(arn) == {
        "LastModified": 0.0,
        "FunctionArn": arn,
        "DestinationConfig": {"OnFailure": {}, "OnSuccess": {}},
    }
    stored = EventInvokeConfig(
        "f", "$LATEST", 1, 60, on_failure="arn:x", last_modified=2.0, max_age_given=False
    )
    restored = EventInvokeConfig.from_record(stored.to_record())
    assert restored == stored
    assert restored.to_api(arn)["DestinationConfig"] == {
        "OnFailure": {"Destination": "arn:x"},
        "OnSuccess": {},
    }
    assert "MaximumEventAgeInSeconds" not in restored.to_api(arn)
    # A record from before the flags existed shows both fields, as it always did.
    old = {key: value for key, value in stored.to_record().items() if not key.endswith("_given")}
    assert EventInvokeConfig.from_record(old).to_api(arn)["MaximumEventAgeInSeconds"] == 60
