"""Which IAM action and resource each Lambda operation is authorised as, and the check itself.

From the Service Authorization Reference for Lambda: the action is `lambda:` plus the operation's
name (Invoke is `lambda:InvokeFunction`, GetLayerVersionByArn `lambda:GetLayerVersion`); the resource
is the function (qualified when the call names a version or alias), the layer (version), the tagged
resource, or `*` for account-wide operations. Calls on a function also consult its resource-based
policy, so AddPermission can let other principals in.
"""

from __future__ import annotations

from typing import Any

from lamina.api.context import RequestContext
from lamina.api.services.lambda_.params import function_ref
from lamina.domain.iam.policy import Policy
from lamina.domain.layers import layer_arn, layer_name, parse_layer_version_arn
from lamina.errors import AwsError
from lamina.functions.layers import LayerService
from lamina.functions.manager import Placement
from lamina.functions.permissions import PermissionService
from lamina.identity.authorizer import Authorizer

_ACTIONS = {
    "Invoke": "lambda:InvokeFunction",
    "InvokeWithResponseStream": "lambda:InvokeFunction",
    "InvokeAsync": "lambda:InvokeFunction",  # deprecated: an Event invocation by another name
    "GetLayerVersionByArn": "lambda:GetLayerVersion",
}
DENIED = "AccessDeniedException"


def action_of(operation: str) -> str:
    """The IAM action an operation is authorised as."""
    return _ACTIONS.get(operation, f"lambda:{operation}")


class LambdaAuthorization:
    def __init__(
        self,
        authorizer: Authorizer,
        permissions: PermissionService,
        placement: Placement,
        layers: LayerService | None = None,
    ) -> None:
        self._authorizer = authorizer
        self._permissions = permissions
        self._placement = placement
        self._layers = layers

    def target(
        self, operation: str, params: dict[str, Any]
    ) -> tuple[str, str, tuple[str, str | None] | None]:
        """(action, resource ARN, the function and qualifier whose policy applies, if any)."""
        action = action_of(operation)
        placement = self._placement
        if "FunctionName" in params:
            name, qualifier = function_ref(params, placement)
            return action, placement.arn(name, qualifier), (name, qualifier)
        if "Resource" in params:
            return action, params["Resource"], None
        if "Arn" in params:
            return action, params["Arn"], None
        if "LayerName" in params:
            version = params.get("VersionNumber")
            return (
                action,
                layer_arn(placement.region, placement.account_id, layer_name(params["LayerName"]), version),
                None,
            )
        return action, "*", None

    async def _layer_policy(self, params: dict[str, Any]) -> Policy | None:
        """A layer version's own policy (AddLayerVersionPermission) governs calls on it."""
        if self._layers is None:
            return None
        if "Arn" in params:
            try:
                _, account, name, version = parse_layer_version_arn(params["Arn"])
            except AwsError:
                return None
            if account != self._placement.account_id:
                return None
        elif "LayerName" in params and params.get("VersionNumber") is not None:
            name, version = layer_name(params["LayerName"]), params["VersionNumber"]
        else:
            return None
        return await self._layers.enforced_policy(name, version)

    async def authorize(self, operation: str, params: dict[str, Any], context: RequestContext) -> None:
        principal = context.principal
        if principal.is_root and principal.account == self._placement.account_id:
            return  # the account's root may do anything in it: nothing to evaluate, nothing to load
        action, resource, function = self.target(operation, params)
        if function is not None:
            policy = await self._permissions.enforced_policy(*function)
        else:
            policy = await self._layer_policy(params)
        self._authorizer.check(
            principal,
            action,
            resource,
            self._placement.account_id,
            code=DENIED,
            resource_policy=policy,
            context={"aws:SourceIp": context.source_ip} if context.source_ip else None,
        )
