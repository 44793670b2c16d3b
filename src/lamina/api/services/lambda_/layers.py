"""Handlers for the layer operations."""

from __future__ import annotations

import json
from typing import Any

from lamina.api.code_urls import CodeUrlSigner
from lamina.api.context import OperationResult, RequestContext
from lamina.api.services.lambda_.params import page_of
from lamina.domain.layers import LayerVersion, layer_name
from lamina.errors import AwsError
from lamina.functions.layers import LayerService


class LayerOperations:
    def __init__(self, layers: LayerService, code_urls: CodeUrlSigner) -> None:
        self._layers = layers
        self._code_urls = code_urls
        self._region = layers.placement.region
        self._account_id = layers.placement.account_id

    def _version(self, layer: LayerVersion, context: RequestContext) -> dict[str, Any]:
        location = self._code_urls.url(context.base_url, layer.content.sha256_hex)
        return layer.to_api(self._region, self._account_id, location)

    async def publish_layer_version(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        layer = await self._layers.publish(layer_name(params["LayerName"]), params)
        return OperationResult(self._version(layer, context))

    async def get_layer_version(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        if params["VersionNumber"] < 1:
            raise AwsError("InvalidParameterValueException", "Layer Version Cannot be less than 1", 400)
        layer = await self._layers.get(layer_name(params["LayerName"]), params["VersionNumber"])
        return OperationResult(self._version(layer, context))

    async def get_layer_version_by_arn(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        return OperationResult(self._version(await self._layers.get_by_arn(params["Arn"]), context))

    async def list_layers(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        layers = await self._layers.latest_per_layer(
            params.get("CompatibleRuntime"), params.get("CompatibleArchitecture")
        )
        page, output = page_of(layers, params)
        items = [
            {
                "LayerName": layer.name,
                "LayerArn": self._layers.arn(layer.name),
                "LatestMatchingVersion": layer.list_item(self._region, self._account_id),
            }
            for layer in page
        ]
        return OperationResult({"Layers": items, **output})

    async def list_layer_versions(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        versions = await self._layers.versions(
            layer_name(params["LayerName"]),
            params.get("CompatibleRuntime"),
            params.get("CompatibleArchitecture"),
        )
        page, output = page_of(versions, params)
        items = [layer.list_item(self._region, self._account_id) for layer in page]
        return OperationResult({"LayerVersions": items, **output})

    async def delete_layer_version(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._layers.delete(layer_name(params["LayerName"]), params["VersionNumber"])
        return OperationResult({})

    async def add_layer_version_permission(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        statement, revision_id = await self._layers.add_permission(
            layer_name(params["LayerName"]), params["VersionNumber"], params
        )
        return OperationResult(
            {"Statement": json.dumps(statement, separators=(",", ":")), "RevisionId": revision_id}
        )

    async def get_layer_version_policy(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        policy = await self._layers.get_policy(layer_name(params["LayerName"]), params["VersionNumber"])
        return OperationResult({"Policy": policy.document(), "RevisionId": policy.revision_id})

    async def remove_layer_version_permission(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        await self._layers.remove_permission(
            layer_name(params["LayerName"]),
            params["VersionNumber"],
            params["StatementId"],
            params.get("RevisionId"),
        )
        return OperationResult({})
