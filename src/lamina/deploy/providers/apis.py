"""API Gateway resources: AWS::ApiGateway::RestApi, ::Resource, ::Method (with its Integration and
responses), ::Deployment, ::Stage; AWS::ApiGatewayV2::Api, ::Integration, ::Route, ::Stage.
An API given as an OpenAPI definition (`Body`, or `BodyS3Location` in one of Lamina's buckets) is
imported as ImportRestApi / ImportApi do, and a changed definition reimported in place (PutRestApi
with the template's `Mode`, overwrite by default; ReimportApi)."""

from __future__ import annotations

import json
from typing import Any

from lamina.deploy.errors import ResourceFailed
from lamina.deploy.providers.base import Created, ProviderContext, unless_gone
from lamina.errors import AwsError

__all__ = [
    "DeploymentProvider",
    "HttpApiProvider",
    "HttpIntegrationProvider",
    "HttpRouteProvider",
    "HttpStageProvider",
    "MethodProvider",
    "RestApiProvider",
    "RestResourceProvider",
    "RestStageProvider",
]


# API Gateway's limit for a definition; the import checks it again, this bounds what is read here.
MAX_DEFINITION_BYTES = 6 * 1024 * 1024


async def _definition(context: ProviderContext, properties: dict[str, Any]) -> str | None:
    """The OpenAPI definition a template gives, as text; None when it gives none."""
    body = properties.get("Body")
    if body is not None:
        return body if isinstance(body, str) else json.dumps(body)
    location = properties.get("BodyS3Location")
    if location is None:
        return None
    if not isinstance(location, dict) or not location.get("Bucket") or not location.get("Key"):
        raise ResourceFailed("BodyS3Location needs a Bucket and a Key")
    params = {"Bucket": location["Bucket"], "Key": location["Key"]}
    if location.get("Version"):
        params["VersionId"] = location["Version"]
    data = (await context.call("s3", "GetObject", params)).get("Body") or b""
    if len(data) > MAX_DEFINITION_BYTES:
        raise ResourceFailed(f"The definition at BodyS3Location is larger than {MAX_DEFINITION_BYTES} bytes")
    return data if isinstance(data, str) else bytes(data).decode("utf-8", "replace")


def _lower_first(document: dict[str, Any]) -> dict[str, Any]:
    return {key[:1].lower() + key[1:]: value for key, value in document.items()}


class RestApiProvider:
    type_name = "AWS::ApiGateway::RestApi"
    replaced_by: frozenset[str] = frozenset()

    async def _import(
        self, context: ProviderContext, properties: dict[str, Any], definition: str, api_id: str | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"body": definition.encode("utf-8")}
        if properties.get("FailOnWarnings"):
            params["failOnWarnings"] = True
        if api_id is None:
            api = await context.call("apigateway", "ImportRestApi", params)
        else:
            params |= {"restApiId": api_id, "mode": properties.get("Mode") or "overwrite"}
            api = await context.call("apigateway", "PutRestApi", params)
        patches = [
            {"op": "replace", "path": path, "value": str(properties[source])}
            for source, path in (("Name", "/name"), ("Description", "/description"))
            if properties.get(source) is not None and properties[source] != api.get(source.lower())
        ]
        if patches:
            api = await context.call(
                "apigateway", "UpdateRestApi", {"restApiId": api["id"], "patchOperations": patches}
            )
        return api

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        definition = await _definition(context, properties)
        if definition is not None:
            api = await self._import(context, properties, definition, None)
            return Created(api["id"], {"RestApiId": api["id"], "RootResourceId": api["rootResourceId"]})
        params: dict[str, Any] = {"name": properties.get("Name") or context.physical_name(logical_id, 128)}
        for source, target in (
            ("Description", "description"),
            ("BinaryMediaTypes", "binaryMediaTypes"),
            ("ApiKeySourceType", "apiKeySource"),
            ("DisableExecuteApiEndpoint", "disableExecuteApiEndpoint"),
            ("MinimumCompressionSize", "minimumCompressionSize"),
        ):
            if source in properties:
                params[target] = properties[source]
        if "EndpointConfiguration" in properties:
            params["endpointConfiguration"] = {
                "types": properties["EndpointConfiguration"].get("Types", ["EDGE"])
            }
        api = await context.call("apigateway", "CreateRestApi", params)
        return Created(api["id"], {"RestApiId": api["id"], "RootResourceId": api["rootResourceId"]})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        definition = await _definition(context, properties)
        if definition is not None:
            api = await self._import(context, properties, definition, physical_id)
            return Created(physical_id, {"RestApiId": physical_id, "RootResourceId": api["rootResourceId"]})
        patches = []
        for source, path in (("Name", "/name"), ("Description", "/description")):
            if properties.get(source) != previous.get(source) and properties.get(source) is not None:
                patches.append({"op": "replace", "path": path, "value": str(properties[source])})
        api = (
            await context.call(
                "apigateway", "UpdateRestApi", {"restApiId": physical_id, "patchOperations": patches}
            )
            if patches
            else await context.call("apigateway", "GetRestApi", {"restApiId": physical_id})
        )
        return Created(physical_id, {"RestApiId": physical_id, "RootResourceId": api["rootResourceId"]})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await unless_gone(
            context.call("apigateway", "DeleteRestApi", {"restApiId": physical_id}), "NotFoundException"
        )


