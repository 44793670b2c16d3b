"""API Gateway (v1) REST API operations: decoded params in, the REST API service called, the wire
output back. The account is the caller's, the region the one the request was signed for."""

from __future__ import annotations

import copy
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from lamina.api.context import OperationResult, RequestContext
from lamina.api.services import paging
from lamina.apigateway.errors import bad_request
from lamina.apigateway.execution_log import ExecutionLog
from lamina.apigateway.openapi import read_definition
from lamina.apigateway.requests import ApiRequest
from lamina.apigateway.rest_apis import RestApi, RestApiService
from lamina.apigateway.rest_import import draft_rest_api
from lamina.apigateway.rest_integrations import HttpCall, LambdaCall, run_integration
from lamina.domain.ids import new_request_id

__all__ = ["OPERATIONS", "RestApiOperations"]

OPERATIONS = (
    "CreateRestApi",
    "GetRestApi",
    "GetRestApis",
    "UpdateRestApi",
    "ImportRestApi",
    "PutRestApi",
    "DeleteRestApi",
    "CreateResource",
    "GetResource",
    "GetResources",
    "UpdateResource",
    "DeleteResource",
    "PutMethod",
    "GetMethod",
    "UpdateMethod",
    "DeleteMethod",
    "PutMethodResponse",
    "GetMethodResponse",
    "UpdateMethodResponse",
    "DeleteMethodResponse",
    "PutIntegration",
    "GetIntegration",
    "UpdateIntegration",
    "DeleteIntegration",
    "PutIntegrationResponse",
    "GetIntegrationResponse",
    "UpdateIntegrationResponse",
    "DeleteIntegrationResponse",
    "CreateDeployment",
    "GetDeployment",
    "GetDeployments",
    "DeleteDeployment",
    "CreateStage",
    "GetStage",
    "GetStages",
    "UpdateStage",
    "DeleteStage",
    "TestInvokeMethod",
    "CreateAuthorizer",
    "GetAuthorizer",
    "GetAuthorizers",
    "UpdateAuthorizer",
    "DeleteAuthorizer",
)
_DEFAULT_LIMIT = 25
_MAX_LIMIT = 500
TEST_STAGE = "test-invoke-stage"
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 field-name
_LINE_BREAK = re.compile(r"[\r\n\x00]")


