"""The Condition element: every operator IAM defines, with `...IfExists`, `ForAnyValue:` and
`ForAllValues:`.

Rules from the IAM User Guide ("Condition operators", "Conditions with multiple context keys or
values"): operators in a block, and keys under one operator, must all hold (AND); the values listed
for one key are alternatives (OR), for a negated operator none may match (NOR). A key the request
does not have fails a positive operator and satisfies a negated one; `...IfExists` lets a missing
key pass and `Null` tests presence itself. For a multi-valued key, `ForAnyValue:` needs one request
value to match, `ForAllValues:` every one (and holds when there are none).
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from lamina.domain.iam.matching import MissingVariable, literal_equals, substitute, wildcard_match

ContextValue = str | Sequence[str]
Compare = Callable[[str, str], bool]


class PolicyConditionError(ValueError):
    """An operator or value the grammar does not know (a malformed policy)."""


def _number(text: str) -> float:
    return float(text)


def _date(text: str) -> datetime:
    text = text.strip()
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _ip_in(network: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: each of the six colon-separated parts matched on its own (a `*` stays in its part
    for the first five; the resource part may hold colons)."""
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return False
    return all(wildcard_match(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def _numeric(check: Callable[[float, float], bool]) -> Compare:
    def compare(policy: str, request: str) -> bool:
        try:
            return check(_number(request), _number(policy))
        except ValueError:
            return False

    return compare


def _dated(check: Callable[[datetime, datetime], bool]) -> Compare:
    def compare(policy: str, request: str) -> bool:
        try:
            return check(_date(request), _date(policy))
        except ValueError:
            return False

    return compare


# operator -> (comparison, negated, substitutes policy variables)
_OPERATORS: dict[str, tuple[Compare, bool, bool]] = {
    "StringEquals": (lambda p, r: literal_equals(p, r), False, True),
    "StringNotEquals": (lambda p, r: literal_equals(p, r), True, True),
    "StringEqualsIgnoreCase": (lambda p, r: literal_equals(p, r, ignore_case=True), False, True),
    "StringNotEqualsIgnoreCase": (lambda p, r: literal_equals(p, r, ignore_case=True), True, True),
    "StringLike": (lambda p, r: wildcard_match(p, r), False, True),
    "StringNotLike": (lambda p, r: wildcard_match(p, r), True, True),
    "NumericEquals": (_numeric(lambda r, p: r == p), False, False),
    "NumericNotEquals": (_numeric(lambda r, p: r == p), True, False),
    "NumericLessThan": (_numeric(lambda r, p: r < p), False, False),
    "NumericLessThanEquals": (_numeric(lambda r, p: r <= p), False, False),
    "NumericGreaterThan": (_numeric(lambda r, p: r > p), False, False),
    "NumericGreaterThanEquals": (_numeric(lambda r, p: r >= p), False, False),
    "DateEquals": (_dated(lambda r, p: r == p), False, False),
    "DateNotEquals": (_dated(lambda r, p: r == p), True, False),
    "DateLessThan": (_dated(lambda r, p: r < p), False, False),
    "DateLessThanEquals": (_dated(lambda r, p: r <= p), False, False),
    "DateGreaterThan": (_dated(lambda r, p: r > p), False, False),
    "DateGreaterThanEquals": (_dated(lambda r, p: r >= p), False, False),
    "Bool": (lambda p, r: p.lower() == r.lower(), False, True),
    "BinaryEquals": (lambda p, r: base64.b64decode(p) == r.encode(), False, False),
    "IpAddress": (_ip_in, False, False),
    "NotIpAddress": (_ip_in, True, False),
    "ArnEquals": (lambda p, r: literal_equals(p, r), False, True),
    "ArnNotEquals": (lambda p, r: literal_equals(p, r), True, True),
    "ArnLike": (_arn_like, False, True),
    "ArnNotLike": (_arn_like, True, True),
}


def known_operator(name: str) -> bool:
    """Whether `name` (with any set qualifier and IfExists) is an operator of the grammar."""
    qualifier, _, base = name.rpartition(":")
    base = base.removesuffix("IfExists")
    return qualifier in ("", "ForAnyValue", "ForAllValues") and (base == "Null" or base in _OPERATORS)


def _values(raw: Any) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    return [str(item).lower() if isinstance(item, bool) else str(item) for item in items]


def _request_values(context: Mapping[str, ContextValue], key: str) -> list[str] | None:
    value = context.get(key.lower())
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def condition_holds(
    block: Mapping[str, Any], context: Mapping[str, ContextValue], variable: Callable[[str], str | None]
) -> bool:
    """Whether a statement's Condition element holds. `context` keys are lower-case; `variable`
    resolves policy variables."""
    for operator_name, keys in block.items():
        if not isinstance(keys, Mapping):
            raise PolicyConditionError(f"Condition operator {operator_name} needs a map of keys")
        for key, raw in keys.items():
            if not _holds(operator_name, key, _values(raw), context, variable):
                return False
    return True


def _holds(
    operator_name: str,
    key: str,
    policy_values: list[str],
    context: Mapping[str, ContextValue],
    variable: Callable[[str], str | None],
) -> bool:
    qualifier, _, base = operator_name.rpartition(":")
    if qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise PolicyConditionError(f"Unknown set qualifier {qualifier}")
    request_values = _request_values(context, key)
    if base == "Null":
        wants_absent = policy_values[0].lower() == "true"
        return (request_values is None or request_values == []) == wants_absent
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base not in _OPERATORS:
        raise PolicyConditionError(f"Unknown condition operator {operator_name}")
    compare, negated, substitutes = _OPERATORS[base]
    if request_values is None or (qualifier and not request_values):
        if qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return True if if_exists else negated
    patterns = []
    for value in policy_values:
        try:
            patterns.append(substitute(value, variable) if substitutes else value)
        except MissingVariable:
            continue

    def matches(request_value: str) -> bool:
        return any(compare(pattern, request_value) for pattern in patterns)

    if qualifier == "ForAllValues":
        return all(matches(value) != negated for value in request_values)
    if qualifier == "ForAnyValue":
        return any(matches(value) != negated for value in request_values)
    if negated:
        return not any(matches(value) for value in request_values)
    return any(matches(value) for value in request_values)