class RestResourceProvider:
    type_name = "AWS::ApiGateway::Resource"
    replaced_by = frozenset({"RestApiId", "ParentId", "PathPart"})

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        params = {
            "restApiId": properties["RestApiId"],
            "parentId": properties["ParentId"],
            "pathPart": properties["PathPart"],
        }
        resource = await context.call("apigateway", "CreateResource", params)
        return Created(resource["id"], {"ResourceId": resource["id"]})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        return Created(physical_id, {"ResourceId": physical_id})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await unless_gone(
            context.call(
                "apigateway",
                "DeleteResource",
                {"restApiId": properties["RestApiId"], "resourceId": physical_id},
            ),
            "NotFoundException",
        )


class MethodProvider:
    type_name = "AWS::ApiGateway::Method"
    replaced_by = frozenset({"RestApiId", "ResourceId", "HttpMethod"})

    async def _put(self, context: ProviderContext, properties: dict[str, Any]) -> None:
        ids = {
            "restApiId": properties["RestApiId"],
            "resourceId": properties["ResourceId"],
            "httpMethod": properties["HttpMethod"],
        }
        method: dict[str, Any] = {**ids, "authorizationType": properties.get("AuthorizationType", "NONE")}
        for source in (
            "AuthorizerId",
            "ApiKeyRequired",
            "RequestParameters",
            "OperationName",
            "AuthorizationScopes",
        ):
            if source in properties:
                method[source[:1].lower() + source[1:]] = properties[source]
        await context.call("apigateway", "PutMethod", method)
        for response in properties.get("MethodResponses") or []:
            await context.call("apigateway", "PutMethodResponse", {**ids, **_lower_first(response)})
        integration = properties.get("Integration")
        if not integration:
            return
        params: dict[str, Any] = {**ids, "type": integration["Type"]}
        for source, target in (
            ("IntegrationHttpMethod", "integrationHttpMethod"),
            ("Uri", "uri"),
            ("RequestTemplates", "requestTemplates"),
            ("RequestParameters", "requestParameters"),
            ("PassthroughBehavior", "passthroughBehavior"),
            ("TimeoutInMillis", "timeoutInMillis"),
            ("ContentHandling", "contentHandling"),
            ("Credentials", "credentials"),
            ("CacheKeyParameters", "cacheKeyParameters"),
            ("CacheNamespace", "cacheNamespace"),
        ):
            if source in integration:
                params[target] = integration[source]
        await context.call("apigateway", "PutIntegration", params)
        for response in integration.get("IntegrationResponses") or []:
            await context.call("apigateway", "PutIntegrationResponse", {**ids, **_lower_first(response)})

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        await self._put(context, properties)
        return Created(f"{properties['RestApiId']}|{properties['ResourceId']}|{properties['HttpMethod']}", {})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        await self.delete(context, physical_id, previous)
        await self._put(context, properties)
        return Created(physical_id, {})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        api, resource, method = physical_id.split("|", 2)
        await unless_gone(
            context.call(
                "apigateway", "DeleteMethod", {"restApiId": api, "resourceId": resource, "httpMethod": method}
            ),
            "NotFoundException",
        )


class DeploymentProvider:
    type_name = "AWS::ApiGateway::Deployment"
    replaced_by = frozenset(
        {"RestApiId", "StageName", "Description", "StageDescription", "DeploymentCanarySettings"}
    )

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        params: dict[str, Any] = {"restApiId": properties["RestApiId"]}
        if "StageName" in properties:
            params["stageName"] = properties["StageName"]
        if "Description" in properties:
            params["description"] = properties["Description"]
        deployment = await context.call("apigateway", "CreateDeployment", params)
        return Created(deployment["id"], {"DeploymentId": deployment["id"]})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        return Created(physical_id, {"DeploymentId": physical_id})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        api = properties["RestApiId"]
        if "StageName" in properties:  # the stage the deployment made goes with it
            await unless_gone(
                context.call(
                    "apigateway", "DeleteStage", {"restApiId": api, "stageName": properties["StageName"]}
                ),
                "NotFoundException",
            )
        try:
            await context.call(
                "apigateway", "DeleteDeployment", {"restApiId": api, "deploymentId": physical_id}
            )
        except AwsError as error:
            if error.code not in ("NotFoundException", "BadRequestException"):  # a stage still serves it
                raise


