"""REST APIs from OpenAPI definitions (ImportRestApi, PutRestApi, and CloudFormation's
AWS::ApiGateway::RestApi `Body`, which is how SAM describes every API it makes).

The definition is built on a draft service (see drafts.py) through the control plane's own
operations, so a definition can ask for nothing CreateResource, PutMethod or PutIntegration would
refuse; `overwrite` starts from an empty root, `merge` from a copy of the current API. Extensions
Lamina does not act on are reported as warnings (failOnWarnings turns them into the error)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from lamina.apigateway.drafts import DraftStore
from lamina.apigateway.errors import bad_request
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
from lamina.apigateway.rest_apis import RestApi, RestApiService

__all__ = ["RestDraft", "draft_rest_api"]

_INTEGRATION = "x-amazon-apigateway-integration"
_AUTHORIZER = "x-amazon-apigateway-authorizer"
_AUTH_TYPE = "x-amazon-apigateway-authtype"
# (the extension's member, PutIntegration's, its type)
_INTEGRATION_MEMBERS = (
    ("uri", "uri", "str"),
    ("credentials", "credentials", "str"),
    ("requestParameters", "requestParameters", "str_map"),
    ("requestTemplates", "requestTemplates", "str_map"),
    ("timeoutInMillis", "timeoutInMillis", "int"),
    ("cacheKeyParameters", "cacheKeyParameters", "str_list"),
    ("cacheNamespace", "cacheNamespace", "str"),
    ("connectionId", "connectionId", "str"),
)
_AUTHORIZER_MEMBERS = (
    ("authorizerUri", "str"),
    ("authorizerCredentials", "str"),
    ("identityValidationExpression", "str"),
    ("authorizerResultTtlInSeconds", "int"),
    ("providerARNs", "str_list"),
)
CONTENT_HANDLING = ("CONVERT_TO_BINARY", "CONVERT_TO_TEXT")
_ACTED_ON = frozenset(
    {
        _INTEGRATION,
        "x-amazon-apigateway-binary-media-types",
        "x-amazon-apigateway-api-key-source",
        "x-amazon-apigateway-policy",
        "x-amazon-apigateway-endpoint-configuration",
    }
)
MAX_RESOURCES = 300  # API Gateway's resources per API
_PARAMETER_PLACES = {"path": "path", "query": "querystring", "header": "header"}


@dataclass
class RestDraft:
    api: RestApi
    warnings: list[str] = field(default_factory=list)


def _upper(value: Any) -> str:
    return str(value or "").upper()


class _Importer:
    def __init__(self, service: RestApiService, draft: RestApi, document: dict[str, Any]) -> None:
        self.service = service
        self.api = draft
        self.document = document
        self.warnings: list[str] = []
        self.schemes = security_schemes(document)
        self.authorizer_ids: dict[str, str] = {}
        self.by_path = {resource["path"]: rid for rid, resource in draft.resources.items()}

    async def run(self) -> None:
        if len(self.document.get("paths") or {}) > MAX_RESOURCES:
            raise import_error(f"The definition has more than {MAX_RESOURCES} paths (API Gateway's limit)")
        await self._authorizers()
        for path, method, operation in operations(self.document):
            await self._operation(path, method, operation)
        for key in self.document:
            if str(key).startswith("x-amazon-apigateway-") and key not in _ACTED_ON:
                self.warnings.append(f"Lamina does not act on {key}; it was ignored")

    async def _authorizers(self) -> None:
        by_name = {authorizer["name"]: authorizer["id"] for authorizer in self.api.authorizers.values()}
        for name, scheme in self.schemes.items():
            spec = scheme.get(_AUTHORIZER)
            if spec is None:
                continue
            if not isinstance(spec, dict):
                raise import_error(f"Invalid authorizer definition for {name}")
            kind = _upper(spec.get("type"))
            where = f"the authorizer of {name}"
            params: dict[str, Any] = {"name": name, "type": kind}
            if kind == "TOKEN":
                params["identitySource"] = spec.get("identitySource") or (
                    f"method.request.header.{typed(scheme.get('name') or 'Authorization', 'str', where)}"
                )
            elif spec.get("identitySource"):
                params["identitySource"] = spec["identitySource"]
            if "identitySource" in params:
                typed(params["identitySource"], "str", f"{where}: identitySource")
            for member, kind_of in _AUTHORIZER_MEMBERS:
                if spec.get(member) is not None:
                    params[member] = typed(spec[member], kind_of, f"{where}: {member}")
            previous = by_name.get(name)
            if previous is not None:  # merge: the definition's authorizer replaces the API's
                del self.api.authorizers[previous]
            created = await self.service.create_authorizer(self.api, params)
            if previous is not None:  # under the old id, which methods outside the definition name
                del self.api.authorizers[created["id"]]
                created["id"] = previous
                self.api.authorizers[previous] = created
            self.authorizer_ids[name] = created["id"]

    def _method_params(self, path: str, operation: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {"authorizationType": "NONE"}
        for name, scopes in security_of(self.document, operation):
            scheme = self.schemes.get(name)
            if scheme is None:
                raise import_error(f"Security scheme {name} at '{path}' is not defined")
            if name in self.authorizer_ids:
                kind = _upper((scheme.get(_AUTHORIZER) or {}).get("type"))
                params["authorizationType"] = (
                    "COGNITO_USER_POOLS" if kind == "COGNITO_USER_POOLS" else "CUSTOM"
                )
                params["authorizerId"] = self.authorizer_ids[name]
                if scopes:
                    params["authorizationScopes"] = scopes
            elif str(scheme.get(_AUTH_TYPE, "")).lower() == "awssigv4":
                params["authorizationType"] = "AWS_IAM"
            elif scheme.get("type") == "apiKey":
                params["apiKeyRequired"] = True
        request_parameters: dict[str, bool] = {}
        for parameter in operation.get("parameters") or []:
            if (
                isinstance(parameter, dict)
                and parameter.get("in") in _PARAMETER_PLACES
                and "name" in parameter
            ):
                place = _PARAMETER_PLACES[parameter["in"]]
                request_parameters[f"method.request.{place}.{parameter['name']}"] = bool(
                    parameter.get("required", False)
                )
        if request_parameters:
            params["requestParameters"] = request_parameters
        if operation.get("operationId"):
            params["operationName"] = typed(operation["operationId"], "str", f"operationId at '{path}'")
        return params

    async def _resource_for(self, path: str) -> str:
        if not path.startswith("/"):
            raise import_error(f"Invalid path '{path[:200]}': paths start with /")
        by_path = self.by_path
        current = str(self.api.document["rootResourceId"])
        walked = ""
        for part in [part for part in path.split("/") if part]:
            walked += "/" + part
            if walked not in by_path:
                created = await self.service.create_resource(self.api, current, part)
                by_path[walked] = created["id"]
            current = by_path[walked]
        if len(self.api.resources) > MAX_RESOURCES:
            raise import_error(
                f"The definition makes more than {MAX_RESOURCES} resources (API Gateway's limit)"
            )
        return current

    async def _operation(self, path: str, method: str, operation: dict[str, Any]) -> None:
        resource_id = await self._resource_for(path)
        if method in self.api.resource(resource_id).get("resourceMethods", {}):
            await self.service.delete_method(self.api, resource_id, method)  # merge: replaced
        await self.service.put_method(self.api, resource_id, method, self._method_params(path, operation))
        responses = operation.get("responses") or {}
        if not isinstance(responses, dict):
            raise import_error(f"Invalid OpenAPI input: responses of {method} {path} must be an object")
        for status, response in responses.items():
            if not str(status).isdigit():
                continue  # "default" describes errors; API Gateway makes no method response of it
            headers = (response or {}).get("headers") if isinstance(response, dict) else None
            params = {}
            if isinstance(headers, dict) and headers:
                params["responseParameters"] = {f"method.response.header.{name}": False for name in headers}
            await self.service.put_method_response(self.api, resource_id, method, str(status), params)
        integration = operation.get(_INTEGRATION)
        if integration is None:
            self.warnings.append(f"No integration defined for method {method} {path}")
            return
        if not isinstance(integration, dict):
            raise import_error(f"Invalid integration for {method} {path}: must be an object")
        await self._integration(path, method, resource_id, integration)

    async def _integration(
        self, path: str, method: str, resource_id: str, integration: dict[str, Any]
    ) -> None:
        params: dict[str, Any] = {"type": _upper(integration.get("type"))}
        if integration.get("httpMethod"):
            params["integrationHttpMethod"] = _upper(integration["httpMethod"])
        if integration.get("passthroughBehavior"):
            params["passthroughBehavior"] = _upper(integration["passthroughBehavior"])
        where = f"the integration of {method} {path}"
        for source, target, kind in _INTEGRATION_MEMBERS:
            if integration.get(source) is not None:
                params[target] = typed(integration[source], kind, f"{where}: {source}")
        if integration.get("contentHandling") is not None:
            params["contentHandling"] = one_of(
                integration["contentHandling"], CONTENT_HANDLING, f"{where}: contentHandling"
            )
        if integration.get("connectionType") is not None:
            params["connectionType"] = one_of(
                integration["connectionType"], ("INTERNET", "VPC_LINK"), f"{where}: connectionType"
            )
        await self.service.put_integration(self.api, resource_id, method, params)
        responses = integration.get("responses") or {}
        if not isinstance(responses, dict):
            raise import_error(f"Invalid integration responses for {method} {path}: must be an object")
        method_responses = self.api.method(resource_id, method).get("methodResponses", {})
        for pattern, response in responses.items():
            if not isinstance(response, dict) or "statusCode" not in response:
                raise import_error(f"Invalid integration response '{pattern}' for {method} {path}")
            status = str(response["statusCode"])
            if status not in method_responses:
                header_names = {
                    f"method.response.header.{str(key).rsplit('.', 1)[-1]}": False
                    for key in typed(
                        response.get("responseParameters") or {}, "str_map", f"{where}: responseParameters"
                    )
                }
                params = {"responseParameters": header_names} if header_names else {}
                await self.service.put_method_response(self.api, resource_id, method, status, params)
            item: dict[str, Any] = {}
            if pattern != "default":
                item["selectionPattern"] = str(pattern)
            for member in ("responseParameters", "responseTemplates"):
                if response.get(member) is not None:
                    item[member] = typed(
                        response[member], "str_map", f"{where}: responses '{pattern}': {member}"
                    )
            if response.get("contentHandling") is not None:
                item["contentHandling"] = one_of(
                    response["contentHandling"],
                    CONTENT_HANDLING,
                    f"{where}: responses '{pattern}': contentHandling",
                )
            await self.service.put_integration_response(self.api, resource_id, method, status, item)


def _api_members(document: dict[str, Any]) -> dict[str, Any]:
    members = info_members(document, ("name", "description", "version"))
    binary = document.get("x-amazon-apigateway-binary-media-types")
    if binary is not None:
        members["binaryMediaTypes"] = typed(binary, "str_list", "x-amazon-apigateway-binary-media-types")
    key_source = document.get("x-amazon-apigateway-api-key-source")
    if key_source is not None:
        members["apiKeySource"] = one_of(
            key_source, ("HEADER", "AUTHORIZER"), "x-amazon-apigateway-api-key-source"
        )
    return members


async def draft_rest_api(
    account: str,
    region: str,
    document: dict[str, Any],
    base: RestApi | None = None,
    mode: str = "overwrite",
    fail_on_warnings: bool = False,
) -> RestDraft:
    """The API the definition (read by read_definition) describes: a new one, or `base`
    overwritten or merged. The real service adopts the draft (RestApiService.import_into)."""
    if mode not in ("overwrite", "merge"):
        raise bad_request("Invalid mode: overwrite or merge")
    service = RestApiService(DraftStore())
    members = _api_members(document)
    if base is None and not members.get("name"):
        raise import_error("Invalid OpenAPI input: info.title is required to name the API")
    draft = await service.create_api(account, region, {"name": members.get("name") or "draft"})
    if base is not None:
        root = str(base.document["rootResourceId"])
        draft.document = {**copy.deepcopy(base.document), **members}
        if mode == "merge":
            draft.resources = copy.deepcopy(base.resources)
            draft.authorizers = copy.deepcopy(base.authorizers)
        else:
            draft.resources = {root: {"id": root, "path": "/"}}
            draft.authorizers = {}
    else:
        draft.document.update(members)
    importer = _Importer(service, draft, document)
    await run_importer(importer.run, importer.warnings, fail_on_warnings)
    return RestDraft(draft, importer.warnings)
