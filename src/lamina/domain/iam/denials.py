"""AWS's words for a refused request: who, which action, which resource, and why (an explicit deny,
or the kind of policy that was missing)."""

from __future__ import annotations

from lamina.domain.iam.evaluation import Decision
from lamina.domain.iam.principals import Principal
from lamina.errors import AwsError


def access_denied(
    code: str,
    principal: Principal,
    action: str,
    resource: str,
    resource_account: str,
    decision: Decision = Decision.IMPLICIT_DENY,
) -> AwsError:
    """AWS's refusal: it names the kind of policy that was missing (another account's resource
    needs its resource-based policy to allow the call) or the explicit deny."""
    if decision is Decision.EXPLICIT_DENY:
        reason = "with an explicit deny in a policy"
    elif principal.account != resource_account:
        reason = f"because no resource-based policy allows the {action} action"
    else:
        reason = f"because no identity-based policy allows the {action} action"
    return AwsError(
        code,
        f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource} {reason}",
        403,
    )
