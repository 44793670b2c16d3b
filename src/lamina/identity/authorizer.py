"""Authorisation of one API call: the caller's identity policies and the resource's policy, as
IAM's evaluation logic combines them; AccessDenied when they do not allow it.

The root user of the resource's own account is allowed at once, without evaluating anything:
the common case costs nothing on the invocation path.
"""

from __future__ import annotations

from collections.abc import Mapping

from lamina.domain.iam.conditions import ContextValue
from lamina.domain.iam.denials import access_denied
from lamina.domain.iam.evaluation import AccessRequest, Decision, evaluate
from lamina.domain.iam.policy import Policy
from lamina.domain.iam.principals import Principal
from lamina.identity.directory import IdentityDirectory


class Authorizer:
    def __init__(self, directory: IdentityDirectory) -> None:
        self._directory = directory

    def decide(
        self,
        principal: Principal,
        action: str,
        resource: str,
        resource_account: str,
        resource_policy: Policy | None = None,
        context: Mapping[str, ContextValue] | None = None,
    ) -> Decision:
        if principal.is_root and principal.account == resource_account:
            return (
                Decision.ALLOW
                if resource_policy is None
                else self._evaluate(principal, action, resource, resource_account, resource_policy, context)
            )
        return self._evaluate(principal, action, resource, resource_account, resource_policy, context)

    def _evaluate(
        self,
        principal: Principal,
        action: str,
        resource: str,
        resource_account: str,
        resource_policy: Policy | None,
        context: Mapping[str, ContextValue] | None,
    ) -> Decision:
        request = AccessRequest(principal, action, resource, resource_account, context or {})
        return evaluate(request, self._directory.identity_policies(principal), resource_policy)

    def check(
        self,
        principal: Principal,
        action: str,
        resource: str,
        resource_account: str,
        *,
        code: str,
        resource_policy: Policy | None = None,
        context: Mapping[str, ContextValue] | None = None,
    ) -> None:
        """Raise `code` (AccessDeniedException, AccessDenied) with AWS's message unless allowed."""
        decision = self.decide(principal, action, resource, resource_account, resource_policy, context)
        if decision is Decision.ALLOW:
            return
        raise access_denied(code, principal, action, resource, resource_account, decision)