def paged(items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    limit = params.get("limit") or _DEFAULT_LIMIT
    if not 1 <= limit <= _MAX_LIMIT:
        raise bad_request(f"Invalid limit: must be between 1 and {_MAX_LIMIT}")
    chosen, more = paging.page(items, params.get("position"), limit, lambda: bad_request("Invalid position"))
    output: dict[str, Any] = {"items": chosen}
    if "NextToken" in more:
        output["position"] = more["NextToken"]
    return output


def _resource_output(resource: dict[str, Any], embed: bool) -> dict[str, Any]:
    output = {name: value for name, value in resource.items() if name != "resourceMethods"}
    methods = resource.get("resourceMethods")
    if methods:
        output["resourceMethods"] = copy.deepcopy(methods) if embed else {name: {} for name in methods}
    return output


def _with_warnings(document: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    return {**document, "warnings": warnings} if warnings else document


class RestApiOperations:
    def __init__(self, service: RestApiService, lambdas: LambdaCall, http: HttpCall) -> None:
        self._service = service
        self._lambdas = lambdas
        self._http = http

    def _api(self, params: dict[str, Any], context: RequestContext) -> RestApi:
        return self._service.api(context.principal.account, context.region, params["restApiId"])

    # APIs ----------------------------------------------------------------------------------------
    async def create_rest_api(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        api = await self._service.create_api(context.principal.account, context.region, params)
        return OperationResult(api.document)

    async def _import(
        self, params: dict[str, Any], context: RequestContext, api_id: str | None, mode: str
    ) -> OperationResult:
        document = await read_definition(params.get("body") or b"")
        warnings: list[str] = []

        async def build(current: RestApi | None) -> RestApi:
            draft = await draft_rest_api(
                context.principal.account,
                context.region,
                document,
                base=current,
                mode=mode,
                fail_on_warnings=bool(params.get("failOnWarnings")),
            )
            warnings.extend(draft.warnings)
            return draft.api

        api = await self._service.import_into(context.principal.account, context.region, api_id, build)
        return OperationResult(_with_warnings(api.document, warnings))

    async def import_rest_api(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return await self._import(params, context, None, "overwrite")

    async def put_rest_api(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return await self._import(params, context, params["restApiId"], params.get("mode") or "merge")

    async def get_rest_api(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(self._api(params, context).document)

    async def get_rest_apis(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        apis = self._service.apis(context.principal.account, context.region)
        return OperationResult(paged([api.document for api in apis], params))

    async def update_rest_api(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region = context.principal.account, context.region
        api = await self._service.update_api(
            account, region, params["restApiId"], params.get("patchOperations") or []
        )
        return OperationResult(api.document)

    async def delete_rest_api(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.delete_api(context.principal.account, context.region, params["restApiId"])
        return OperationResult({})

    # resources -----------------------------------------------------------------------------------
    async def create_resource(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        api = self._api(params, context)
        return OperationResult(
            await self._service.create_resource(api, params["parentId"], params["pathPart"])
        )

    async def get_resource(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        resource = self._api(params, context).resource(params["resourceId"])
        return OperationResult(_resource_output(resource, "methods" in (params.get("embed") or [])))

    async def get_resources(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        api = self._api(params, context)
        embed = "methods" in (params.get("embed") or [])
        resources = sorted(api.resources.values(), key=lambda resource: resource["path"])
        return OperationResult(paged([_resource_output(resource, embed) for resource in resources], params))

    async def update_resource(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        api = self._api(params, context)
        return OperationResult(
            await self._service.update_resource(
                api, params["resourceId"], params.get("patchOperations") or []
            )
        )

    async def delete_resource(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.delete_resource(self._api(params, context), params["resourceId"])
        return OperationResult({})

    # methods -------------------------------------------------------------------------------------
    async def put_method(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        api = self._api(params, context)
        return OperationResult(
            await self._service.put_method(api, params["resourceId"], params["httpMethod"], params)
        )

    async def get_method(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(self._api(params, context).method(params["resourceId"], params["httpMethod"]))

    async def update_method(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        api = self._api(params, context)
        patches = params.get("patchOperations") or []
        return OperationResult(
            await self._service.update_method(api, params["resourceId"], params["httpMethod"], patches)
        )

    async def delete_method(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.delete_method(
            self._api(params, context), params["resourceId"], params["httpMethod"]
        )
        return OperationResult({})

    async def put_method_response(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        api = self._api(params, context)
        response = await self._service.put_method_response(
            api, params["resourceId"], params["httpMethod"], params["statusCode"], params
        )
        return OperationResult(response)

    async def get_method_response(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        api = self._api(params, context)
        return OperationResult(
            self._service.method_response(
                api, params["resourceId"], params["httpMethod"], params["statusCode"]
            )
        )

    async def update_method_response(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        api = self._api(params, context)
        patches = params.get("patchOperations") or []
        response = await self._service.update_method_response(
            api, params["resourceId"], params["httpMethod"], params["statusCode"], patches
        )
        return OperationResult(response)

    async def delete_method_response(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        api = self._api(params, context)
        await self._service.delete_method_response(
            api, params["resourceId"], params["httpMethod"], params["statusCode"]
        )
        return OperationResult({})

    # integrations --------------------------------------------------------------------------------
    async def put_integration(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        api = self._api(params, context)
        return OperationResult(
            await self._service.put_integration(api, params["resourceId"], params["httpMethod"], params)
        )

    async def get_integration(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(
            self._api(params, context).integration(params["resourceId"], params["httpMethod"])
        )

    async def update_integration(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        api = self._api(params, context)
        patches = params.get("patchOperations") or []
        return OperationResult(
            await self._service.update_integration(api, params["resourceId"], params["httpMethod"], patches)
        )

    async def delete_integration(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.delete_integration(
            self._api(params, context), params["resourceId"], params["httpMethod"]
        )
        return OperationResult({})

    async def put_integration_response(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        api = self._api(params, context)
        response = await self._service.put_integration_response(
            api, params["resourceId"], params["httpMethod"], params["statusCode"], params
        )
        return OperationResult(response)

    async def get_integration_response(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        api = self._api(params, context)
        return OperationResult(
            self._service.integration_response(
                api, params["resourceId"], params["httpMethod"], params["statusCode"]
            )
        )

    async def update_integration_response(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        api = self._api(params, context)
        patches = params.get("patchOperations") or []
        response = await self._service.update_integration_response(
            api, params["resourceId"], params["httpMethod"], params["statusCode"], patches
        )
        return OperationResult(response)

    async def delete_integration_response(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        api = self._api(params, context)
        await self._service.delete_integration_response(
            api, params["resourceId"], params["httpMethod"], params["statusCode"]
        )
        return OperationResult({})

    # deployments and stages ----------------------------------------------------------------------
    async def create_deployment(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        deployment = await self._service.create_deployment(self._api(params, context), params)
        return OperationResult(deployment.document)

    async def get_deployment(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(self._api(params, context).deployment(params["deploymentId"]).document)

    async def get_deployments(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        deployments = self._api(params, context).deployments.values()
        documents = sorted(
            (deployment.document for deployment in deployments), key=lambda d: (d["createdDate"], d["id"])
        )
        return OperationResult(paged(documents, params))

    async def delete_deployment(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.delete_deployment(self._api(params, context), params["deploymentId"])
        return OperationResult({})

    async def create_stage(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(await self._service.create_stage(self._api(params, context), params))

    async def get_stage(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(self._api(params, context).stage(params["stageName"]))

    async def get_stages(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        stages = self._api(params, context).stages.values()
        wanted = params.get("deploymentId")
        chosen = [stage for stage in stages if wanted is None or stage["deploymentId"] == wanted]
        return OperationResult({"item": sorted(chosen, key=lambda stage: stage["stageName"])})

    async def update_stage(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        api = self._api(params, context)
        return OperationResult(
            await self._service.update_stage(api, params["stageName"], params.get("patchOperations") or [])
        )

    async def delete_stage(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.delete_stage(self._api(params, context), params["stageName"])
        return OperationResult({})

    # authorizers ---------------------------------------------------------------------------------
    async def create_authorizer(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(await self._service.create_authorizer(self._api(params, context), params))

    async def get_authorizer(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(self._service.authorizer(self._api(params, context), params["authorizerId"]))

    async def get_authorizers(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        authorizers = sorted(self._api(params, context).authorizers.values(), key=lambda item: item["name"])
        return OperationResult(paged(authorizers, params))

    async def update_authorizer(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        api = self._api(params, context)
        patches = params.get("patchOperations") or []
        return OperationResult(await self._service.update_authorizer(api, params["authorizerId"], patches))

    async def delete_authorizer(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.delete_authorizer(self._api(params, context), params["authorizerId"])
        return OperationResult({})

    # the console's test button -------------------------------------------------------------------
    async def test_invoke_method(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        """The method run against the API as it is now (not as deployed), in the stage
        `test-invoke-stage`, without authorization: status, body, headers and the execution log."""
        api = self._api(params, context)
        resource = api.resource(params["resourceId"])
        method = api.method(params["resourceId"], params["httpMethod"])
        try:
            target = urlsplit(params.get("pathWithQueryString") or resource["path"])
        except ValueError:
            raise bad_request("Invalid pathWithQueryString") from None
        given = {**(params.get("headers") or {}), **(params.get("multiValueHeaders") or {})}
        if any(not _HEADER_NAME.fullmatch(name) for name in given):
            raise bad_request("Invalid header name in headers")
        matched = api.tree.match(target.path or "/")
        path_parameters = matched[1] if matched is not None and matched[0] == resource["id"] else {}
        headers = {name.lower(): value for name, value in (params.get("headers") or {}).items()}
        for name, values in (params.get("multiValueHeaders") or {}).items():
            headers[name.lower()] = ",".join(values)
        if any(_LINE_BREAK.search(value) for value in headers.values()):
            raise bad_request("Invalid header value in headers")
        request_id = new_request_id()
        request = ApiRequest(
            params["httpMethod"].upper(),
            target.path or resource["path"],
            target.query,
            headers,
            (params.get("body") or "").encode(),
            "test-invoke-source-ip",
            request_id,
            datetime.now(UTC),
            "testPrefix.testDomainName",
        )
        log = ExecutionLog(request_id)
        variables = dict(params.get("stageVariables") or {})
        call = api.method_call(TEST_STAGE, variables, resource, method, path_parameters, request, log)
        started = time.perf_counter()
        response = await run_integration(call, self._lambdas, self._http)
        latency = int((time.perf_counter() - started) * 1000)
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in response.headers:
            single[name] = value
            multi.setdefault(name, []).append(value)
        body = response.body.decode("utf-8", "replace")
        output = {
            "status": response.status,
            "body": body,
            "headers": single,
            "multiValueHeaders": multi,
            "log": log.text(),
            "latency": latency,
        }
        return OperationResult(output)
