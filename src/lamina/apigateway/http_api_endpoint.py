"""Requests to HTTP APIs (v2): the stage (named by the path's first segment, else `$default`),
CORS preflights answered from the API's CorsConfiguration, the route the request takes, its
authorizer, then its integration — a Lambda proxy with payload format 1.0 or 2.0, or an HTTP
proxy. Answers as HTTP APIs give them: no stage or route 404 `{"message":"Not Found"}`, a failing
integration 500 `{"message":"Internal Server Error"}`, a timeout 503 "Service Unavailable"."""

from __future__ import annotations

import json
import time
from typing import Any

from lamina.apigateway.execution_log import ExecutionLog
from lamina.apigateway.http_apis import DEFAULT_STAGE, HttpApi, HttpDeployment
from lamina.apigateway.http_authorizers import RouteAuthorizers, RouteRequest, http_error
from lamina.apigateway.iam_checks import IamCheck
from lamina.apigateway.proxy_events import ProxyTarget, read_proxy_result, rest_proxy_event
from lamina.apigateway.requests import ApiRequest, api_request
from lamina.apigateway.rest_integrations import HttpCall, IntegrationError, LambdaCall
from lamina.apigateway.routes import DEFAULT_ROUTE
from lamina.domain.function_urls import (
    InvalidResult,
    UrlRequest,
    UrlResponse,
    is_preflight,
    payload_v2_event,
    preflight_response,
    read_result,
    with_cors,
)
from lamina.transport.http11 import LeanRequest

__all__ = ["HttpApiEndpoint"]

_HOP_BY_HOP = frozenset(
    {"host", "connection", "keep-alive", "transfer-encoding", "te", "upgrade", "content-length"}
)


def _stage_and_path(api: HttpApi, path: str) -> tuple[str, str] | None:
    first, _, rest = path.lstrip("/").partition("/")
    if first and first != DEFAULT_STAGE and first in api.stages:
        return first, "/" + rest
    if DEFAULT_STAGE in api.stages:
        return DEFAULT_STAGE, path or "/"
    return None


def _function_arn(uri: str) -> str:
    """An HTTP API's Lambda integration URI: a function ARN, or API Gateway's invocation URI."""
    if uri.startswith("arn:aws:apigateway:") and "/functions/" in uri:
        return uri.split("/functions/", 1)[1].removesuffix("/invocations")
    return uri