class RestStageProvider:
    type_name = "AWS::ApiGateway::Stage"
    replaced_by = frozenset({"RestApiId", "StageName"})

    @staticmethod
    def _patches(properties: dict[str, Any], previous: dict[str, Any]) -> list[dict[str, str]]:
        patches = [{"op": "replace", "path": "/deploymentId", "value": str(properties["DeploymentId"])}]
        if properties.get("Description") is not None:
            patches.append({"op": "replace", "path": "/description", "value": str(properties["Description"])})
        for name in set(previous.get("Variables") or {}) - set(properties.get("Variables") or {}):
            patches.append({"op": "remove", "path": f"/variables/{name}"})
        for name, value in (properties.get("Variables") or {}).items():
            patches.append({"op": "replace", "path": f"/variables/{name}", "value": str(value)})
        for setting in properties.get("MethodSettings") or []:
            path = (
                "/"
                + str(setting.get("ResourcePath", "/*")).strip("/").replace("/", "~1")
                + "/"
                + str(setting.get("HttpMethod", "*"))
            )
            path = path.replace("//", "/")
            for source, target in (
                ("LoggingLevel", "logging/loglevel"),
                ("ThrottlingRateLimit", "throttling/rateLimit"),
                ("ThrottlingBurstLimit", "throttling/burstLimit"),
                ("MetricsEnabled", "metrics/enabled"),
                ("DataTraceEnabled", "logging/dataTrace"),
            ):
                if source in setting:
                    value = setting[source]
                    patches.append(
                        {
                            "op": "replace",
                            "path": f"{path}/{target}",
                            "value": str(value).lower() if isinstance(value, bool) else str(value),
                        }
                    )
        access = properties.get("AccessLogSetting") or {}
        for source, target in (("DestinationArn", "destinationArn"), ("Format", "format")):
            if source in access:
                patches.append(
                    {"op": "replace", "path": f"/accessLogSettings/{target}", "value": str(access[source])}
                )
        return patches

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        params: dict[str, Any] = {
            "restApiId": properties["RestApiId"],
            "stageName": properties["StageName"],
            "deploymentId": properties["DeploymentId"],
        }
        if "Variables" in properties:
            params["variables"] = properties["Variables"]
        if "Description" in properties:
            params["description"] = properties["Description"]
        await context.call("apigateway", "CreateStage", params)
        extra = [
            patch
            for patch in self._patches(properties, {})
            if patch["path"] not in ("/deploymentId", "/description")
            and not patch["path"].startswith("/variables/")
        ]
        if extra:
            await context.call(
                "apigateway",
                "UpdateStage",
                {
                    "restApiId": properties["RestApiId"],
                    "stageName": properties["StageName"],
                    "patchOperations": extra,
                },
            )
        return Created(str(properties["StageName"]), {})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        patches = self._patches(properties, previous)
        await context.call(
            "apigateway",
            "UpdateStage",
            {"restApiId": properties["RestApiId"], "stageName": physical_id, "patchOperations": patches},
        )
        return Created(physical_id, {})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await unless_gone(
            context.call(
                "apigateway", "DeleteStage", {"restApiId": properties["RestApiId"], "stageName": physical_id}
            ),
            "NotFoundException",
        )


_V2_API = (
    "Name",
    "ProtocolType",
    "Target",
    "RouteKey",
    "CorsConfiguration",
    "Description",
    "DisableExecuteApiEndpoint",
    "Version",
    "Tags",
)


