"""API Gateway v2 (HTTP APIs) operations: decoded params in, the HTTP API service called, the wire
output back. Lists page with an opaque NextToken."""

from __future__ import annotations

from typing import Any

from lamina.api.context import OperationResult, RequestContext
from lamina.api.services import paging
from lamina.apigateway.errors import bad_request
from lamina.apigateway.http_apis import HttpApi, HttpApiService
from lamina.apigateway.http_import import draft_http_api
from lamina.apigateway.openapi import read_definition

__all__ = ["HTTP_OPERATIONS", "HttpApiOperations"]

HTTP_OPERATIONS = (
    "CreateApi",
    "GetApi",
    "GetApis",
    "UpdateApi",
    "DeleteApi",
    "ImportApi",
    "ReimportApi",
    "CreateRoute",
    "GetRoute",
    "GetRoutes",
    "UpdateRoute",
    "DeleteRoute",
    "CreateIntegration",
    "GetIntegration",
    "GetIntegrations",
    "UpdateIntegration",
    "DeleteIntegration",
    "CreateAuthorizer",
    "GetAuthorizer",
    "GetAuthorizers",
    "UpdateAuthorizer",
    "DeleteAuthorizer",
    "CreateDeployment",
    "GetDeployment",
    "GetDeployments",
    "DeleteDeployment",
    "CreateStage",
    "GetStage",
    "GetStages",
    "UpdateStage",
    "DeleteStage",
)
_DEFAULT_PAGE = 100
_MAX_PAGE = 500


def _items(items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    text = str(params.get("MaxResults") or _DEFAULT_PAGE)
    if not text.isdigit() or not 1 <= int(text) <= _MAX_PAGE:
        raise bad_request(f"MaxResults must be a number from 1 to {_MAX_PAGE}")
    size = int(text)
    chosen, more = paging.page(items, params.get("NextToken"), size, lambda: bad_request("Invalid NextToken"))
    return {"Items": chosen, **more}


class HttpApiOperations:
    def __init__(self, service: HttpApiService) -> None:
        self._service = service

    def _api(self, params: dict[str, Any], context: RequestContext) -> HttpApi:
        return self._service.api(context.principal.account, context.region, params["ApiId"])

    # APIs ----------------------------------------------------------------------------------------
    async def create_api(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        api = await self._service.create_api(context.principal.account, context.region, params)
        return OperationResult(api.document)

    async def _import(
        self, params: dict[str, Any], context: RequestContext, api_id: str | None
    ) -> OperationResult:
        document = await read_definition(params.get("Body") or "")
        warnings: list[str] = []

        async def build(current: HttpApi | None) -> HttpApi:
            draft = await draft_http_api(
                context.principal.account,
                context.region,
                document,
                base=current,
                fail_on_warnings=bool(params.get("FailOnWarnings")),
            )
            warnings.extend(draft.warnings)
            return draft.api

        api = await self._service.import_into(context.principal.account, context.region, api_id, build)
        return OperationResult({**api.document, **({"Warnings": warnings} if warnings else {})})

    async def import_api(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return await self._import(params, context, None)

    async def reimport_api(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return await self._import(params, context, params["ApiId"])

    async def get_api(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(self._api(params, context).document)

    async def get_apis(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        apis = self._service.apis(context.principal.account, context.region)
        return OperationResult(_items([api.document for api in apis], params))

    async def update_api(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult((await self._service.update_api(self._api(params, context), params)).document)

    async def delete_api(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.delete_api(self._api(params, context))
        return OperationResult({})

    # routes --------------------------------------------------------------------------------------
    async def create_route(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(await self._service.put_route(self._api(params, context), params))

    async def get_route(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(self._api(params, context).route(params["RouteId"]))

    async def get_routes(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        routes = sorted(self._api(params, context).routes.values(), key=lambda route: route["RouteKey"])
        return OperationResult(_items(routes, params))

    async def update_route(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(
            await self._service.put_route(self._api(params, context), params, params["RouteId"])
        )

    async def delete_route(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.delete_route(self._api(params, context), params["RouteId"])
        return OperationResult({})

    # integrations --------------------------------------------------------------------------------
    async def create_integration(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(await self._service.put_integration(self._api(params, context), params))

    async def get_integration(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(self._api(params, context).integration(params["IntegrationId"]))

    async def get_integrations(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        integrations = sorted(
            self._api(params, context).integrations.values(), key=lambda item: item["IntegrationId"]
        )
        return OperationResult(_items(integrations, params))

    async def update_integration(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        api = self._api(params, context)
        return OperationResult(await self._service.put_integration(api, params, params["IntegrationId"]))

    async def delete_integration(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.delete_integration(self._api(params, context), params["IntegrationId"])
        return OperationResult({})

    # authorizers ---------------------------------------------------------------------------------
    async def create_authorizer(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(await self._service.put_authorizer(self._api(params, context), params))

    async def get_authorizer(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(self._api(params, context).authorizer(params["AuthorizerId"]))

    async def get_authorizers(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        authorizers = sorted(self._api(params, context).authorizers.values(), key=lambda item: item["Name"])
        return OperationResult(_items(authorizers, params))

    async def update_authorizer(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        api = self._api(params, context)
        return OperationResult(await self._service.put_authorizer(api, params, params["AuthorizerId"]))

    async def delete_authorizer(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.delete_authorizer(self._api(params, context), params["AuthorizerId"])
        return OperationResult({})

    # deployments and stages ----------------------------------------------------------------------
    async def create_deployment(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        deployment = await self._service.create_deployment(self._api(params, context), params)
        return OperationResult(deployment.document)

    async def get_deployment(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(self._api(params, context).deployment(params["DeploymentId"]).document)

    async def get_deployments(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        deployments = self._api(params, context).deployments.values()
        documents = sorted(
            (d.document for d in deployments), key=lambda d: (d["CreatedDate"], d["DeploymentId"])
        )
        return OperationResult(_items(documents, params))

    async def delete_deployment(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.delete_deployment(self._api(params, context), params["DeploymentId"])
        return OperationResult({})

    async def create_stage(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(
            await self._service.put_stage(self._api(params, context), params, creating=True)
        )

    async def get_stage(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(self._api(params, context).stage(params["StageName"]))

    async def get_stages(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        stages = sorted(self._api(params, context).stages.values(), key=lambda stage: stage["StageName"])
        return OperationResult(_items(stages, params))

    async def update_stage(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(
            await self._service.put_stage(self._api(params, context), params, creating=False)
        )

    async def delete_stage(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.delete_stage(self._api(params, context), params["StageName"])
        return OperationResult({})
