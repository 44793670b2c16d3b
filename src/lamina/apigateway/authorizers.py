"""Lambda authorizers of REST APIs (TOKEN and REQUEST): the identity sources read, the function
invoked (as `apigateway.amazonaws.com`, for the authorizer's ARN), its policy cached for the TTL
under the identity it was given, and evaluated against the method ARN of each request (API Gateway
developer guide, "Use API Gateway Lambda authorizers").

Answers as API Gateway's: no identity, or the function saying "Unauthorized", 401
`{"message":"Unauthorized"}`; a Deny 403 `{"Message":"User is not authorized to access this
resource with an explicit deny"}`; no Allow 403 without "with an explicit deny"; a failing
authorizer 500 `{"message": null}` (AuthorizerConfigurationException)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from lamina.apigateway.execution_log import ExecutionLog
from lamina.apigateway.proxy_events import rest_proxy_event
from lamina.apigateway.rest_integrations import (
    IntegrationError,
    LambdaCall,
    MethodCall,
    lambda_function_arn,
    with_stage_variables,
)
from lamina.domain.function_urls import UrlResponse
from lamina.domain.iam.evaluation import AccessRequest, Decision, evaluate
from lamina.domain.iam.policy import MalformedPolicy, Policy, parse_policy
from lamina.domain.iam.principals import Principal
from lamina.domain.owner_regexes import full_match

__all__ = [
    "AuthorizerCache",
    "Granted",
    "LambdaAuthorizers",
    "cache_key",
    "granted_from",
    "identity_of",
    "method_arn",
]

T = TypeVar("T")
DEFAULT_TTL_S = 300
MAX_CACHE_ENTRIES = 10_000
MAX_CACHED_BYTES = 16 * 1024  # an authorizer's output larger than this is asked for every time
_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Granted:
    """An authorizer's answer, as cached: its policy and what the integration is told."""

    policy: Policy
    principal_id: str
    context: dict[str, Any]
    usage_key: str | None
    size: int = 0  # bytes of the authorizer's output


def cache_key(api_id: str, stage: str, authorizer_id: str, identity: list[str]) -> tuple[str, ...]:
    """A cache entry's key: the identity (tokens may be large) as its SHA-256."""
    digest = hashlib.sha256("\x00".join(identity).encode("utf-8", "surrogatepass")).hexdigest()
    return api_id, stage, authorizer_id, digest


def method_arn(call: MethodCall) -> str:
    return f"arn:aws:execute-api:{call.region}:{call.account}:{call.api_id}/{call.stage}/{call.request.method}{call.request.path}"


def _error(status: int, body: dict[str, Any], error_type: str) -> UrlResponse:
    return UrlResponse(
        status, [("Content-Type", _JSON), ("x-amzn-ErrorType", error_type)], json.dumps(body).encode()
    )


def unauthorized() -> UrlResponse:
    return _error(401, {"message": "Unauthorized"}, "UnauthorizedException")


def denied(explicit: bool) -> UrlResponse:
    suffix = " with an explicit deny" if explicit else ""
    return _error(
        403, {"Message": f"User is not authorized to access this resource{suffix}"}, "AccessDeniedException"
    )


def configuration_error() -> UrlResponse:
    return _error(500, {"message": None}, "AuthorizerConfigurationException")


def identity_of(authorizer: dict[str, Any], call: MethodCall) -> list[str] | None:
    """The values of the authorizer's identity sources in this request; None when one is missing."""
    sources = [
        source.strip() for source in str(authorizer.get("identitySource") or "").split(",") if source.strip()
    ]
    request = call.request
    values: list[str] = []
    for source in sources:
        value: str | None = None
        if source.startswith("method.request.header."):
            value = request.headers.get(source[len("method.request.header.") :].lower())
        elif source.startswith("method.request.querystring."):
            value = request.query.get(source[len("method.request.querystring.") :])
        elif source.startswith("method.request.path."):
            value = call.path_parameters.get(source[len("method.request.path.") :])
        elif source.startswith("stageVariables."):
            value = call.stage_variables.get(source[len("stageVariables.") :])
        elif source.startswith("context."):
            value = {
                "httpMethod": request.method,
                "stage": call.stage,
                "resourcePath": call.resource["path"],
            }.get(source[len("context.") :])
        if not value:
            return None
        values.append(value)
    return values