class HttpApiEndpoint:
    def __init__(
        self, lambdas: LambdaCall, http: HttpCall, authorizers: RouteAuthorizers, iam: IamCheck | None = None
    ) -> None:
        self._lambdas = lambdas
        self._http = http
        self._authorizers = authorizers
        self._iam = iam

    async def serve(self, api: HttpApi, lean: LeanRequest, path: str, log: ExecutionLog) -> UrlResponse:
        request_id = log.request_id
        located = _stage_and_path(api, path)
        if located is None:
            return http_error(404, "Not Found")
        stage_name, route_path = located
        stage = api.stages[stage_name]
        log.stage = stage_name
        log.access_log = stage.get("AccessLogSettings")
        deployment = api.deployments.get(str(stage.get("DeploymentId")))
        if deployment is None:
            return http_error(404, "Not Found")
        request = api_request(lean, route_path, request_id, api.id, api.region)
        cors = api.document.get("CorsConfiguration")
        url_request = UrlRequest(
            request.method, route_path, request.raw_query, request.headers, request.body, request.source_ip
        )
        if cors and is_preflight(url_request):
            return preflight_response(cors, url_request, status=204)
        response = await self._route(api, deployment, stage, request, url_request, lean, log)
        return with_cors(response, cors, request.headers.get("origin")) if cors else response

    async def _route(
        self,
        api: HttpApi,
        deployment: HttpDeployment,
        stage: dict[str, Any],
        request: ApiRequest,
        url_request: UrlRequest,
        lean: LeanRequest,
        log: ExecutionLog,
    ) -> UrlResponse:
        matched = deployment.table.match(request.method, request.path)
        if matched is None:
            return http_error(404, "Not Found")
        route_id, path_parameters = matched
        route = deployment.routes[route_id]
        route_key = route["RouteKey"]
        stage_name = stage["StageName"]
        stage_variables = dict(stage.get("StageVariables") or {})
        route_path = route_key.partition(" ")[2]
        arn_tail = "$default" if route_key == DEFAULT_ROUTE else f"{request.method}{request.path}"
        route_arn = f"arn:aws:execute-api:{api.region}:{api.account}:{api.id}/{stage_name}/{arn_tail}"
        domain = request.domain

        def event_v2(authorizer: dict[str, Any] | None) -> dict[str, Any]:
            return payload_v2_event(
                url_request,
                api_id=api.id,
                domain=domain,
                account_id=api.account,
                request_id=request.request_id,
                authorizer=authorizer,
                route_key=route_key,
                stage=stage_name,
                path_parameters=path_parameters,
                stage_variables=stage_variables,
                now=request.time,
            )

        def event_v1(authorizer: dict[str, Any] | None) -> dict[str, Any]:
            target = ProxyTarget(
                api_id=api.id,
                account=api.account,
                stage=stage_name,
                resource_id=route_id,
                resource_path=route_path or route_key,
                path_parameters=path_parameters,
                stage_variables=stage_variables,
                authorizer=authorizer,
            )
            return {"version": "1.0", **rest_proxy_event(request, target, binary=False)}

        authorization = route.get("AuthorizationType", "NONE")
        authorizer_context: dict[str, Any] | None = None
        if authorization in ("JWT", "CUSTOM"):
            authorizer = deployment.authorizers.get(str(route.get("AuthorizerId")))
            if authorizer is None:
                return http_error(500, "Internal Server Error")
            context = {
                "httpMethod": request.method,
                "stage": stage_name,
                "routeKey": route_key,
                "apiId": api.id,
            }
            route_request = RouteRequest(
                api.id,
                api.account,
                api.region,
                stage_name,
                route_arn,
                request.headers,
                request.query,
                stage_variables,
                context,
                event_v2(None),
                event_v1(None),
                log,
            )
            refused, authorizer_context = await self._authorizers.authorize(authorizer, route, route_request)
            if refused is not None:
                return refused
        elif authorization == "AWS_IAM":
            if self._iam is None:
                return http_error(403, "Forbidden")
            refused, identity = await self._iam(route_arn, api.account, None, lean, log)
            if refused is not None:
                return http_error(403, "Forbidden")  # HTTP APIs say no more than this
            authorizer_context = {
                "iam": {
                    "accessKey": identity.get("accessKey"),
                    "accountId": identity.get("accountId"),
                    "callerId": identity.get("caller"),
                    "cognitoIdentity": None,
                    "principalOrgId": None,
                    "userArn": identity.get("userArn"),
                    "userId": identity.get("user"),
                }
            }
        integration_id = str(route.get("Target", "")).removeprefix("integrations/")
        integration = deployment.integrations.get(integration_id)
        if integration is None:
            return http_error(500, "Internal Server Error")
        try:
            if integration["IntegrationType"] == "HTTP_PROXY":
                return await self._http_proxy(integration, request, path_parameters)
            version = integration.get("PayloadFormatVersion", "2.0")
            event = event_v2(authorizer_context) if version == "2.0" else event_v1(authorizer_context)
            function_arn = _function_arn(str(integration.get("IntegrationUri", "")))
            started = time.perf_counter()
            payload, function_error = await self._lambdas(
                function_arn, json.dumps(event, separators=(",", ":")).encode(), route_arn, api.account
            )
            log.integration_latency_ms = (time.perf_counter() - started) * 1000
        except IntegrationError as error:
            log.add(error.reason)
            if error.status == 504:
                return http_error(503, "Service Unavailable")
            return http_error(500, "Internal Server Error")
        if function_error is not None:
            return http_error(500, "Internal Server Error")
        try:
            return read_result(payload) if version == "2.0" else read_proxy_result(payload)
        except InvalidResult:
            return http_error(500, "Internal Server Error")

    async def _http_proxy(
        self, integration: dict[str, Any], request: ApiRequest, path_parameters: dict[str, str]
    ) -> UrlResponse:
        uri = str(integration.get("IntegrationUri", ""))
        for name, value in path_parameters.items():
            uri = uri.replace("{" + name + "+}", value).replace("{" + name + "}", value)
        url = f"{uri}?{request.raw_query}" if request.raw_query else uri
        method = integration.get("IntegrationMethod") or "ANY"
        headers = {name: value for name, value in request.headers.items() if name not in _HOP_BY_HOP}
        endpoint = await self._http(
            request.method if method == "ANY" else method,
            url,
            headers,
            request.body,
            integration.get("TimeoutInMillis", 30_000) / 1000,
        )
        kept = [(name, value) for name, value in endpoint.headers.items() if name.lower() not in _HOP_BY_HOP]
        return UrlResponse(endpoint.status, kept, endpoint.body)
