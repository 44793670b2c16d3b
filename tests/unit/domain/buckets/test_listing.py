"""Listing rules: prefix ranges in UTF-8 byte order, common prefixes, continuation tokens."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.domain.buckets.listing import (
    after_common_prefix,
    common_prefix_of,
    continuation_token,
    marker_of_token,
    prefix_end,
)
from lamina.errors import AwsError

# Characters at the edges prefix_end has to step over: the last code point, the surrogate gap.
EDGES = ["\x00", "a", "b", "z", "\x7f", "\x80", "\ud7ff", "\ue000", "\uffff", "\U00010000", "\U0010ffff"]
# Strings as keys can be: any code point but the surrogates (not UTF-8).
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=6)
EDGY_TEXT = st.text(st.sampled_from(EDGES), max_size=5)
ANY_TEXT = st.one_of(TEXT, EDGY_TEXT)


def _brute_force_end(prefix: str) -> str | None:
    """The least string not starting with `prefix` that is above it, found the slow way: every
    string above all of `prefix`'s extensions differs from `prefix` at some position i, having a
    greater character there; the least such is prefix[:i] + the next code point."""
    candidates = []
    for index in range(len(prefix)):
        for code in range(ord(prefix[index]) + 1, 0x110000):
            if not 0xD800 <= code < 0xE000:
                candidates.append(prefix[:index] + chr(code))
                break
    return min(candidates) if candidates else None


def _utf8_key(value: str) -> bytes:
    return value.encode("utf-8")


@settings(max_examples=300, deadline=None, database=None)
@given(prefix=ANY_TEXT)
def test_prefix_end_matches_a_brute_force_search(prefix: str) -> None:
    assert prefix_end(prefix) == _brute_force_end(prefix)


@settings(max_examples=500, deadline=None, database=None)
@given(prefix=ANY_TEXT, key=ANY_TEXT, suffix=ANY_TEXT)
def test_a_key_starts_with_the_prefix_exactly_when_it_is_in_the_range(
    prefix: str, key: str, suffix: str
) -> None:
    end = prefix_end(prefix)
    for candidate in (key, prefix + suffix, prefix[: len(prefix) // 2] + key):
        in_range = _utf8_key(prefix) <= _utf8_key(candidate) and (
            end is None or _utf8_key(candidate) < _utf8_key(end)
        )
        assert candidate.startswith(prefix) == in_range, (prefix, candidate, end)
    if end is not None:
        assert not end.startswith(prefix)
        assert _utf8_key(end) > _utf8_key(prefix + suffix)


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        ("", None),
        ("a", "b"),
        ("photos/", "photos0"),
        ("az", "a{"),
        ("a\U0010ffff", "b"),
        ("\U0010ffff", None),
        ("\U0010ffff\U0010ffff", None),
        ("\ud7ff", "\ue000"),  # steps over the surrogates
        ("é", "ê"),
    ],
)
def test_prefix_end_examples(prefix: str, end: str | None) -> None:
    assert prefix_end(prefix) == end


def test_after_common_prefix_is_past_every_key_under_it() -> None:
    assert after_common_prefix("a/") == "a0"
    marker = after_common_prefix("\U0010ffff")
    for key in ("\U0010ffff", "\U0010ffff/x", "\U0010ffff\U0010ffff\U0010ffff"):
        assert _utf8_key(key) <= _utf8_key(marker)


@pytest.mark.parametrize(
    ("key", "prefix", "delimiter", "common"),
    [
        ("a/b/c", "", "/", "a/"),
        ("a/b/c", "a/", "/", "a/b/"),
        ("a/b", "a/", "/", None),
        ("a", "", "/", None),
        ("a/b/c", "", None, None),
        ("a/b/c", "", "", None),
        ("photos/2024/x.jpg", "photos/20", "/", "photos/2024/"),
        ("a--b--c", "", "--", "a--"),
        ("a/b", "a", "/", "a/"),  # the delimiter right after the prefix
        ("/lead", "", "/", "/"),
        ("x/y", "x/", "x", None),  # only the part after the prefix is searched
        ("é/ä", "", "/", "é/"),
    ],
)
def test_common_prefix_of(key: str, prefix: str, delimiter: str | None, common: str | None) -> None:
    assert common_prefix_of(key, prefix, delimiter) == common


@settings(max_examples=200, deadline=None, database=None)
@given(marker=ANY_TEXT)
def test_continuation_tokens_round_trip(marker: str) -> None:
    token = continuation_token(marker)
    assert token.isascii() and "/" not in token and "+" not in token
    assert marker_of_token(token) == marker


@pytest.mark.parametrize("token", ["%%%", "a", "gA==", "\u00e9", "////"])
def test_a_garbage_token_is_an_invalid_argument(token: str) -> None:
    with pytest.raises(AwsError) as caught:
        marker_of_token(token)
    assert (caught.value.code, caught.value.status) == ("InvalidArgument", 400)
    assert caught.value.extra == {"ArgumentName": "continuation-token", "ArgumentValue": token}
