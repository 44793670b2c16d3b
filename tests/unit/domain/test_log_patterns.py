"""Filter patterns: a table of (pattern, message, matches) drawn from CloudWatch's documented
examples, plus the values metric filters read and the patterns that must be refused."""

from __future__ import annotations

import json

import pytest

from lamina.domain.log_patterns import PatternError, compile_pattern

ACCESS_LOG = '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 404 1534'
EVENT = json.dumps(
    {
        "eventType": "UpdateTrail",
        "level": "ERROR",
        "latency": 250,
        "retry": True,
        "user": {"name": "alice", "id": 7},
        "items": [{"sku": "a1"}, {"sku": "b2"}],
        "nothing": None,
        "code": "200",
    }
)

CASES = [
    # terms
    ("", "anything at all", True),
    ('""', "anything at all", True),
    ("ERROR", "[ERROR] disk full", True),
    ("ERROR", "[error] disk full", False),  # case-sensitive
    ("ERROR disk", "[ERROR] disk full", True),
    ("ERROR memory", "[ERROR] disk full", False),
    ('"disk full"', "[ERROR] disk full", True),
    ('"full disk"', "[ERROR] disk full", False),
    ("ERROR -disk", "[ERROR] disk full", False),
    ("ERROR -memory", "[ERROR] disk full", True),
    ('-"disk full"', "[ERROR] disk full", False),
    ("?ERROR ?WARN", "WARN low memory", True),
    ("?ERROR ?WARN", "INFO fine", False),
    ('?"error: invalid" ?FATAL', "got error: invalid input", True),
    ("%ERR[0-9]+%", "code ERR42 seen", True),
    ("%ERR[0-9]+%", "code ERR seen", False),
    ("-%^DEBUG%", "DEBUG noise", False),
    # JSON
    ('{ $.level = "ERROR" }', EVENT, True),
    ('{ $.level = "WARN" }', EVENT, False),
    ("{ $.eventType = UpdateTrail }", EVENT, True),
    ('{ $.eventType = "*Trail" }', EVENT, True),
    ('{ $.eventType = "Update*" }', EVENT, True),
    ('{ $.eventType = "*Delete*" }', EVENT, False),
    ('{ $.level != "INFO" }', EVENT, True),
    ("{ $.latency > 100 }", EVENT, True),
    ("{ $.latency >= 250 }", EVENT, True),
    ("{ $.latency < 250 }", EVENT, False),
    ("{ $.latency = 250 }", EVENT, True),
    ("{ $.latency != 250 }", EVENT, False),
    ('{ $.level = "ERROR" && $.latency > 100 }', EVENT, True),
    ('{ $.level = "ERROR" && $.latency > 1000 }', EVENT, False),
    ('{ $.level = "INFO" || $.latency > 100 }', EVENT, True),
    ('{ ($.level = "INFO" || $.latency > 100) && $.user.name = "alice" }', EVENT, True),
    ('{ ($.level = "INFO" || $.latency > 1000) && $.user.name = "alice" }', EVENT, False),
    ("{ $.user.id = 7 }", EVENT, True),
    ('{ $.items[1].sku = "b2" }', EVENT, True),
    ('{ $.items[5].sku = "b2" }', EVENT, False),
    ("{ $.retry IS TRUE }", EVENT, True),
    ("{ $.retry IS FALSE }", EVENT, False),
    ("{ $.nothing IS NULL }", EVENT, True),
    ("{ $.level IS NULL }", EVENT, False),
    ("{ $.absent NOT EXISTS }", EVENT, True),
    ("{ $.level NOT EXISTS }", EVENT, False),
    ('{ $.code = "200" }', EVENT, True),
    ("{ $.code = 200 }", EVENT, True),
    ("{ $.level = %ERR.R% }", EVENT, True),
    ("{ $.level > 3 }", EVENT, False),  # a string is not a number
    ('{ $.level = "ERROR" }', "not json ERROR", False),
    ('{ $.level = "ERROR" }', '["ERROR"]', False),
    # space-delimited
    ("[ip, identity, user, timestamp, request, status, bytes]", ACCESS_LOG, True),
    ("[ip, identity, user, timestamp, request, status]", ACCESS_LOG, False),  # field count
    ("[ip, identity, user, timestamp, request, status = 404, bytes]", ACCESS_LOG, True),
    ("[ip, identity, user, timestamp, request, status = 4*, bytes]", ACCESS_LOG, True),
    ("[ip, identity, user, timestamp, request, status = 5*, bytes]", ACCESS_LOG, False),
    ("[ip, identity, user, timestamp, request = *GET*, status, bytes > 1000]", ACCESS_LOG, True),
    ("[ip, identity, user, timestamp, request = *POST*, status, bytes > 1000]", ACCESS_LOG, False),
    ("[ip, identity, user, timestamp, request, status, bytes < 1000]", ACCESS_LOG, False),
    ("[ip = 127.0.0.1, ...]", ACCESS_LOG, True),
    ("[ip = 10.*, ...]", ACCESS_LOG, False),
    ("[..., status = 404, bytes]", ACCESS_LOG, True),
    ("[ip, ..., bytes = 1534]", ACCESS_LOG, True),
    ("[ip, identity, user = frank, ...]", ACCESS_LOG, True),
    ("[ip, identity, user = frank || user = bob, ...]", ACCESS_LOG, True),
    ("[ip, identity, user = alice || user = bob, ...]", ACCESS_LOG, False),
    ("[..., status >= 400 && status < 500, bytes]", ACCESS_LOG, True),
    ('[ip, identity, user, timestamp = "10/Oct/2000:13:25:15 -0700", ...]', ACCESS_LOG, True),
]


