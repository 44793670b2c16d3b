"""Wildcards and policy variables, as IAM applies them to actions, resources and condition values.

`*` matches any run of characters and `?` any one character; actions match without regard to case,
ARNs and strings with it. Policy variables (`${aws:username}`, with an optional default as in
`${aws:PrincipalTag/team, 'none'}`) are replaced from the request context; `${*}`, `${?}` and `${$}`
stand for the literal characters. A variable the request does not have makes the pattern match
nothing, unless it has a default.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_LITERALS = {"*": "\x00star\x00", "?": "\x00question\x00", "$": "\x00dollar\x00"}
_UNESCAPE = {value: key for key, value in _LITERALS.items()}


class MissingVariable(Exception):
    """A policy variable the request context does not provide."""


def substitute(pattern: str, lookup: Callable[[str], str | None]) -> str:
    """`pattern` with its policy variables replaced; literal escapes become placeholders that
    `compile_pattern` matches as plain characters. Raises MissingVariable."""

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1).strip()
        if inner in _LITERALS:
            return _LITERALS[inner]
        name, _, default = inner.partition(",")
        value = lookup(name.strip())
        if value is None:
            default = default.strip()
            if len(default) >= 2 and default[0] == default[-1] == "'":
                return default[1:-1]
            raise MissingVariable(name.strip())
        return value.replace("*", _LITERALS["*"]).replace("?", _LITERALS["?"])

    return _VARIABLE.sub(replace, pattern) if "${" in pattern else pattern


@functools.lru_cache(maxsize=4096)
def compile_pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = []
    index = 0
    while index < len(pattern):
        placeholder = next((p for p in _UNESCAPE if pattern.startswith(p, index)), None)
        if placeholder is not None:
            parts.append(re.escape(_UNESCAPE[placeholder]))
            index += len(placeholder)
            continue
        character = pattern[index]
        parts.append(".*" if character == "*" else "." if character == "?" else re.escape(character))
        index += 1
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return compile_pattern(pattern, ignore_case).fullmatch(value) is not None


def literal_equals(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """Equality after substitution (placeholders back to their characters)."""
    for placeholder, character in _UNESCAPE.items():
        pattern = pattern.replace(placeholder, character)
    return pattern.lower() == value.lower() if ignore_case else pattern == value
