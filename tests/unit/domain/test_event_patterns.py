"""Event filter patterns as Lambda event filtering and EventBridge event patterns define them:
literals, arrays in events, nesting, the content-filter matchers, `$or`, and the patterns AWS
rejects as invalid."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lamina.domain.event_patterns import MAX_PATTERN_BYTES, InvalidPattern, parse_pattern


def matches(pattern: dict[str, Any], event: Any) -> bool:
    return parse_pattern(json.dumps(pattern)).matches(event)


# --------------------------------------------------------------------------- literals


def test_string_literals_match_exactly_and_case_sensitively() -> None:
    pattern = {"source": ["aws.ec2"]}
    assert matches(pattern, {"source": "aws.ec2"})
    assert not matches(pattern, {"source": "AWS.EC2"})
    assert not matches(pattern, {"source": "aws.ec2 "})
    assert not matches(pattern, {"other": "aws.ec2"})


def test_values_in_a_list_are_ored() -> None:
    pattern = {"source": ["aws.ec2", "aws.fargate"]}
    assert matches(pattern, {"source": "aws.fargate"})
    assert matches(pattern, {"source": "aws.ec2"})
    assert not matches(pattern, {"source": "aws.s3"})


def test_numbers_compare_numerically() -> None:
    assert matches({"n": [1]}, {"n": 1.0})
    assert matches({"n": [1.0]}, {"n": 1})
    assert matches({"n": [300]}, {"n": 3.0e2})
    assert not matches({"n": [1]}, {"n": 2})
    # A number never matches its text, nor a text its number.
    assert not matches({"n": [1]}, {"n": "1"})
    assert not matches({"n": ["1"]}, {"n": 1})


def test_booleans_are_not_numbers() -> None:
    assert matches({"b": [True]}, {"b": True})
    assert not matches({"b": [True]}, {"b": False})
    assert not matches({"b": [True]}, {"b": 1})
    assert not matches({"b": [1]}, {"b": True})
    assert not matches({"b": [False]}, {"b": 0})
    assert not matches({"b": [True]}, {"b": "true"})


def test_null_matches_null_only_not_a_missing_field_or_empty_string() -> None:
    pattern = {"detail": {"responseElements": [None]}}
    assert matches(pattern, {"detail": {"responseElements": None}})
    assert not matches(pattern, {"detail": {}})
    assert not matches(pattern, {"detail": {"responseElements": ""}})
    # EventBridge: "Null values and empty strings are not interchangeable".
    assert not matches({"v": [""]}, {"v": None})
    assert matches({"v": [""]}, {"v": ""})


def test_an_array_in_the_event_matches_when_any_element_does() -> None:
    pattern = {"resources": ["arn:a"]}
    assert matches(pattern, {"resources": ["arn:b", "arn:a"]})
    assert not matches(pattern, {"resources": ["arn:b", "arn:c"]})
    assert not matches(pattern, {"resources": []})
    assert matches({"n": [{"numeric": [">", 5]}]}, {"n": [1, 2, 7]})


def test_nested_objects_follow_the_events_structure() -> None:
    pattern = {"detail": {"state": ["terminated"], "instance": {"type": ["t3.micro"]}}}
    event = {"detail": {"state": "terminated", "instance": {"type": "t3.micro"}}, "extra": 1}
    assert matches(pattern, event)
    assert not matches(pattern, {"detail": {"state": "terminated"}})
    assert not matches(pattern, {"detail": {"state": "terminated", "instance": "t3.micro"}})
    assert not matches(pattern, {"state": "terminated", "instance": {"type": "t3.micro"}})
    assert not matches(pattern, {})


def test_a_nested_pattern_matches_an_array_of_objects_when_any_object_does() -> None:
    pattern = {"items": {"kind": ["b"]}}
    assert matches(pattern, {"items": [{"kind": "a"}, {"kind": "b"}]})
    assert not matches(pattern, {"items": [{"kind": "a"}, {"kind": "c"}]})


def test_fields_are_anded() -> None:
    pattern = {"a": ["x"], "b": [{"numeric": [">", 1]}], "c": {"d": [True]}}
    assert matches(pattern, {"a": "x", "b": 2, "c": {"d": True}})
    assert not matches(pattern, {"a": "x", "b": 2, "c": {"d": False}})
    assert not matches(pattern, {"a": "x", "b": 1, "c": {"d": True}})
    assert not matches(pattern, {"a": "y", "b": 2, "c": {"d": True}})
    assert not matches(pattern, {"b": 2, "c": {"d": True}})


def test_an_empty_pattern_matches_every_object() -> None:
    assert matches({}, {"anything": 1})
    assert matches({}, {})


def test_a_non_object_event_matches_no_field() -> None:
    assert not matches({"a": ["x"]}, "x")
    assert not matches({"a": ["x"]}, ["x"])
    assert not matches({"a": ["x"]}, None)


# --------------------------------------------------------------------------- content filters


def test_prefix() -> None:
    pattern = {"region": [{"prefix": "us-"}]}
    assert matches(pattern, {"region": "us-east-1"})
    assert matches(pattern, {"region": "us-"})
    assert not matches(pattern, {"region": "eu-west-1"})
    assert not matches(pattern, {"region": "US-east-1"})
    assert not matches(pattern, {"region": 5})
    assert not matches(pattern, {})
    assert matches({"region": [{"prefix": ""}]}, {"region": "anything"})


def test_suffix() -> None:
    pattern = {"key": [{"suffix": ".png"}]}
    assert matches(pattern, {"key": "images/cat.png"})
    assert not matches(pattern, {"key": "images/cat.PNG"})
    assert not matches(pattern, {"key": "images/cat.png.txt"})
    assert not matches(pattern, {"key": None})


def test_equals_ignore_case() -> None:
    pattern = {"name": [{"equals-ignore-case": "Alice"}]}
    assert matches(pattern, {"name": "alice"})
    assert matches(pattern, {"name": "ALICE"})
    assert not matches(pattern, {"name": "alice "})
    assert not matches(pattern, {"name": "alicia"})
    assert matches(pattern, {"name": ["bob", "ALICE"]})


def test_prefix_and_suffix_with_equals_ignore_case() -> None:
    prefix = {"file": [{"prefix": {"equals-ignore-case": "IMG_"}}]}
    assert matches(prefix, {"file": "img_001.jpg"})
    assert matches(prefix, {"file": "Img_001.jpg"})
    assert not matches(prefix, {"file": "photo_img_001.jpg"})
    suffix = {"file": [{"suffix": {"equals-ignore-case": ".JPG"}}]}
    assert matches(suffix, {"file": "img_001.jpg"})
    assert not matches(suffix, {"file": "img_001.png"})


def test_anything_but_a_single_value() -> None:
    pattern = {"state": [{"anything-but": "initializing"}]}
    assert matches(pattern, {"state": "running"})
    assert not matches(pattern, {"state": "initializing"})
    # Like every matcher but `exists`, anything-but needs the field to be there.
    assert not matches(pattern, {})
    numeric = {"code": [{"anything-but": 200}]}
    assert matches(numeric, {"code": 404})
    assert not matches(numeric, {"code": 200.0})


def test_anything_but_a_list() -> None:
    pattern = {"state": [{"anything-but": ["stopped", "overloaded"]}]}
    assert matches(pattern, {"state": "running"})
    assert not matches(pattern, {"state": "stopped"})
    assert not matches(pattern, {"state": "overloaded"})
    numbers = {"x": [{"anything-but": [100, 200]}]}
    assert matches(numbers, {"x": 300})
    assert not matches(numbers, {"x": 100})


def test_anything_but_a_prefix_or_suffix() -> None:
    prefix = {"state": [{"anything-but": {"prefix": "init"}}]}
    assert matches(prefix, {"state": "running"})
    assert not matches(prefix, {"state": "initializing"})
    suffix = {"key": [{"anything-but": {"suffix": ".txt"}}]}
    assert matches(suffix, {"key": "a.png"})
    assert not matches(suffix, {"key": "a.txt"})
    ignore_case = {"key": [{"anything-but": {"equals-ignore-case": "Bad"}}]}
    assert matches(ignore_case, {"key": "good"})
    assert not matches(ignore_case, {"key": "BAD"})


def test_numeric_single_comparisons_and_boundaries() -> None:
    cases: dict[str, list[tuple[float, bool]]] = {
        "=": [(100, True), (100.0, True), (99, False), (101, False)],
        "<": [(99.999, True), (100, False), (101, False)],
        "<=": [(99, True), (100, True), (100.001, False)],
        ">": [(100, False), (100.5, True), (99, False)],
        ">=": [(100, True), (99.99, False), (1e6, True)],
    }
    for operator, values in cases.items():
        pattern = {"n": [{"numeric": [operator, 100]}]}
        for value, expected in values:
            assert matches(pattern, {"n": value}) is expected, (operator, value)


def test_numeric_ranges() -> None:
    pattern = {"price": [{"numeric": [">", 0, "<=", 5]}]}
    assert matches(pattern, {"price": 5})
    assert matches(pattern, {"price": 0.0001})
    assert not matches(pattern, {"price": 0})
    assert not matches(pattern, {"price": 5.0001})
    assert not matches(pattern, {"price": -1})
    closed = {"n": [{"numeric": [">=", -10, "<", 10]}]}
    assert matches(closed, {"n": -10})
    assert not matches(closed, {"n": 10})


def test_numeric_never_matches_non_numbers() -> None:
    pattern = {"n": [{"numeric": [">", 0]}]}
    assert not matches(pattern, {"n": "5"})
    assert not matches(pattern, {"n": True})
    assert not matches(pattern, {"n": None})
    assert not matches(pattern, {})


def test_exists_true_and_false() -> None:
    present = {"c": [{"exists": True}]}
    absent = {"c": [{"exists": False}]}
    for event in ({"c": "x"}, {"c": 0}, {"c": ""}, {"c": {"nested": 1}}):
        assert matches(present, event)
        assert not matches(absent, event)
    assert not matches(present, {"other": 1})
    assert matches(absent, {"other": 1})
    assert matches(absent, {})


def test_exists_counts_a_present_null_as_present() -> None:
    # EventBridge: exists matching looks at the presence of the field, not its value.
    assert matches({"c": [{"exists": True}]}, {"c": None})
    assert not matches({"c": [{"exists": False}]}, {"c": None})


def test_exists_in_a_nested_object() -> None:
    pattern = {"detail": {"c-count": [{"exists": False}]}}
    assert matches(pattern, {"detail": {"d-count": 3}})
    assert not matches(pattern, {"detail": {"c-count": 3}})
    assert matches({"detail": {"c-count": [{"exists": True}]}}, {"detail": {"c-count": 3}})


def test_exists_or_a_literal() -> None:
    pattern = {"c": ["x", {"exists": False}]}
    assert matches(pattern, {"c": "x"})
    assert matches(pattern, {})
    assert not matches(pattern, {"c": "y"})


def test_wildcard() -> None:
    pattern = {"key": [{"wildcard": "dir/*.png"}]}
    assert matches(pattern, {"key": "dir/a.png"})
    assert matches(pattern, {"key": "dir/.png"})
    assert matches(pattern, {"key": "dir/sub/a.png"})
    assert not matches(pattern, {"key": "dir/a.png.txt"})
    assert not matches(pattern, {"key": "other/a.png"})
    assert not matches(pattern, {"key": 5})
    assert matches({"key": [{"wildcard": "a*b*c"}]}, {"key": "axxbyyc"})
    # Regular-expression characters are literal.
    assert matches({"key": [{"wildcard": "a.b*"}]}, {"key": "a.bc"})
    assert not matches({"key": [{"wildcard": "a.b*"}]}, {"key": "axbc"})
    assert matches({"key": [{"wildcard": "*"}]}, {"key": ""})


def test_cidr() -> None:
    pattern = {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}
    assert matches(pattern, {"sourceIPAddress": "10.0.0.255"})
    assert matches(pattern, {"sourceIPAddress": "10.0.0.0"})
    assert not matches(pattern, {"sourceIPAddress": "10.0.1.0"})
    assert not matches(pattern, {"sourceIPAddress": "not an address"})
    assert not matches(pattern, {"sourceIPAddress": 10})
    assert matches({"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": "2001:db8::1"})
    assert not matches({"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": "2001:db9::1"})


def test_or_at_the_top_level() -> None:
    pattern = {"$or": [{"a": ["x"]}, {"b": [{"numeric": [">", 10]}]}]}
    assert matches(pattern, {"a": "x"})
    assert matches(pattern, {"b": 11})
    assert matches(pattern, {"a": "x", "b": 0})
    assert not matches(pattern, {"a": "y", "b": 10})
    assert not matches(pattern, {})


def test_or_is_anded_with_the_other_fields_and_works_nested() -> None:
    pattern = {"source": ["s"], "detail": {"$or": [{"c": [1]}, {"d": [2]}]}}
    assert matches(pattern, {"source": "s", "detail": {"c": 1}})
    assert matches(pattern, {"source": "s", "detail": {"d": 2}})
    assert not matches(pattern, {"source": "t", "detail": {"c": 1}})
    assert not matches(pattern, {"source": "s", "detail": {"c": 2}})


# --------------------------------------------------------------------------- invalid patterns


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '"a"',
        "1",
        "null",
        '{"a": []}',
        '{"a": "x"}',
        '{"a": 1}',
        '{"a": null}',
        '{"a": [["x"]]}',
        '{"a": [{"unknown": "x"}]}',
        '{"a": [{"prefix": "x", "suffix": "y"}]}',
        '{"a": [{}]}',
        '{"a": [{"prefix": 5}]}',
        '{"a": [{"suffix": null}]}',
        '{"a": [{"wildcard": {"equals-ignore-case": "x"}}]}',
        '{"a": [{"equals-ignore-case": 1}]}',
        '{"a": [{"exists": "true"}]}',
        '{"a": [{"exists": 1}]}',
        '{"a": [{"numeric": [">", "5"]}]}',
        '{"a": [{"numeric": [">", true]}]}',
        '{"a": [{"numeric": [">", null]}]}',
        '{"a": [{"numeric": [">"]}]}',
        '{"a": [{"numeric": [">", 1, "<"]}]}',
        '{"a": [{"numeric": ["!=", 1]}]}',
        '{"a": [{"numeric": 5}]}',
        '{"a": [{"anything-but": []}]}',
        '{"a": [{"anything-but": {"wildcard": "x"}}]}',
        '{"a": [{"anything-but": {"prefix": "x", "suffix": "y"}}]}',
        '{"a": [{"anything-but": {}}]}',
        '{"a": [{"cidr": 10}]}',
        '{"$or": [{"a": ["x"]}]}',
        '{"$or": []}',
        '{"$or": {"a": ["x"]}}',
        '{"$or": [{"a": ["x"]}, "b"]}',
        '{"$or": [{"a": ["x"]}, {"b": []}]}',
        '{"a": {"b": []}}',
    ],
)
def test_invalid_patterns_are_rejected(text: str) -> None:
    with pytest.raises(InvalidPattern):
        parse_pattern(text)


def test_a_pattern_over_4096_bytes_is_rejected() -> None:
    def sized(size: int) -> str:
        head, tail = '{"a": ["', '"]}'
        return head + "x" * (size - len(head) - len(tail)) + tail

    assert MAX_PATTERN_BYTES == 4096
    assert parse_pattern(sized(4096)).matches({"a": "x" * (4096 - 11)})
    with pytest.raises(InvalidPattern):
        parse_pattern(sized(4097))
    # Bytes, not characters: 2,000 two-byte characters make over 4,000 bytes.
    with pytest.raises(InvalidPattern):
        parse_pattern('{"a": ["' + "é" * 2100 + '"]}')


def test_valid_patterns_of_every_kind_parse() -> None:
    text = json.dumps(
        {
            "a": ["x", 1, 1.5, True, None],
            "b": [{"prefix": "p"}, {"suffix": "s"}, {"equals-ignore-case": "E"}],
            "c": [{"prefix": {"equals-ignore-case": "P"}}, {"suffix": {"equals-ignore-case": "S"}}],
            "d": [{"anything-but": "x"}, {"anything-but": ["x", 1]}, {"anything-but": {"prefix": "p"}}],
            "e": [{"numeric": [">", 0, "<=", 5]}, {"numeric": ["=", 3]}],
            "f": [{"exists": True}, {"wildcard": "*x*"}, {"cidr": "10.0.0.0/8"}],
            "$or": [{"g": ["1"]}, {"h": {"i": ["2"]}}],
        }
    )
    pattern = parse_pattern(text)
    assert pattern.document == json.loads(text)


# --------------------------------------------------------------------------- properties

texts = st.text(max_size=30)


@given(texts, texts)
def test_prefix_agrees_with_startswith(operand: str, value: str) -> None:
    assert matches({"k": [{"prefix": operand}]}, {"k": value}) is value.startswith(operand)


@given(texts, texts)
def test_suffix_agrees_with_endswith(operand: str, value: str) -> None:
    assert matches({"k": [{"suffix": operand}]}, {"k": value}) is value.endswith(operand)


@given(texts, texts)
def test_a_string_literal_agrees_with_equality(operand: str, value: str) -> None:
    assert matches({"k": [operand]}, {"k": value}) is (operand == value)
    assert matches({"k": [{"anything-but": operand}]}, {"k": value}) is (operand != value)


@given(texts)
def test_a_wildcard_without_stars_is_an_exact_match(value: str) -> None:
    literal = value.replace("*", "")
    assert matches({"k": [{"wildcard": literal}]}, {"k": literal})
    assert matches({"k": [{"wildcard": "*"}]}, {"k": value})


@given(
    st.one_of(st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6, allow_nan=False)),
    st.integers(-100, 100),
    st.integers(-100, 100),
)
def test_numeric_ranges_agree_with_python_comparisons(value: float, low: int, high: int) -> None:
    pattern = {"n": [{"numeric": [">=", low, "<", high]}]}
    assert matches(pattern, {"n": value}) is (low <= value < high)


@given(st.integers(-(10**9), 10**9))
def test_integers_match_their_float_form(value: int) -> None:
    assert matches({"n": [value]}, {"n": float(value)})
    assert matches({"n": [float(value)]}, {"n": value})
