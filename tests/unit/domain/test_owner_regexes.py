"""Owner-written regular expressions matched against caller input, with a time limit."""

from __future__ import annotations

import time

from lamina.domain.owner_regexes import check_pattern, full_match


def test_whole_text_matches_as_java_matches() -> None:
    assert full_match("Not Found: .*", "Not Found: x")
    assert not full_match("Not Found", "Not Found: x")
    assert full_match(r"2\d{2}", "201")


def test_an_invalid_pattern_matches_nothing_and_is_refused_when_set() -> None:
    assert not full_match("((", "((")
    assert check_pattern("((") is not None
    assert check_pattern("[a-z]+") is None


def test_catastrophic_backtracking_is_bounded() -> None:
    started = time.perf_counter()
    assert not full_match("^(a+)+$", "a" * 40 + "b")
    assert not full_match("(x+x+)+y", "x" * 5000)
    assert time.perf_counter() - started < 2
