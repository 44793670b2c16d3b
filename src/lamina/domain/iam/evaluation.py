"""Whether a request is allowed, as IAM's policy evaluation logic decides it.

From the IAM User Guide ("Policy evaluation logic", "Cross-account policy evaluation logic"): an
explicit Deny in any applicable policy wins; otherwise, within one account, an Allow in the
principal's identity policies or in the resource's policy suffices; across accounts both sides
must allow. The root user of an account needs no identity policy for anything in its account;
service principals and anonymous callers (function URLs with AuthType NONE) have no identity
policies, so only a resource policy can let them in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from lamina.domain.iam.conditions import ContextValue, condition_holds
from lamina.domain.iam.matching import MissingVariable, substitute, wildcard_match
from lamina.domain.iam.policy import Policy, Statement
from lamina.domain.iam.principals import ANONYMOUS, BY_ACCOUNT, BY_NAME, SERVICE, Principal, names_principal


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True, slots=True)
class AccessRequest:
    principal: Principal
    action: str  # "lambda:InvokeFunction"
    resource: str  # the resource's ARN
    resource_account: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)  # condition keys, any case


def request_context(request: AccessRequest) -> dict[str, ContextValue]:
    """The condition keys of a request, lower-cased, with the principal's own keys added."""
    principal = request.principal
    keys: dict[str, ContextValue] = {key.lower(): value for key, value in request.context.items()}
    keys.setdefault("aws:principalarn", principal.role_arn or principal.arn)
    if principal.account:
        keys.setdefault("aws:principalaccount", principal.account)
    if principal.user_id:
        keys.setdefault("aws:userid", principal.user_id)
    if principal.kind == "user":
        keys.setdefault("aws:username", principal.name)
    keys.setdefault("aws:principaltype", _PRINCIPAL_TYPES.get(principal.kind, "Anonymous"))
    return keys


_PRINCIPAL_TYPES = {"root": "Account", "user": "User", "assumed-role": "AssumedRole", "service": "Service"}


def _statement_applies(
    statement: Statement, request: AccessRequest, context: Mapping[str, ContextValue]
) -> str | None:
    """None when the statement does not apply; else BY_NAME, or BY_ACCOUNT for a resource policy
    statement that covers the caller only through its account."""

    def variable(name: str) -> str | None:
        value = context.get(name.lower())
        return value if isinstance(value, str) else None

    action_match = any(
        wildcard_match(pattern, request.action, ignore_case=True) for pattern in statement.actions
    )
    if action_match == statement.actions_negated:
        return None
    if statement.resources is not None:
        resource_match = False
        for pattern in statement.resources:
            try:
                if wildcard_match(substitute(pattern, variable), request.resource):
                    resource_match = True
                    break
            except MissingVariable:
                continue
        if resource_match == statement.resources_negated:
            return None
    how = BY_NAME
    if statement.principals is not None:
        named = names_principal(statement.principals, request.principal)
        if statement.principals_negated:
            if named is not None:
                return None
        elif named is None:
            return None
        else:
            how = named
    if statement.condition and not condition_holds(statement.condition, context, variable):
        return None
    return how


def _effects(
    policies: Sequence[Policy], request: AccessRequest, context: Mapping[str, ContextValue]
) -> tuple[str | None, bool]:
    """(how the strongest Allow covers the caller, or None; whether some statement denies)."""
    allowed: str | None = None
    denied = False
    for policy in policies:
        for statement in policy.statements:
            how = _statement_applies(statement, request, context)
            if how is None:
                continue
            if statement.effect == "Deny":
                denied = True
            elif allowed != BY_NAME:
                allowed = how
    return allowed, denied


def evaluate(
    request: AccessRequest,
    identity_policies: Sequence[Policy] = (),
    resource_policy: Policy | None = None,
) -> Decision:
    context = request_context(request)
    identity_allowed, identity_denies = _effects(identity_policies, request, context)
    resource_allowed, resource_denies = _effects(
        [resource_policy] if resource_policy else [], request, context
    )
    if identity_denies or resource_denies:
        return Decision.EXPLICIT_DENY
    principal = request.principal
    # The root user may do anything in its own account; an account-wide grant in a resource policy
    # hands the decision to the caller's identity policies.
    identity_allows = identity_allowed is not None or principal.is_root
    if principal.kind in (SERVICE, ANONYMOUS):  # no identity policies: only a resource policy lets them in
        return Decision.ALLOW if resource_allowed is not None else Decision.IMPLICIT_DENY
    if resource_allowed == BY_ACCOUNT:
        return Decision.ALLOW if identity_allows else Decision.IMPLICIT_DENY
    if principal.account == request.resource_account:
        return Decision.ALLOW if identity_allows or resource_allowed is not None else Decision.IMPLICIT_DENY
    return Decision.ALLOW if identity_allows and resource_allowed is not None else Decision.IMPLICIT_DENY
