"""Who may call an API, as stack resources: AWS::ApiGateway::Authorizer, ::ApiKey, ::UsagePlan and
::UsagePlanKey (what SAM writes for an Api's Auth with ApiKeyRequired and a UsagePlan), and
AWS::ApiGatewayV2::Authorizer. A usage plan is replaced rather than patched when it changes (see
docs/compatibility.md): its id changes, its keys are made again by the stack."""

from __future__ import annotations

from typing import Any

from lamina.deploy.providers.base import Created, ProviderContext, unless_gone

__all__ = [
    "ApiKeyProvider",
    "HttpAuthorizerProvider",
    "RestAuthorizerProvider",
    "UsagePlanKeyProvider",
    "UsagePlanProvider",
]

_GONE = "NotFoundException"
_REST_AUTHORIZER = (
    ("Name", "name"),
    ("Type", "type"),
    ("AuthorizerUri", "authorizerUri"),
    ("AuthorizerCredentials", "authorizerCredentials"),
    ("IdentitySource", "identitySource"),
    ("IdentityValidationExpression", "identityValidationExpression"),
    ("AuthorizerResultTtlInSeconds", "authorizerResultTtlInSeconds"),
    ("AuthType", "authType"),
)
_HTTP_AUTHORIZER = (
    "Name",
    "AuthorizerType",
    "AuthorizerUri",
    "AuthorizerCredentialsArn",
    "AuthorizerPayloadFormatVersion",
    "AuthorizerResultTtlInSeconds",
    "EnableSimpleResponses",
    "IdentitySource",
    "IdentityValidationExpression",
    "JwtConfiguration",
)


class RestAuthorizerProvider:
    type_name = "AWS::ApiGateway::Authorizer"
    replaced_by = frozenset({"RestApiId", "ProviderARNs"})

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        params: dict[str, Any] = {"restApiId": properties["RestApiId"]}
        params |= {target: properties[source] for source, target in _REST_AUTHORIZER if source in properties}
        if "ProviderARNs" in properties:
            params["providerARNs"] = properties["ProviderARNs"]
        params.setdefault("name", logical_id)
        authorizer = await context.call("apigateway", "CreateAuthorizer", params)
        return Created(authorizer["id"], {"AuthorizerId": authorizer["id"]})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        patches = [
            {"op": "replace", "path": f"/{target}", "value": str(properties[source])}
            for source, target in _REST_AUTHORIZER
            if source in properties and properties[source] != previous.get(source)
        ]
        if patches:
            await context.call(
                "apigateway",
                "UpdateAuthorizer",
                {
                    "restApiId": properties["RestApiId"],
                    "authorizerId": physical_id,
                    "patchOperations": patches,
                },
            )
        return Created(physical_id, {"AuthorizerId": physical_id})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await unless_gone(
            context.call(
                "apigateway",
                "DeleteAuthorizer",
                {"restApiId": properties["RestApiId"], "authorizerId": physical_id},
            ),
            _GONE,
        )


class ApiKeyProvider:
    type_name = "AWS::ApiGateway::ApiKey"
    replaced_by = frozenset({"Name", "Value", "GenerateDistinctId"})

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        params: dict[str, Any] = {
            "name": properties.get("Name") or context.physical_name(logical_id, 128),
            "enabled": str(properties.get("Enabled", False)).lower() == "true",
        }
        for source, target in (
            ("Description", "description"),
            ("Value", "value"),
            ("CustomerId", "customerId"),
        ):
            if source in properties:
                params[target] = properties[source]
        if properties.get("StageKeys"):
            params["stageKeys"] = [
                {"restApiId": key.get("RestApiId"), "stageName": key.get("StageName")}
                for key in properties["StageKeys"]
            ]
        key = await context.call("apigateway", "CreateApiKey", params)
        return Created(key["id"], {"APIKeyId": key["id"]})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        patches = []
        if str(properties.get("Enabled", False)).lower() != str(previous.get("Enabled", False)).lower():
            patches.append(
                {"op": "replace", "path": "/enabled", "value": str(properties.get("Enabled", False)).lower()}
            )
        if properties.get("Description") != previous.get("Description"):
            patches.append(
                {"op": "replace", "path": "/description", "value": str(properties.get("Description") or "")}
            )
        if patches:
            await context.call(
                "apigateway", "UpdateApiKey", {"apiKey": physical_id, "patchOperations": patches}
            )
        return Created(physical_id, {"APIKeyId": physical_id})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await unless_gone(context.call("apigateway", "DeleteApiKey", {"apiKey": physical_id}), _GONE)