class HttpApiProvider:
    type_name = "AWS::ApiGatewayV2::Api"
    replaced_by = frozenset({"ProtocolType", "Target", "RouteKey"})

    async def _import(
        self, context: ProviderContext, properties: dict[str, Any], definition: str, api_id: str | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"Body": definition}
        if properties.get("FailOnWarnings"):
            params["FailOnWarnings"] = True
        if api_id is None:
            api = await context.call("apigatewayv2", "ImportApi", params)
        else:
            api = await context.call("apigatewayv2", "ReimportApi", {**params, "ApiId": api_id})
        members: dict[str, Any] = {
            member: properties[member]
            for member in ("Name", "Description", "CorsConfiguration", "DisableExecuteApiEndpoint")
            if member in properties
        }
        if members:
            api = await context.call("apigatewayv2", "UpdateApi", {"ApiId": api["ApiId"], **members})
        return api

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        definition = await _definition(context, properties)
        if definition is not None:
            api = await self._import(context, properties, definition, None)
            return Created(api["ApiId"], {"ApiId": api["ApiId"], "ApiEndpoint": api["ApiEndpoint"]})
        params = {member: properties[member] for member in _V2_API if member in properties}
        params.setdefault("Name", context.physical_name(logical_id, 128))
        api = await context.call("apigatewayv2", "CreateApi", params)
        return Created(api["ApiId"], {"ApiId": api["ApiId"], "ApiEndpoint": api["ApiEndpoint"]})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        definition = await _definition(context, properties)
        if definition is not None:
            api = await self._import(context, properties, definition, physical_id)
            return Created(physical_id, {"ApiId": physical_id, "ApiEndpoint": api["ApiEndpoint"]})
        params: dict[str, Any] = {
            member: properties[member]
            for member in ("Name", "CorsConfiguration", "Description", "DisableExecuteApiEndpoint", "Version")
            if member in properties
        }
        api = await context.call("apigatewayv2", "UpdateApi", {"ApiId": physical_id, **params})
        return Created(physical_id, {"ApiId": physical_id, "ApiEndpoint": api["ApiEndpoint"]})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await unless_gone(
            context.call("apigatewayv2", "DeleteApi", {"ApiId": physical_id}), "NotFoundException"
        )


class HttpIntegrationProvider:
    type_name = "AWS::ApiGatewayV2::Integration"
    replaced_by = frozenset({"ApiId"})
    _MEMBERS = (
        "IntegrationType",
        "IntegrationUri",
        "IntegrationMethod",
        "PayloadFormatVersion",
        "TimeoutInMillis",
        "Description",
        "ConnectionType",
        "RequestParameters",
    )

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        params = {
            "ApiId": properties["ApiId"],
            **{m: properties[m] for m in self._MEMBERS if m in properties},
        }
        integration = await context.call("apigatewayv2", "CreateIntegration", params)
        return Created(integration["IntegrationId"], {"IntegrationId": integration["IntegrationId"]})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        params = {
            "ApiId": properties["ApiId"],
            "IntegrationId": physical_id,
            **{m: properties[m] for m in self._MEMBERS if m in properties},
        }
        await context.call("apigatewayv2", "UpdateIntegration", params)
        return Created(physical_id, {"IntegrationId": physical_id})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await unless_gone(
            context.call(
                "apigatewayv2",
                "DeleteIntegration",
                {"ApiId": properties["ApiId"], "IntegrationId": physical_id},
            ),
            "NotFoundException",
        )


class HttpRouteProvider:
    type_name = "AWS::ApiGatewayV2::Route"
    replaced_by = frozenset({"ApiId"})
    _MEMBERS = (
        "RouteKey",
        "Target",
        "AuthorizationType",
        "AuthorizerId",
        "AuthorizationScopes",
        "ApiKeyRequired",
        "OperationName",
    )

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        params = {
            "ApiId": properties["ApiId"],
            **{m: properties[m] for m in self._MEMBERS if m in properties},
        }
        route = await context.call("apigatewayv2", "CreateRoute", params)
        return Created(route["RouteId"], {"RouteId": route["RouteId"]})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        params = {
            "ApiId": properties["ApiId"],
            "RouteId": physical_id,
            **{m: properties[m] for m in self._MEMBERS if m in properties},
        }
        await context.call("apigatewayv2", "UpdateRoute", params)
        return Created(physical_id, {"RouteId": physical_id})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await unless_gone(
            context.call(
                "apigatewayv2", "DeleteRoute", {"ApiId": properties["ApiId"], "RouteId": physical_id}
            ),
            "NotFoundException",
        )


class HttpStageProvider:
    type_name = "AWS::ApiGatewayV2::Stage"
    replaced_by = frozenset({"ApiId", "StageName"})
    _MEMBERS = (
        "AutoDeploy",
        "DeploymentId",
        "Description",
        "StageVariables",
        "DefaultRouteSettings",
        "RouteSettings",
        "AccessLogSettings",
    )

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        params = {
            "ApiId": properties["ApiId"],
            "StageName": properties["StageName"],
            **{m: properties[m] for m in self._MEMBERS if m in properties},
        }
        await context.call("apigatewayv2", "CreateStage", params)
        return Created(str(properties["StageName"]), {})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        params = {
            "ApiId": properties["ApiId"],
            "StageName": physical_id,
            **{m: properties[m] for m in self._MEMBERS if m in properties},
        }
        await context.call("apigatewayv2", "UpdateStage", params)
        return Created(physical_id, {})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await unless_gone(
            context.call(
                "apigatewayv2", "DeleteStage", {"ApiId": properties["ApiId"], "StageName": physical_id}
            ),
            "NotFoundException",
        )
