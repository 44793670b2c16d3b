"""Policy documents: parsed and checked once, matched many times.

Grammar from the IAM JSON policy reference: Version, Id, and Statement (one object or a list);
each statement has Effect (Allow | Deny), exactly one of Action / NotAction, at most one of
Resource / NotResource (identity policies need one), at most one of Principal / NotPrincipal
(resource policies only), and an optional Condition.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from lamina.domain.iam.conditions import known_operator

MAX_POLICY_DOCUMENT = 131_072


class MalformedPolicy(ValueError):
    """What IAM answers with MalformedPolicyDocument."""


@dataclass(frozen=True, slots=True)
class Statement:
    sid: str | None
    effect: str  # Allow | Deny
    actions: tuple[str, ...]
    actions_negated: bool  # NotAction
    resources: tuple[str, ...] | None  # None: no Resource element (resource policies may omit it)
    resources_negated: bool  # NotResource
    principals: Any  # the Principal / NotPrincipal value as written, or None
    principals_negated: bool  # NotPrincipal
    condition: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Policy:
    statements: tuple[Statement, ...]


def _strings(value: Any, element: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) for item in items):
        raise MalformedPolicy(f"{element} must be a string or a list of strings")
    return tuple(items)


def _statement(raw: Any, *, resource_policy: bool) -> Statement:
    if not isinstance(raw, dict):
        raise MalformedPolicy("Each statement must be an object")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise MalformedPolicy("Effect must be Allow or Deny")
    if ("Action" in raw) == ("NotAction" in raw):
        raise MalformedPolicy("A statement needs exactly one of Action and NotAction")
    if "Resource" in raw and "NotResource" in raw:
        raise MalformedPolicy("A statement may have Resource or NotResource, not both")
    if "Principal" in raw and "NotPrincipal" in raw:
        raise MalformedPolicy("A statement may have Principal or NotPrincipal, not both")
    has_principal = "Principal" in raw or "NotPrincipal" in raw
    if has_principal and not resource_policy:
        raise MalformedPolicy("Policy document should not specify a principal.")
    if resource_policy and not has_principal:
        raise MalformedPolicy("Missing required field Principal")
    has_resource = "Resource" in raw or "NotResource" in raw
    if not has_resource and not resource_policy:
        raise MalformedPolicy("Missing required field Resource")
    condition = raw.get("Condition") or {}
    if not isinstance(condition, dict):
        raise MalformedPolicy("Condition must be an object")
    for operator in condition:
        if not known_operator(operator):
            raise MalformedPolicy(f"Invalid Condition type : {operator}")
    return Statement(
        sid=raw.get("Sid"),
        effect=effect,
        actions=_strings(raw.get("Action", raw.get("NotAction")), "Action"),
        actions_negated="NotAction" in raw,
        resources=_strings(raw.get("Resource", raw.get("NotResource")), "Resource") if has_resource else None,
        resources_negated="NotResource" in raw,
        principals=raw.get("Principal", raw.get("NotPrincipal")),
        principals_negated="NotPrincipal" in raw,
        condition=condition,
    )


def parse_policy(document: str | dict[str, Any], *, resource_policy: bool = False) -> Policy:
    """A policy from its JSON text (or object). Raises MalformedPolicy."""
    if isinstance(document, str):
        if len(document) > MAX_POLICY_DOCUMENT:
            raise MalformedPolicy("Policy document is too large")
        try:
            document = json.loads(document)
        except ValueError:
            raise MalformedPolicy("Syntax errors in policy.") from None
    if not isinstance(document, dict):
        raise MalformedPolicy("Syntax errors in policy.")
    version = document.get("Version", "2008-10-17")
    if version not in ("2012-10-17", "2008-10-17"):
        raise MalformedPolicy(f"The policy must contain a valid version string: {version}")
    raw_statements = document.get("Statement")
    if raw_statements is None:
        raise MalformedPolicy("Missing required field Statement")
    items = raw_statements if isinstance(raw_statements, list) else [raw_statements]
    return Policy(tuple(_statement(item, resource_policy=resource_policy) for item in items))


@functools.lru_cache(maxsize=256)
def _cached_resource_policy(text: str) -> Policy | None:
    try:
        return parse_policy(json.loads(text), resource_policy=True)
    except (ValueError, MalformedPolicy):
        return None


def resource_policy_of(text: str | None) -> Policy | None:
    """A resource's policy attribute (a queue's, a topic's) as a policy: None when unset or not a
    policy (then nothing but the caller's own policies decide). Parsed once per distinct text."""
    return _cached_resource_policy(text) if text else None