def _limits(properties: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    throttle = properties.get("Throttle")
    if throttle:
        params["throttle"] = {
            key: value
            for key, value in (
                ("burstLimit", throttle.get("BurstLimit")),
                ("rateLimit", throttle.get("RateLimit")),
            )
            if value is not None
        }
    quota = properties.get("Quota")
    if quota:
        params["quota"] = {
            key: value
            for key, value in (
                ("limit", quota.get("Limit")),
                ("offset", quota.get("Offset")),
                ("period", quota.get("Period")),
            )
            if value is not None
        }
    return params


class UsagePlanProvider:
    type_name = "AWS::ApiGateway::UsagePlan"
    replaced_by = frozenset({"UsagePlanName", "ApiStages", "Throttle", "Quota", "Description"})

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        params: dict[str, Any] = {
            "name": properties.get("UsagePlanName") or context.physical_name(logical_id, 128)
        }
        if "Description" in properties:
            params["description"] = properties["Description"]
        if properties.get("ApiStages"):
            params["apiStages"] = [
                {"apiId": stage["ApiId"], "stage": stage["Stage"]} for stage in properties["ApiStages"]
            ]
        params |= _limits(properties)
        plan = await context.call("apigateway", "CreateUsagePlan", params)
        return Created(plan["id"], {"Id": plan["id"]})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        return Created(physical_id, {"Id": physical_id})  # every property replaces the plan

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await unless_gone(context.call("apigateway", "DeleteUsagePlan", {"usagePlanId": physical_id}), _GONE)


class UsagePlanKeyProvider:
    type_name = "AWS::ApiGateway::UsagePlanKey"
    replaced_by = frozenset({"KeyId", "KeyType", "UsagePlanId"})

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        await context.call(
            "apigateway",
            "CreateUsagePlanKey",
            {
                "usagePlanId": properties["UsagePlanId"],
                "keyId": properties["KeyId"],
                "keyType": properties.get("KeyType", "API_KEY"),
            },
        )
        return Created(f"{properties['KeyId']}:{properties['UsagePlanId']}", {})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        return Created(physical_id, {})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        key_id, _, plan_id = physical_id.partition(":")
        await unless_gone(
            context.call("apigateway", "DeleteUsagePlanKey", {"usagePlanId": plan_id, "keyId": key_id}), _GONE
        )


class HttpAuthorizerProvider:
    type_name = "AWS::ApiGatewayV2::Authorizer"
    replaced_by = frozenset({"ApiId"})

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        params = {member: properties[member] for member in _HTTP_AUTHORIZER if member in properties}
        params.setdefault("Name", logical_id)
        authorizer = await context.call(
            "apigatewayv2", "CreateAuthorizer", {"ApiId": properties["ApiId"], **params}
        )
        return Created(authorizer["AuthorizerId"], {"AuthorizerId": authorizer["AuthorizerId"]})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        params = {member: properties[member] for member in _HTTP_AUTHORIZER if member in properties}
        await context.call(
            "apigatewayv2",
            "UpdateAuthorizer",
            {"ApiId": properties["ApiId"], "AuthorizerId": physical_id, **params},
        )
        return Created(physical_id, {"AuthorizerId": physical_id})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await unless_gone(
            context.call(
                "apigatewayv2",
                "DeleteAuthorizer",
                {"ApiId": properties["ApiId"], "AuthorizerId": physical_id},
            ),
            _GONE,
        )
