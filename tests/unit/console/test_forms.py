"""Where a refused form's message goes, the KEY=VALUE fields, and the pricing calculator's sums."""

from __future__ import annotations

import pytest

from lamina.console.inline_errors import FORM, place_error
from lamina.console.pages.configuration import FormProblem, _pairs
from lamina.console.pages.overview import _calculator
from lamina.errors import AwsError

FIELDS = {"memory": ("MemorySize",), "timeout": ("Timeout",), "role": ("Role", "assumed")}


def test_an_error_goes_to_the_field_its_message_names() -> None:
    error = AwsError(
        "ValidationException",
        "1 validation error detected: Value '100' at 'memorySize' failed to satisfy constraint",
        400,
    )
    assert place_error(error, FIELDS) == {"memory": f"ValidationException: {error.message}"}
    role = AwsError(
        "InvalidParameterValueException",
        "The role defined for the function cannot be assumed by Lambda.",
        400,
    )
    assert list(place_error(role, FIELDS)) == ["role"]
    other = AwsError("ServiceException", "Something else", 500)
    assert place_error(other, FIELDS) == {FORM: "ServiceException: Something else"}


def test_key_value_lines() -> None:
    assert _pairs("A=1\r\n\nB = two=2\n", "f", "Tags") == {"A": "1", "B": " two=2"}
    with pytest.raises(FormProblem, match="Line 2 is not KEY=VALUE"):
        _pairs("A=1\nnope", "f", "Tags")
    with pytest.raises(FormProblem, match="Line 1 is not KEY=VALUE"):
        _pairs("=value", "f", "Tags")


def test_the_calculator_bills_whole_milliseconds_and_knows_the_free_tier() -> None:
    estimate, errors = _calculator({"memory": "1024", "duration": "0.4", "invocations": "2000000"})
    assert errors == {}
    assert estimate is not None
    assert estimate["gb_seconds"] == pytest.approx(2000.0)  # 0.4 ms is billed as 1 ms
    assert estimate["total"] == pytest.approx(0.40 + 2000 * 0.0000166667)
    assert estimate["with_free_tier"] == pytest.approx(0.20)  # 1M requests over the free tier
    _, errors = _calculator({"memory": "64", "duration": "x", "invocations": "-1"})
    assert errors == {
        "memory": "Memory (MB) must be from 128 to 10,240.",
        "duration": "Average duration (ms) must be a number.",
        "invocations": "Invocations a month must be from 0 to 1,000,000,000,000.",
    }


def test_a_dead_lettered_message_gives_back_its_event() -> None:
    from lamina.console.pages.replay import _event_of

    assert _event_of('{"n": 7}') == '{"n": 7}'  # a dead-letter queue holds the event itself
    record = '{"version": "1.0", "requestContext": {"requestId": "r"}, "requestPayload": {"n": 7}}'
    assert _event_of(record) == '{"n": 7}'  # an on-failure destination, an invocation record
    assert _event_of("not json") == "not json"
