"""Event filter patterns, as Lambda's event filtering and EventBridge rules write them (Lambda
developer guide, "Control which events Lambda sends to your function"; EventBridge user guide,
"Event patterns").

A pattern is a JSON object mirroring the event: each field names a list of matchers, and an event
matches when every field of the pattern matches (fields are ANDed; the values in a list ORed).
Matchers: a literal (string, number, boolean, null), or an object with one of `prefix`, `suffix`,
`equals-ignore-case`, `anything-but` (a value, a list, or a prefix/suffix object), `numeric`
(operators `=`, `<`, `<=`, `>`, `>=` with up to two comparisons), `exists` (true/false), `wildcard`,
and `$or` at any level. An array in the event matches when any of its elements does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lamina.errors import AwsError

__all__ = ["EventPattern", "InvalidPattern", "parse_pattern"]

_MISSING = object()
_NUMERIC_OPERATORS = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
MAX_PATTERN_BYTES = 4096


class InvalidPattern(ValueError):
    """A pattern that is not valid JSON or uses a matcher wrongly; the message says how."""


@dataclass(frozen=True, slots=True)
class EventPattern:
    document: Mapping[str, Any]

    def matches(self, event: Any) -> bool:
        return _matches_object(self.document, event)


def parse_pattern(text: str) -> EventPattern:
    """A pattern from its JSON text; raises InvalidPattern."""
    if len(text.encode()) > MAX_PATTERN_BYTES:
        raise InvalidPattern(f"Event pattern is longer than {MAX_PATTERN_BYTES} bytes.")
    try:
        document = json.loads(text)
    except ValueError as error:
        raise InvalidPattern(f"Event pattern is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise InvalidPattern("Event pattern must be a JSON object.")
    _check_object(document, "")
    return EventPattern(document)


def as_aws_error(error: InvalidPattern, code: str = "InvalidParameterValueException") -> AwsError:
    return AwsError(code, f"Invalid filter pattern definition. {error}", 400)


# --------------------------------------------------------------------------- checking


def _check_object(pattern: Mapping[str, Any], path: str) -> None:
    for key, value in pattern.items():
        where = f"{path}.{key}" if path else key
        if key == "$or":
            if (
                not isinstance(value, list)
                or len(value) < 2
                or not all(isinstance(item, dict) for item in value)
            ):
                raise InvalidPattern(f"'$or' at {where or 'top'} must be a list of at least two objects.")
            for item in value:
                _check_object(item, path)
        elif isinstance(value, dict):
            _check_object(value, where)
        elif isinstance(value, list):
            if not value:
                raise InvalidPattern(f"Empty arrays are not allowed: {where}.")
            for matcher in value:
                _check_matcher(matcher, where)
        else:
            raise InvalidPattern(
                f"Match value must be String, number, true, false, or null: {where} is {value!r}."
            )


def _check_matcher(matcher: Any, where: str) -> None:
    if matcher is None or isinstance(matcher, str | bool | int | float):
        return
    if not isinstance(matcher, dict) or len(matcher) != 1:
        raise InvalidPattern(f"Unrecognized match type at {where}.")
    ((kind, value),) = matcher.items()
    if kind in ("prefix", "suffix", "wildcard"):
        if isinstance(value, dict) and kind != "wildcard" and set(value) == {"equals-ignore-case"}:
            value = value["equals-ignore-case"]
        if not isinstance(value, str):
            raise InvalidPattern(f"{kind} match pattern must be a string at {where}.")
    elif kind == "equals-ignore-case":
        if not isinstance(value, str):
            raise InvalidPattern(f"equals-ignore-case match pattern must be a string at {where}.")
    elif kind == "exists":
        if not isinstance(value, bool):
            raise InvalidPattern(f"exists match pattern must be either true or false at {where}.")
    elif kind == "numeric":
        _check_numeric(value, where)
    elif kind == "anything-but":
        if isinstance(value, dict):
            if len(value) != 1 or next(iter(value)) not in ("prefix", "suffix", "equals-ignore-case"):
                raise InvalidPattern(f"Unsupported anything-but pattern at {where}.")
        elif isinstance(value, list):
            if not value:
                raise InvalidPattern(f"Empty arrays are not allowed: {where}.")
        elif not (value is None or isinstance(value, str | bool | int | float)):
            raise InvalidPattern(f"Unsupported anything-but pattern at {where}.")
    elif kind == "cidr":
        if not isinstance(value, str):
            raise InvalidPattern(f"cidr match pattern must be a string at {where}.")
    else:
        raise InvalidPattern(f"Unrecognized match type {kind} at {where}.")


def _check_numeric(value: Any, where: str) -> None:
    if not isinstance(value, list) or len(value) not in (2, 4):
        raise InvalidPattern(f"Value of numeric must be an array with one or two comparisons at {where}.")
    for index in range(0, len(value), 2):
        operator, operand = value[index], value[index + 1]
        if operator not in _NUMERIC_OPERATORS:
            raise InvalidPattern(f"Unrecognized numeric range operator: {operator} at {where}.")
        if isinstance(operand, bool) or not isinstance(operand, int | float):
            raise InvalidPattern(f"Value of {operator} must be numeric at {where}.")


# --------------------------------------------------------------------------- matching


def _matches_object(pattern: Mapping[str, Any], event: Any) -> bool:
    for key, expected in pattern.items():
        if key == "$or":
            if not any(_matches_object(choice, event) for choice in expected):
                return False
            continue
        value = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(expected, dict):
            if value is _MISSING:
                return False
            if isinstance(value, list):
                if not any(_matches_object(expected, item) for item in value):
                    return False
            elif not _matches_object(expected, value):
                return False
        elif not _matches_field(expected, value):
            return False
    return True


def _matches_field(matchers: Sequence[Any], value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for matcher in matchers:
        if isinstance(matcher, dict) and "exists" in matcher:
            present = value is not _MISSING and not (isinstance(value, list) and not value)
            if present == matcher["exists"]:
                return True
            continue
        if value is _MISSING:
            continue
        if any(_matches_one(matcher, item) for item in values):
            return True
    return False


def _matches_one(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, dict):
        if isinstance(matcher, bool) or isinstance(value, bool):
            return matcher is value if isinstance(matcher, bool) and isinstance(value, bool) else False
        if isinstance(matcher, int | float) and isinstance(value, int | float):
            return float(matcher) == float(value)
        return bool(matcher == value)
    ((kind, operand),) = matcher.items()
    if kind == "prefix":
        return _affix(operand, value, str.startswith)
    if kind == "suffix":
        return _affix(operand, value, str.endswith)
    if kind == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == str(operand).casefold()
    if kind == "wildcard":
        return isinstance(value, str) and _wildcard(str(operand)).fullmatch(value) is not None
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return all(
            _NUMERIC_OPERATORS[operand[index]](float(value), float(operand[index + 1]))
            for index in range(0, len(operand), 2)
        )
    if kind == "anything-but":
        if isinstance(operand, dict):
            return isinstance(value, str) and not _matches_one(operand, value)
        excluded = operand if isinstance(operand, list) else [operand]
        return not any(_matches_one(item, value) for item in excluded)
    if kind == "cidr":
        return _in_cidr(str(operand), value)
    return False


def _affix(operand: Any, value: Any, test: Any) -> bool:
    if not isinstance(value, str):
        return False
    if isinstance(operand, dict):  # {"prefix": {"equals-ignore-case": "..."}}
        return bool(test(value.casefold(), str(operand["equals-ignore-case"]).casefold()))
    return bool(test(value, str(operand)))


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _in_cidr(block: str, value: Any) -> bool:
    import ipaddress

    try:
        return isinstance(value, str) and ipaddress.ip_address(value) in ipaddress.ip_network(
            block, strict=False
        )
    except ValueError:
        return False
