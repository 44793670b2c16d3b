"""Authorizers of HTTP API routes: JWT (`jwt_tokens.py`) and Lambda REQUEST authorizers with
payload format 1.0 or 2.0, simple responses (`{"isAuthorized": …, "context": …}`) or IAM policies,
cached for their TTL under the identity sources' values ("Working with AWS Lambda authorizers for
HTTP APIs"). Refusals answer as API Gateway's: no identity or a bad token 401 Unauthorized, a
refusal 403 Forbidden, a failing authorizer 500 Internal Server Error."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lamina.apigateway.authorizers import AuthorizerCache, cache_key, decision_for, granted_from
from lamina.apigateway.execution_log import ExecutionLog
from lamina.apigateway.jwt_tokens import InvalidToken, JwtVerifier
from lamina.apigateway.rest_integrations import (
    IntegrationError,
    LambdaCall,
    lambda_function_arn,
    with_stage_variables,
)
from lamina.domain.function_urls import UrlResponse
from lamina.domain.iam.evaluation import Decision
from lamina.domain.iam.policy import MalformedPolicy

__all__ = ["RouteAuthorizers", "RouteRequest", "http_error"]


def http_error(status: int, message: str) -> UrlResponse:
    return UrlResponse(
        status, [("Content-Type", "application/json")], json.dumps({"message": message}).encode()
    )


@dataclass
class RouteRequest:
    """What an authorizer sees of a request to a route."""

    api_id: str
    account: str
    region: str
    stage: str
    route_arn: str
    headers: dict[str, str]
    query: dict[str, str]
    stage_variables: dict[str, str]
    context: dict[str, Any]
    event_v2: dict[str, Any]  # the request as a payload format 2.0 event
    event_v1: dict[str, Any]  # and as a 1.0 event
    log: ExecutionLog


def identity_values(sources: list[str], request: RouteRequest) -> list[str] | None:
    """The values of `$request.header.X`, `$request.querystring.X`, `$context.X` and
    `$stageVariables.X` sources; None when one is missing."""
    values: list[str] = []
    for source in sources:
        value: Any = None
        if source.startswith("$request.header."):
            value = request.headers.get(source[len("$request.header.") :].lower())
        elif source.startswith("$request.querystring."):
            value = request.query.get(source[len("$request.querystring.") :])
        elif source.startswith("$stageVariables."):
            value = request.stage_variables.get(source[len("$stageVariables.") :])
        elif source.startswith("$context."):
            value = request.context.get(source[len("$context.") :])
        if not value:
            return None
        values.append(str(value))
    return values


class RouteAuthorizers:
    def __init__(self, lambdas: LambdaCall, jwt: JwtVerifier) -> None:
        self._lambdas = lambdas
        self._jwt = jwt
        self._cache: AuthorizerCache[dict[str, Any] | None] = AuthorizerCache()

    async def authorize(
        self, authorizer: dict[str, Any], route: dict[str, Any], request: RouteRequest
    ) -> tuple[UrlResponse | None, dict[str, Any]]:
        """(None, the requestContext.authorizer to pass on) when the request may go on; else
        (the refusal, {})."""
        sources = list(authorizer.get("IdentitySource") or [])
        identity = identity_values(sources, request)
        if authorizer.get("AuthorizerType") == "JWT":
            if identity is None:
                return http_error(401, "Unauthorized"), {}
            jwt = authorizer.get("JwtConfiguration") or {}
            scopes = list(route.get("AuthorizationScopes") or [])
            try:
                claims = await self._jwt.claims(
                    identity[0], str(jwt["Issuer"]), list(jwt.get("Audience") or []), scopes
                )
            except InvalidToken as error:
                request.log.add(f"JWT authorizer refused the token: {error}")
                return http_error(401, "Unauthorized"), {}
            return None, {"jwt": {"claims": claims, "scopes": scopes or None}}
        ttl = int(authorizer.get("AuthorizerResultTtlInSeconds") or 0)
        if identity is None and (ttl > 0 or sources):
            return http_error(401, "Unauthorized"), {}
        key = cache_key(request.api_id, request.stage, str(authorizer["AuthorizerId"]), identity or [])
        context = self._cache.get(key) if ttl > 0 else None
        if context is None:
            outcome = await self._invoke(authorizer, request, identity or [])
            if isinstance(outcome, UrlResponse):
                return outcome, {}
            context = outcome
            if ttl > 0:
                self._cache.put(key, context, ttl, len(json.dumps(context, default=str)))
        return None, {"lambda": context}

    async def _invoke(
        self, authorizer: dict[str, Any], request: RouteRequest, identity: list[str]
    ) -> dict[str, Any] | UrlResponse:
        """The authorizer's context when it allows the request; the refusal otherwise."""
        function_arn = lambda_function_arn(
            with_stage_variables(str(authorizer.get("AuthorizerUri", "")), request.stage_variables)
        )
        if function_arn is None:
            return http_error(500, "Internal Server Error")
        if authorizer.get("AuthorizerPayloadFormatVersion") == "2.0":
            event = {
                **request.event_v2,
                "type": "REQUEST",
                "routeArn": request.route_arn,
                "identitySource": identity,
            }
            event.pop("body", None)
            event.pop("isBase64Encoded", None)
        else:
            event = {
                **request.event_v1,
                "version": "1.0",
                "type": "REQUEST",
                "methodArn": request.route_arn,
                "identitySource": ",".join(identity),
            }
        source_arn = f"arn:aws:execute-api:{request.region}:{request.account}:{request.api_id}/authorizers/{authorizer['AuthorizerId']}"
        try:
            payload, function_error = await self._lambdas(
                function_arn, json.dumps(event).encode(), source_arn, request.account
            )
        except IntegrationError as error:
            request.log.add(f"Authorizer could not be invoked: {error.reason}")
            return http_error(500, "Internal Server Error")
        if function_error is not None:
            request.log.add("Authorizer function failed")
            return http_error(500, "Internal Server Error")
        if authorizer.get("EnableSimpleResponses"):
            try:
                output = json.loads(payload)
            except (ValueError, RecursionError):
                return http_error(500, "Internal Server Error")
            if not isinstance(output, dict) or not isinstance(output.get("isAuthorized"), bool):
                return http_error(500, "Internal Server Error")
            if not output["isAuthorized"]:
                return http_error(403, "Forbidden")
            context = output.get("context") or {}
            if not isinstance(context, dict):
                return http_error(500, "Internal Server Error")
            return dict(context)
        try:
            granted = granted_from(payload)
        except MalformedPolicy as error:
            request.log.add(f"Authorizer returned an invalid policy: {error}")
            return http_error(500, "Internal Server Error")
        if decision_for(granted, request.route_arn, request.account) is not Decision.ALLOW:
            return http_error(403, "Forbidden")
        return {"principalId": granted.principal_id, **granted.context}
