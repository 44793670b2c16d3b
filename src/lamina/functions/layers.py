"""PublishLayerVersion, GetLayerVersion(ByArn), ListLayers, ListLayerVersions, DeleteLayerVersion,
and the layer version permissions (Add/Remove LayerVersionPermission, GetLayerVersionPolicy).

Layer content is a code blob like a function's (content-addressed, encrypted at rest); a version's
record is metadata. Functions keep what they need of a version (ARN, digest, sizes) in their own
configuration, so deleting a version does not break them: its content is collected only once no
function uses it either.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from lamina.domain.functions import FunctionLayer
from lamina.domain.iam.denials import access_denied
from lamina.domain.iam.evaluation import Decision
from lamina.domain.iam.policy import Policy
from lamina.domain.iam.principals import Principal
from lamina.domain.layers import (
    LayerVersion,
    created_now,
    layer_arn,
    layer_permission_statement,
    parse_layer_version_arn,
)
from lamina.domain.policies import ResourcePolicy
from lamina.errors import AwsError, conflict, invalid_parameter, not_found, precondition_failed
from lamina.functions.code_collector import CodeCollector
from lamina.functions.manager import Placement, zip_bytes
from lamina.store.ports import MetadataStore

_NO_RESOURCE = "The resource you requested does not exist."


# Another account's layers in the same region (None: no such account).
OtherAccountLayers = Callable[[str], Awaitable["LayerService | None"]]
# Whether a principal may do an action on a resource of an account under a resource policy.
Decide = Callable[[Principal, str, str, str, Policy | None], Decision]
USE_LAYER = "lambda:GetLayerVersion"


class LayerService:
    def __init__(
        self,
        store: MetadataStore,
        collector: CodeCollector,
        placement: Placement,
        *,
        other_accounts: OtherAccountLayers | None = None,
        decide: Decide | None = None,
    ) -> None:
        """`other_accounts` and `decide`: how a function uses a layer another account shared with
        it (AddLayerVersionPermission); without them only the account's own layers can be used."""
        self._store = store
        self._collector = collector
        self.placement = placement
        self._other_accounts = other_accounts
        self._decide = decide

    def arn(self, name: str, version: int | None = None) -> str:
        return layer_arn(self.placement.region, self.placement.account_id, name, version)

    async def publish(self, name: str, params: dict[str, Any]) -> LayerVersion:
        content = params.get("Content") or {}
        if "ZipFile" not in content:
            raise invalid_parameter("Lamina accepts layer content as Content.ZipFile only.")
        async with self._collector.store_package(zip_bytes(content["ZipFile"])) as summary:
            layer = LayerVersion(
                name,
                await self._store.next_layer_version(name),
                summary.digest,
                summary.unzipped_size,
                params.get("Description") or "",
                _given(params.get("CompatibleRuntimes")),
                _given(params.get("CompatibleArchitectures")),
                params.get("LicenseInfo"),
                created_now(),
            )
            await self._store.put_layer_version(layer)
        return layer

    async def get(self, name: str, version: int) -> LayerVersion:
        layer = await self._store.get_layer_version(name, version)
        if layer is None:
            raise not_found(_NO_RESOURCE)
        return layer

    async def get_by_arn(self, arn: str) -> LayerVersion:
        region, account, name, version = parse_layer_version_arn(arn)
        if (region, account) != (self.placement.region, self.placement.account_id):
            raise not_found(_NO_RESOURCE)
        return await self.get(name, version)

    async def latest_per_layer(self, runtime: str | None, architecture: str | None) -> list[LayerVersion]:
        """ListLayers: each layer's newest version that matches the filters."""
        newest: dict[str, LayerVersion] = {}
        for layer in await self._store.list_layer_versions():
            if layer.matches(runtime, architecture):
                newest[layer.name] = layer
        return [newest[name] for name in sorted(newest)]

    async def versions(self, name: str, runtime: str | None, architecture: str | None) -> list[LayerVersion]:
        """ListLayerVersions: newest first."""
        layers = await self._store.list_layer_versions(name)
        return [layer for layer in reversed(layers) if layer.matches(runtime, architecture)]

    async def total_code_size(self) -> int:
        """GetAccountSettings' TotalCodeSize counts every layer version's package too, as AWS does."""
        return sum(layer.content.size for layer in await self._store.list_layer_versions())

    async def delete(self, name: str, version: int) -> None:
        """Idempotent; functions that use the version keep it (its content stays stored)."""
        await self._store.delete_layer_version(name, version)
        await self._collector.collect_quietly()

    async def for_function(self, arns: Sequence[str], caller: Principal | None = None) -> list[FunctionLayer]:
        """The Layers parameter of CreateFunction / UpdateFunctionConfiguration, resolved. A layer
        of another account may be used when its version's policy (and the caller's identity
        policies) allow `caller` lambda:GetLayerVersion on it, as on AWS."""
        layers = []
        for arn in arns:
            region, account, _, _ = parse_layer_version_arn(arn)
            if region != self.placement.region:
                raise invalid_parameter(
                    "Layers are not in the same region as the function. "
                    f"Layers are expected to be in region {self.placement.region}."
                )
            if account != self.placement.account_id:
                layers.append(await self._shared_layer(arn, account, caller))
                continue
            try:
                layer = await self.get_by_arn(arn)
            except AwsError:
                raise invalid_parameter(f"Layer version {arn} does not exist.") from None
            layers.append(FunctionLayer(arn, layer.content, layer.unzipped_size))
        return layers

    async def _shared_layer(self, arn: str, account: str, caller: Principal | None) -> FunctionLayer:
        """Another account's layer version, if it lets `caller` use it. Whether it exists is not
        told to a caller it does not let in: both get the same 403, as GetLayerVersionByArn does."""
        owner = await self._other_accounts(account) if self._other_accounts is not None else None
        layer = None
        if owner is not None:
            try:
                layer = await owner.get_by_arn(arn)
            except AwsError:
                layer = None
        if owner is None or layer is None or not await owner.lets_use(layer, arn, caller):
            raise access_denied(
                "AccessDeniedException",
                caller or Principal("anonymous", "", "anonymous"),
                USE_LAYER,
                arn,
                account,
            )
        return FunctionLayer(arn, layer.content, layer.unzipped_size)

    async def lets_use(self, layer: LayerVersion, arn: str, caller: Principal | None) -> bool:
        """Whether this layer version's policy (with the caller's identity policies) lets another
        account's caller use it."""
        if caller is None or self._decide is None:
            return False
        policy = await self.enforced_policy(layer.name, layer.version)
        return self._decide(caller, USE_LAYER, arn, self.placement.account_id, policy) is Decision.ALLOW

    async def enforced_policy(self, name: str, version: int) -> Policy | None:
        """The layer version's policy, as the authorizer evaluates it (None: none)."""
        text = await self._store.get_layer_policy(name, version)
        return ResourcePolicy.loads(text).enforced() if text is not None else None

    # permissions -----------------------------------------------------------------------------
    async def _policy(self, name: str, version: int) -> ResourcePolicy | None:
        await self.get(name, version)
        text = await self._store.get_layer_policy(name, version)
        return ResourcePolicy.loads(text) if text is not None else None

    async def add_permission(
        self, name: str, version: int, params: dict[str, Any]
    ) -> tuple[dict[str, Any], str]:
        policy = await self._policy(name, version) or ResourcePolicy()
        if params.get("RevisionId") is not None and params["RevisionId"] != policy.revision_id:
            raise precondition_failed(
                "The Revision Id provided does not match the latest Revision Id. "
                "Call the GetLayerPolicy API to retrieve the latest Revision Id"
            )
        if policy.statement(params["StatementId"]) is not None:
            raise conflict(
                f"The statement id ({params['StatementId']}) provided already exists. Please provide a "
                "new statement id, or remove the existing statement."
            )
        statement = layer_permission_statement(params, self.arn(name, version))
        updated = policy.with_statement(statement)
        await self._store.put_layer_policy(name, version, updated.dumps())
        return statement, updated.revision_id

    async def get_policy(self, name: str, version: int) -> ResourcePolicy:
        policy = await self._policy(name, version)
        if policy is None:
            raise not_found("No policy is associated with the given resource.")
        return policy

    async def remove_permission(self, name: str, version: int, sid: str, revision_id: str | None) -> None:
        policy = await self._policy(name, version)
        if policy is None or policy.statement(sid) is None:
            raise not_found(f"Statement {sid} is not found in resource policy.")
        if revision_id is not None and revision_id != policy.revision_id:
            raise precondition_failed(
                "The Revision Id provided does not match the latest Revision Id. "
                "Call the GetLayerPolicy API to retrieve the latest Revision Id"
            )
        remaining = policy.without(sid)
        await self._store.put_layer_policy(name, version, remaining.dumps() if remaining.statements else None)


def _given(values: list[str] | None) -> tuple[str, ...] | None:
    """A list member as given: None when absent (AWS leaves it out), () when empty (AWS echoes [])."""
    return None if values is None else tuple(values)
