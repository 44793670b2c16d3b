"""Regular expressions that users write and Lamina matches against what others send (API
Gateway's selection patterns and identity validation expressions, CloudFormation's AllowedPattern):
Java's `matches` semantics (the whole text), with a time limit so that a pattern that backtracks
badly costs one request its answer, not the server its event loop (`regex`'s timeout; `re` has
none)."""

from __future__ import annotations

from functools import lru_cache

import regex

__all__ = ["check_pattern", "full_match"]

MATCH_TIMEOUT_S = 0.05
_CACHE = 1024


@lru_cache(maxsize=_CACHE)
def _compiled(pattern: str) -> regex.Pattern[str] | None:
    try:
        return regex.compile(pattern)
    except (regex.error, ValueError, OverflowError, RecursionError):
        return None


def check_pattern(pattern: str) -> str | None:
    """Why `pattern` is not a regular expression, or None when it is."""
    return None if _compiled(pattern) is not None else f"Invalid regular expression: {pattern}"


def full_match(pattern: str, text: str) -> bool:
    """Whether `pattern` matches all of `text`; False for an invalid pattern or one that takes
    longer than MATCH_TIMEOUT_S."""
    compiled = _compiled(pattern)
    if compiled is None:
        return False
    try:
        return compiled.fullmatch(text, timeout=MATCH_TIMEOUT_S) is not None
    except TimeoutError:
        return False