class AuthorizerCache(Generic[T]):
    """Authorizers' answers by (API, stage, authorizer, identity), each until its TTL runs out."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, ...], tuple[float, T]] = {}

    def get(self, key: tuple[str, ...]) -> T | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: tuple[str, ...], granted: T, ttl_s: int, size: int) -> None:
        """Keep `granted` (its authorizer's output was `size` bytes) for `ttl_s` seconds; the
        oldest entry makes room when the cache is full, and an output too large is not kept."""
        if size > MAX_CACHED_BYTES:
            return
        if len(self._entries) >= MAX_CACHE_ENTRIES:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (time.monotonic() + ttl_s, granted)


def granted_from(payload: bytes) -> Granted:
    """The authorizer's output read; MalformedPolicy when it is not what API Gateway takes."""
    try:
        output = json.loads(payload)
    except (ValueError, RecursionError):
        raise MalformedPolicy("the authorizer's output is not JSON") from None
    if not isinstance(output, dict) or not isinstance(output.get("policyDocument"), dict):
        raise MalformedPolicy("the authorizer's output has no policyDocument")
    context = output.get("context") or {}
    if not isinstance(context, dict) or any(isinstance(value, (dict, list)) for value in context.values()):
        raise MalformedPolicy("context values must be strings, numbers or booleans")
    principal_id = output.get("principalId")
    if principal_id is None:
        raise MalformedPolicy("the authorizer's output has no principalId")
    key = output.get("usageIdentifierKey")
    policy = parse_policy(output["policyDocument"])
    return Granted(policy, str(principal_id), context, str(key) if key else None, len(payload))


def decision_for(granted: Granted, arn: str, account: str) -> Decision:
    principal = Principal("user", account, f"arn:aws:iam::{account}:user/authorizer-{granted.principal_id}")
    return evaluate(AccessRequest(principal, "execute-api:Invoke", arn, account), [granted.policy])


class LambdaAuthorizers:
    def __init__(self, lambdas: LambdaCall) -> None:
        self._lambdas = lambdas
        self._cache: AuthorizerCache[Granted] = AuthorizerCache()

    async def authorize(self, authorizer: dict[str, Any], call: MethodCall) -> UrlResponse | None:
        """None when the request may go on (with `call.authorizer` set); else the refusal."""
        log = call.log
        kind = authorizer.get("type")
        ttl = int(authorizer.get("authorizerResultTtlInSeconds", DEFAULT_TTL_S))
        identity = identity_of(authorizer, call)
        if identity is None and (kind == "TOKEN" or ttl > 0):
            log.add("Unauthorized request: the identity source is missing")
            return unauthorized()
        identity = identity or []
        if kind == "TOKEN":
            expression = authorizer.get("identityValidationExpression")
            if expression and not full_match(expression, identity[0]):
                log.add("Unauthorized request: the token does not match the identity validation expression")
                return unauthorized()
        key = cache_key(call.api_id, call.stage, str(authorizer["id"]), identity)
        granted = self._cache.get(key) if ttl > 0 else None
        arn = method_arn(call)
        if granted is None:
            outcome = await self._invoke(authorizer, call, identity, arn, log)
            if isinstance(outcome, UrlResponse):
                return outcome
            granted = outcome
            if ttl > 0:
                self._cache.put(key, granted, ttl, granted.size)
        else:
            log.add(f"Using cached authorizer result for {authorizer['name']}")
        decision = decision_for(granted, arn, call.account)
        if decision is not Decision.ALLOW:
            log.add(f"The client is not authorized to perform this operation ({decision.value})")
            return denied(decision is Decision.EXPLICIT_DENY)
        call.authorizer = {"principalId": granted.principal_id, **granted.context}
        call.usage_key = granted.usage_key
        return None

    async def _invoke(
        self, authorizer: dict[str, Any], call: MethodCall, identity: list[str], arn: str, log: ExecutionLog
    ) -> Granted | UrlResponse:
        uri = with_stage_variables(str(authorizer.get("authorizerUri", "")), call.stage_variables)
        function_arn = lambda_function_arn(uri)
        if function_arn is None:
            log.add("Execution failed due to configuration error: Invalid authorizer URI")
            return configuration_error()
        if authorizer.get("type") == "TOKEN":
            event: dict[str, Any] = {"type": "TOKEN", "methodArn": arn, "authorizationToken": identity[0]}
        else:
            event = {
                "type": "REQUEST",
                "methodArn": arn,
                **rest_proxy_event(call.request, call.target(), binary=False),
            }
            for member in ("body", "isBase64Encoded"):
                event.pop(member, None)
        source_arn = (
            f"arn:aws:execute-api:{call.region}:{call.account}:{call.api_id}/authorizers/{authorizer['id']}"
        )
        log.add(f"Starting authorizer: {authorizer['id']} for request: {call.request.request_id}")
        try:
            payload, function_error = await self._lambdas(
                function_arn, json.dumps(event).encode(), source_arn, call.account
            )
        except IntegrationError as error:
            log.add(f"Execution failed due to configuration error: Authorizer error ({error.reason})")
            return configuration_error()
        if function_error is not None:
            message = _error_message(payload)
            log.add(f"Authorizer failed: {message}")
            return unauthorized() if message == "Unauthorized" else configuration_error()
        try:
            granted = granted_from(payload)
        except MalformedPolicy as error:
            log.add(f"Execution failed due to configuration error: Invalid JSON in response: {error}")
            return configuration_error()
        log.add(f"Authorizer result: principalId {granted.principal_id}")
        return granted


def _error_message(payload: bytes) -> str:
    try:
        document = json.loads(payload)
    except ValueError:
        return ""
    return str(document.get("errorMessage", "")) if isinstance(document, dict) else ""
