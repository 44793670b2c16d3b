"""Requests to REST APIs (v1): a request finds the stage's deployment, the resource its path
reaches and the method (or ANY); passes the stage's throttle, the method's authorization (AWS_IAM,
a Lambda authorizer) and its API key's usage plan; then runs the method's integration. What cannot
be found answers as API Gateway does: an unknown stage 403 `{"message":"Forbidden"}`, a path or
method the stage does not have 403 `{"message":"Missing Authentication Token"}`."""

from __future__ import annotations

from typing import Any

from lamina.apigateway.authorizers import LambdaAuthorizers, method_arn
from lamina.apigateway.execution_log import ExecutionLog
from lamina.apigateway.iam_checks import IamCheck
from lamina.apigateway.requests import api_request
from lamina.apigateway.rest_apis import RestApi
from lamina.apigateway.rest_integrations import (
    HttpCall,
    LambdaCall,
    MethodCall,
    gateway_error,
    run_integration,
)
from lamina.apigateway.throttling import TokenBuckets
from lamina.apigateway.usage_plans import UsagePlanService
from lamina.domain.function_urls import UrlResponse
from lamina.transport.http11 import LeanRequest

__all__ = ["RestEndpoint", "forbidden", "missing_token"]

_REFUSALS = {
    "forbidden": (403, "Forbidden", "ForbiddenException"),
    "throttled": (429, "Too Many Requests", "TooManyRequestsException"),
    "quota": (429, "Limit Exceeded", "LimitExceededException"),
}


def forbidden() -> UrlResponse:
    return gateway_error(403, "Forbidden", "ForbiddenException")


def missing_token() -> UrlResponse:
    return gateway_error(403, "Missing Authentication Token", "MissingAuthenticationTokenException")


class RestEndpoint:
    def __init__(
        self,
        usage: UsagePlanService,
        lambdas: LambdaCall,
        http: HttpCall,
        iam: IamCheck | None = None,
    ) -> None:
        self._usage = usage
        self._lambdas = lambdas
        self._http = http
        self._iam = iam
        self._authorizers = LambdaAuthorizers(lambdas)
        self._stage_buckets = TokenBuckets()

    async def serve(self, api: RestApi, lean: LeanRequest, path: str, log: ExecutionLog) -> UrlResponse:
        request_id = log.request_id
        stage_name, _, rest = path.lstrip("/").partition("/")
        stage = api.stages.get(stage_name)
        if stage is None:
            return forbidden()
        log.stage = stage_name
        log.logging_level = (stage.get("methodSettings") or {}).get("*/*", {}).get("loggingLevel")
        log.enabled = (log.logging_level or "OFF").upper() in ("INFO", "ERROR")
        log.access_log = stage.get("accessLogSettings")
        deployment = api.deployments.get(stage["deploymentId"])
        if deployment is None:
            return forbidden()
        resource_path = "/" + rest
        matched = deployment.tree.match(resource_path)
        if matched is None:
            return missing_token()
        resource_id, path_parameters = matched
        resource = deployment.resources[resource_id]
        methods = resource.get("resourceMethods", {})
        method = methods.get(lean.method) or methods.get("ANY")
        if method is None:
            return missing_token()
        request = api_request(lean, resource_path, request_id, api.id, api.region)
        variables = dict(stage.get("variables") or {})
        call = api.method_call(stage_name, variables, resource, method, path_parameters, request, log)
        refused = self._stage_throttle(api, stage, resource, lean.method)
        if refused is None:
            refused = await self._authorization(api, deployment.authorizers, call, lean)
        if refused is None and method.get("apiKeyRequired"):
            source = api.document.get("apiKeySource", "HEADER")
            key = call.usage_key if source == "AUTHORIZER" else lean.headers.get("x-api-key")
            admission = self._usage.admit(api.id, stage_name, key)
            if admission is not None:
                log.add(f"API Key {'not authorized' if admission == 'forbidden' else admission}")
                refused = gateway_error(*_REFUSALS[admission])
        if refused is not None:
            log.add(f"Method completed with status: {refused.status}")
            return refused
        return await run_integration(call, self._lambdas, self._http)

    def _stage_throttle(
        self, api: RestApi, stage: dict[str, Any], resource: dict[str, Any], method: str
    ) -> UrlResponse | None:
        """The stage's throttling (its method settings, `*/*` or the method's own) as a 429."""
        settings = stage.get("methodSettings") or {}
        own = settings.get(f"{resource['path'].lstrip('/')}/{method}") or settings.get(
            f"{resource['path']}/{method}"
        )
        chosen = own if own and "throttlingRateLimit" in own else settings.get("*/*")
        if not chosen or chosen.get("throttlingRateLimit") is None:
            return None
        key = (
            api.id,
            stage["stageName"],
            resource["path"] if chosen is own else "*",
            method if chosen is own else "*",
        )
        if self._stage_buckets.take(
            key, float(chosen["throttlingRateLimit"]), int(chosen.get("throttlingBurstLimit") or 0)
        ):
            return None
        return gateway_error(*_REFUSALS["throttled"])

    async def _authorization(
        self, api: RestApi, authorizers: dict[str, dict[str, Any]], call: MethodCall, lean: LeanRequest
    ) -> UrlResponse | None:
        kind = call.method.get("authorizationType", "NONE")
        if kind == "AWS_IAM":
            if self._iam is None:
                return missing_token()
            policy = api.document.get("policy")
            refused, identity = await self._iam(method_arn(call), api.account, policy, lean, call.log)
            call.identity = identity
            return refused
        if kind == "CUSTOM":
            authorizer = authorizers.get(str(call.method.get("authorizerId")))
            if authorizer is None:
                call.log.add(
                    "Execution failed due to configuration error: the method's authorizer does not exist"
                )
                return gateway_error(500, "Internal server error", "InternalServerErrorException")
            return await self._authorizers.authorize(authorizer, call)
        return None
