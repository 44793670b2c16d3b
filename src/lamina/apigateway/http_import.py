"""HTTP APIs from OpenAPI 3 definitions (ImportApi, ReimportApi, and CloudFormation's
AWS::ApiGatewayV2::Api `Body`, which SAM writes for every HttpApi event).

Each operation becomes a route (`GET /items/{id}`; the path `$default` is the default route) with
the integration its `x-amazon-apigateway-integration` describes; security schemes with an
`x-amazon-apigateway-authorizer` become JWT or Lambda authorizers; `x-amazon-apigateway-cors`
is the API's CORS configuration. As with REST imports, the API is built on a draft service and
replaces the real API's routes, integrations and authorizers in one write."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lamina.apigateway.drafts import DraftStore
from lamina.apigateway.http_apis import HttpApi, HttpApiService
from lamina.apigateway.openapi import (
    import_error,
    info_members,
    one_of,
    operations,
    run_importer,
    security_of,
    security_schemes,
    typed,
)
from lamina.apigateway.routes import DEFAULT_ROUTE

__all__ = ["HttpDraft", "draft_http_api"]

MAX_ROUTES = 300  # API Gateway's routes per HTTP API
_INTEGRATION = "x-amazon-apigateway-integration"
_AUTHORIZER = "x-amazon-apigateway-authorizer"
# (the extension's member, the API's, its type)
_INTEGRATION_MEMBERS = (
    ("uri", "IntegrationUri", "str"),
    ("timeoutInMillis", "TimeoutInMillis", "int"),
    ("credentials", "CredentialsArn", "str"),
    ("requestParameters", "RequestParameters", "str_map"),
    ("integrationSubtype", "IntegrationSubtype", "str"),
    ("description", "Description", "str"),
)
_CORS_MEMBERS = (
    ("allowOrigins", "AllowOrigins", "str_list"),
    ("allowHeaders", "AllowHeaders", "str_list"),
    ("allowMethods", "AllowMethods", "str_list"),
    ("exposeHeaders", "ExposeHeaders", "str_list"),
    ("maxAge", "MaxAge", "int"),
    ("allowCredentials", "AllowCredentials", "bool"),
)
_AUTHORIZER_MEMBERS = (
    ("authorizerUri", "AuthorizerUri", "str"),
    ("authorizerPayloadFormatVersion", "AuthorizerPayloadFormatVersion", "str"),
    ("enableSimpleResponses", "EnableSimpleResponses", "bool"),
    ("authorizerResultTtlInSeconds", "AuthorizerResultTtlInSeconds", "int"),
    ("authorizerCredentials", "AuthorizerCredentialsArn", "str"),
    ("identityValidationExpression", "IdentityValidationExpression", "str"),
)
MAX_CORS_AGE_S = 86_400
_REUSABLE = "#/components/x-amazon-apigateway-integrations/"


@dataclass
class HttpDraft:
    api: HttpApi
    warnings: list[str] = field(default_factory=list)


def _identity_sources(value: Any, where: str) -> list[str]:
    if isinstance(value, list):
        return [item.strip() for item in typed(value, "str_list", where)]
    return [item.strip() for item in typed(value, "str", where).split(",") if item.strip()]


class _Importer:
    def __init__(self, service: HttpApiService, draft: HttpApi, document: dict[str, Any]) -> None:
        self.service = service
        self.api = draft
        self.document = document
        self.warnings: list[str] = []
        self.schemes = security_schemes(document)
        self.authorizers: dict[str, dict[str, Any]] = {}

    async def run(self) -> None:
        found = list(operations(self.document))
        if len(found) > MAX_ROUTES:
            raise import_error(f"The definition has more than {MAX_ROUTES} routes (API Gateway's limit)")
        await self._authorizers()
        for path, method, operation in found:
            await self._route(path, method, operation)

    async def _authorizers(self) -> None:
        for name, scheme in self.schemes.items():
            spec = scheme.get(_AUTHORIZER)
            if spec is None:
                continue
            if not isinstance(spec, dict):
                raise import_error(f"Invalid authorizer definition for {name}")
            kind = str(spec.get("type", "")).upper()
            params: dict[str, Any] = {"Name": name, "AuthorizerType": "JWT" if kind == "JWT" else kind}
            where = f"the authorizer of {name}"
            if spec.get("identitySource") is not None:
                params["IdentitySource"] = _identity_sources(
                    spec["identitySource"], f"{where}: identitySource"
                )
            if kind == "JWT":
                jwt = spec.get("jwtConfiguration") or {}
                if not isinstance(jwt, dict):
                    raise import_error(f"Invalid jwtConfiguration for {name}")
                params["JwtConfiguration"] = {
                    "Issuer": typed(jwt.get("issuer"), "str", f"{where}: jwtConfiguration.issuer"),
                    "Audience": typed(
                        jwt.get("audience") or [], "str_list", f"{where}: jwtConfiguration.audience"
                    ),
                }
            else:
                for source, target, kind_of in _AUTHORIZER_MEMBERS:
                    if spec.get(source) is not None:
                        params[target] = typed(spec[source], kind_of, f"{where}: {source}")
            self.authorizers[name] = await self.service.put_authorizer(self.api, params)

    def _integration_spec(self, path: str, method: str, operation: dict[str, Any]) -> dict[str, Any] | None:
        spec = operation.get(_INTEGRATION)
        if isinstance(spec, dict) and "$ref" in spec:
            reference = str(spec["$ref"])
            reusable = ((self.document.get("components") or {}).get("x-amazon-apigateway-integrations")) or {}
            spec = (
                reusable.get(reference.removeprefix(_REUSABLE)) if reference.startswith(_REUSABLE) else None
            )
            if spec is None:
                raise import_error(
                    f"Integration reference {reference[:200]} at {method} {path} is not defined"
                )
        if spec is not None and not isinstance(spec, dict):
            raise import_error(f"Invalid integration for {method} {path}: must be an object")
        return spec

    async def _route(self, path: str, method: str, operation: dict[str, Any]) -> None:
        route: dict[str, Any] = {
            "RouteKey": DEFAULT_ROUTE if path == DEFAULT_ROUTE else f"{method} {path}",
            "AuthorizationType": "NONE",
        }
        if operation.get("operationId"):
            route["OperationName"] = typed(operation["operationId"], "str", f"operationId of {method} {path}")
        for name, scopes in security_of(self.document, operation):
            scheme = self.schemes.get(name)
            if scheme is None:
                raise import_error(f"Security scheme {name} at {method} {path} is not defined")
            if name in self.authorizers:
                authorizer = self.authorizers[name]
                route["AuthorizationType"] = "JWT" if authorizer["AuthorizerType"] == "JWT" else "CUSTOM"
                route["AuthorizerId"] = authorizer["AuthorizerId"]
                if scopes:
                    route["AuthorizationScopes"] = scopes
            elif str(scheme.get("x-amazon-apigateway-authtype", "")).lower() == "awssigv4":
                route["AuthorizationType"] = "AWS_IAM"
        spec = self._integration_spec(path, method, operation)
        if spec is None:
            self.warnings.append(f"No integration defined for {route['RouteKey']}")
        else:
            where = f"the integration of {route['RouteKey']}"
            params: dict[str, Any] = {"IntegrationType": str(spec.get("type", "")).upper()}
            if spec.get("httpMethod"):
                params["IntegrationMethod"] = typed(spec["httpMethod"], "str", f"{where}: httpMethod").upper()
            if spec.get("payloadFormatVersion") is not None:
                params["PayloadFormatVersion"] = str(spec["payloadFormatVersion"])
            for source, target, kind in _INTEGRATION_MEMBERS:
                if spec.get(source) is not None:
                    params[target] = typed(spec[source], kind, f"{where}: {source}")
            if spec.get("connectionType") is not None:
                params["ConnectionType"] = one_of(
                    spec["connectionType"], ("INTERNET", "VPC_LINK"), f"{where}: connectionType"
                )
            responses = spec.get("responseParameters")
            if responses is not None:
                if not isinstance(responses, dict):
                    raise import_error(
                        f"Invalid OpenAPI input: {where}: responseParameters must be an object"
                    )
                params["ResponseParameters"] = {
                    str(status): typed(mapping, "str_map", f"{where}: responseParameters {status}")
                    for status, mapping in responses.items()
                }
            integration = await self.service.put_integration(self.api, params)
            route["Target"] = f"integrations/{integration['IntegrationId']}"
        await self.service.put_route(self.api, route)


def _api_members(document: dict[str, Any]) -> dict[str, Any]:
    members = info_members(document, ("Name", "Description", "Version"))
    cors = document.get("x-amazon-apigateway-cors")
    if cors is not None:
        if not isinstance(cors, dict):
            raise import_error("x-amazon-apigateway-cors must be an object")
        members["CorsConfiguration"] = {
            target: typed(cors[source], kind, f"x-amazon-apigateway-cors: {source}")
            for source, target, kind in _CORS_MEMBERS
            if cors.get(source) is not None
        }
        age = members["CorsConfiguration"].get("MaxAge")
        if age is not None and not -1 <= age <= MAX_CORS_AGE_S:
            raise import_error(f"x-amazon-apigateway-cors: maxAge must be between -1 and {MAX_CORS_AGE_S}")
    tag_list = document.get("tags") or []
    if not isinstance(tag_list, list):
        raise import_error("Invalid OpenAPI input: tags must be a list")
    tags = {
        str(tag["name"]): str(tag["x-amazon-apigateway-tag-value"])
        for tag in tag_list
        if isinstance(tag, dict) and "name" in tag and "x-amazon-apigateway-tag-value" in tag
    }
    if tags:
        members["Tags"] = tags
    return members


async def draft_http_api(
    account: str,
    region: str,
    document: dict[str, Any],
    base: HttpApi | None = None,
    fail_on_warnings: bool = False,
) -> HttpDraft:
    """The HTTP API the definition (read by rest_import.read_definition) describes: a new one,
    or `base` reimported (its routes, integrations and authorizers replaced; its stages kept).
    HttpApiService.import_into takes it."""
    if not str(document.get("openapi", "")).startswith("3."):
        raise import_error("HTTP APIs are imported from OpenAPI 3 definitions ('openapi': '3.0.1')")
    members = _api_members(document)
    if base is None and not members.get("Name"):
        raise import_error("Invalid OpenAPI input: info.title is required to name the API")
    service = HttpApiService(DraftStore(), lambda api_id, region_name: "")
    draft = await service.create_api(
        account, region, {"ProtocolType": "HTTP", "Name": members.get("Name") or "draft"}
    )
    if base is not None:
        draft.document = {**base.document, **members}
    else:
        draft.document.update(members)
    importer = _Importer(service, draft, document)
    await run_importer(importer.run, importer.warnings, fail_on_warnings)
    return HttpDraft(draft, importer.warnings)