@pytest.mark.parametrize(("pattern", "message", "expected"), CASES)
def test_pattern_matches_as_cloudwatch_documents(pattern: str, message: str, expected: bool) -> None:
    assert compile_pattern(pattern).matches(message) is expected


@pytest.mark.parametrize(("pattern", "message", "expected"), [case for case in CASES if case[2]])
def test_required_terms_occur_in_every_match(pattern: str, message: str, expected: bool) -> None:
    """The pre-check a search runs on raw bytes must never drop a matching event."""
    assert all(term in message for term in compile_pattern(pattern).required)


def test_terms_patterns_expose_their_required_terms() -> None:
    assert compile_pattern('ERROR "disk full" -noise ?a').required == ("ERROR", "disk full")


def test_metric_values_come_from_json_selectors_and_named_fields() -> None:
    assert compile_pattern('{ $.level = "ERROR" }').value(EVENT, "$.latency") == 250
    assert compile_pattern('{ $.level = "ERROR" }').value(EVENT, "$.user.name") == "alice"
    assert compile_pattern('{ $.level = "ERROR" }').value(EVENT, "$.missing") is None
    delimited = compile_pattern("[ip, identity, user, timestamp, request, status, bytes]")
    assert delimited.value(ACCESS_LOG, "$bytes") == "1534"
    assert delimited.value(ACCESS_LOG, "$request") == "GET /apache_pb.gif HTTP/1.0"


@pytest.mark.parametrize(
    "pattern",
    [
        "{ $.level = }",
        "{ level = 1 }",
        "{ $.a = 1",
        "{ $.a > abc }",
        "{ $.a IS MAYBE }",
        "{ ($.a = 1 }",
        "[a, , b]",
        "[a, ..., b, ...]",
        "[a, b",
        'bad"quote',
        "%[unclosed%",
        "%(a+)+$%",  # exponential backtracking would stall the server
        "%(x*)*y%",
        "%(\\d+)\\1%",
        "%foo(?=bar)%",
        "%" + "a" * 300 + "%",
        '{ $.a = "\\q" }',  # an escape JSON does not have
        '{ $.a = "\\u12" }',
    ],
)
def test_invalid_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(PatternError):
        compile_pattern(pattern)


def test_a_control_character_in_a_quoted_value_stands_for_itself() -> None:
    pattern = compile_pattern('{ $.a = "x\x00y" }')
    assert pattern.matches('{"a": "x\\u0000y"}') and not pattern.matches('{"a": "xy"}')
