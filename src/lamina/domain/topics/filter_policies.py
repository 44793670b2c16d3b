"""Subscription filter policies (SNS developer guide, "Amazon SNS message filtering"): the policy
is matched against the message attributes (FilterPolicyScope MessageAttributes, the default) or
against the message body parsed as JSON (MessageBody). The policy language is EventBridge's
(`domain/event_patterns.py`): exact values, prefix, suffix, anything-but, numeric, exists,
equals-ignore-case, cidr, `$or`.

As attributes: a String is its text, a Number its number, a String.Array its elements; a Binary
attribute matches nothing but `exists`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from lamina.domain.event_patterns import EventPattern, parse_pattern

__all__ = ["accepts"]

_BINARY = object()


@functools.lru_cache(maxsize=1024)
def _pattern(policy: str) -> EventPattern:
    return parse_pattern(policy)


def accepts(
    policy: str | None, scope: str | None, message: str, attributes: Mapping[str, Mapping[str, Any]]
) -> bool:
    """Whether a subscription with this filter policy receives the message."""
    if not policy:
        return True
    pattern = _pattern(policy)
    if scope == "MessageBody":
        try:
            body = json.loads(message)
        except ValueError:
            return False
        return isinstance(body, dict) and pattern.matches(body)
    return pattern.matches({name: _value(value) for name, value in attributes.items()})


def _value(attribute: Mapping[str, Any]) -> Any:
    kind = str(attribute.get("DataType", ""))
    text = attribute.get("StringValue")
    if kind.startswith("Number"):
        try:
            return float(str(text)) if "." in str(text) or "e" in str(text).lower() else int(str(text))
        except ValueError:
            return text
    if kind == "String.Array":
        try:
            return json.loads(str(text))
        except ValueError:
            return text
    if kind.startswith("Binary"):
        return []  # present, yet equal to no value
    return text
