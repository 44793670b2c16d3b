"""A REST API method's integration run for one request: the request mapped (templates, parameters,
passthrough), the endpoint called (Lambda, an HTTP endpoint, or none for MOCK), and its response
mapped back through the integration responses (selection patterns, templates, header mappings) —
as API Gateway's developer guide describes non-proxy and proxy integrations.

What a caller sees of a failure is API Gateway's (`{"message": "Internal server error"}` and the
like); why it failed goes to the execution log."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from lamina.apigateway.execution_log import ExecutionLog
from lamina.apigateway.json_paths import InvalidPath, select
from lamina.apigateway.proxy_events import ProxyTarget, read_proxy_result, request_context, rest_proxy_event
from lamina.apigateway.requests import ApiRequest, is_binary
from lamina.apigateway.templates import InputVariable, InvalidBody, TemplateError, render
from lamina.domain.function_urls import InvalidResult, UrlResponse
from lamina.domain.owner_regexes import full_match

__all__ = [
    "EndpointResponse",
    "HttpCall",
    "IntegrationError",
    "LambdaCall",
    "MethodCall",
    "gateway_error",
    "lambda_function_arn",
    "run_integration",
]

JSON = "application/json"
_LAMBDA_URI = re.compile(r"arn:aws:apigateway:([a-z0-9-]+):lambda:path/2015-03-31/functions/(.+)/invocations")
_STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")
_URI_PARAMETER = re.compile(r"\{([A-Za-z0-9._\-]+)\+?\}")
_HOP_BY_HOP = frozenset(
    {"host", "connection", "keep-alive", "transfer-encoding", "te", "upgrade", "content-length"}
)


@dataclass(frozen=True, slots=True)
class EndpointResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    error_message: str | None = None  # a Lambda function's errorMessage when it failed


class IntegrationError(Exception):
    """The integration could not run: the caller gets `status` and `message`, the execution log
    `reason`."""

    def __init__(self, status: int, message: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.message = message
        self.reason = reason


# (function ARN, payload, source ARN, source account) → the function's result; raises
# IntegrationError when API Gateway may not or could not invoke it.
LambdaCall = Callable[[str, bytes, str, str], Awaitable[tuple[bytes, str | None]]]
# (method, url, headers, body, timeout in seconds) → the endpoint's response; raises IntegrationError.
HttpCall = Callable[[str, str, dict[str, str], bytes, float], Awaitable[EndpointResponse]]


@dataclass
class MethodCall:
    """One request to one method of a deployed (or, for TestInvokeMethod, current) API."""

    api_id: str
    account: str
    region: str
    stage: str
    stage_variables: dict[str, str]
    binary_media_types: list[str]
    resource: dict[str, Any]
    method: dict[str, Any]
    path_parameters: dict[str, str]
    request: ApiRequest
    log: ExecutionLog
    authorizer: dict[str, Any] | None = None
    identity: dict[str, Any] = field(default_factory=dict)
    usage_key: str | None = None  # the API key a Lambda authorizer named (apiKeySource AUTHORIZER)

    @property
    def source_arn(self) -> str:
        path = self.resource["path"].lstrip("/")
        return f"arn:aws:execute-api:{self.region}:{self.account}:{self.api_id}/{self.stage}/{self.request.method}/{path}"

    def target(self) -> ProxyTarget:
        return ProxyTarget(
            api_id=self.api_id,
            account=self.account,
            stage=self.stage,
            resource_id=self.resource["id"],
            resource_path=self.resource["path"],
            path_parameters=self.path_parameters,
            stage_variables=self.stage_variables,
            authorizer=self.authorizer,
            identity=self.identity,
        )


def gateway_error(status: int, message: str, error_type: str) -> UrlResponse:
    """One of API Gateway's own answers (`{"message": …}` with its x-amzn-ErrorType)."""
    body = json.dumps({"message": message}).encode()
    return UrlResponse(status, [("Content-Type", JSON), ("x-amzn-ErrorType", error_type)], body)


def internal_error() -> UrlResponse:
    return gateway_error(500, "Internal server error", "InternalServerErrorException")


def lambda_function_arn(uri: str) -> str | None:
    match = _LAMBDA_URI.fullmatch(uri)
    return match.group(2) if match else None


def with_stage_variables(text: str, variables: dict[str, str]) -> str:
    return _STAGE_VARIABLE.sub(lambda match: variables.get(match.group(1), ""), text)


def _template_variables(call: MethodCall, input_variable: InputVariable) -> dict[str, Any]:
    context = request_context(call.request, call.target())
    context["authorizer"] = call.authorizer or {}
    return {"input": input_variable, "context": context, "stageVariables": call.stage_variables}


def _request_input(call: MethodCall) -> InputVariable:
    request = call.request
    return InputVariable(
        request.body.decode("utf-8", "replace"), call.path_parameters, request.query, request.headers
    )


async def run_integration(call: MethodCall, lambdas: LambdaCall, http: HttpCall) -> UrlResponse:
    """The response to the caller; never raises for anything the request or the API got wrong."""
    integration = call.method.get("methodIntegration") or {}
    kind = integration.get("type")
    log = call.log
    log.add(f"HTTP Method: {call.request.method}, Resource Path: {call.request.path}")
    if log.enabled:
        log.add(f"Method request path: {_java_map(call.path_parameters)}")
        log.add(f"Method request query string: {_java_map(call.request.query)}")
        log.add(f"Method request headers: {_java_map(call.request.headers)}")
        log.add(f"Method request body before transformations: {call.request.body.decode('utf-8', 'replace')}")
    try:
        if kind == "AWS_PROXY":
            response = await _lambda_proxy(call, integration, lambdas)
        elif kind == "HTTP_PROXY":
            response = await _http_proxy(call, integration, http)
        elif kind in ("AWS", "HTTP", "MOCK"):
            response = await _mapped(call, integration, lambdas, http)
        else:
            raise IntegrationError(
                500, "Internal server error", "Execution failed due to configuration error: no integration"
            )
    except IntegrationError as error:
        log.add(error.reason)
        log.add(f"Method completed with status: {error.status}")
        if error.status == 500:
            return internal_error()
        if error.status == 415:
            return gateway_error(415, error.message, "UnsupportedMediaTypeException")
        if error.status == 400:
            return gateway_error(400, error.message, "BadRequestException")
        return gateway_error(
            error.status,
            error.message,
            "IntegrationTimeoutException" if error.status == 504 else "InternalServerErrorException",
        )
    log.add("Successfully completed execution")
    log.add(f"Method completed with status: {response.status}")
    return response


def _java_map(values: dict[str, str]) -> str:
    return "{" + ", ".join(f"{name}={value}" for name, value in values.items()) + "}"


async def _call_lambda(call: MethodCall, uri: str, payload: bytes, lambdas: LambdaCall) -> EndpointResponse:
    function_arn = lambda_function_arn(with_stage_variables(uri, call.stage_variables))
    if function_arn is None:
        raise IntegrationError(
            500,
            "Internal server error",
            "Execution failed due to configuration error: Invalid Lambda function ARN",
        )
    call.log.add(
        f"Endpoint request URI: https://lambda.{call.region}.amazonaws.com/2015-03-31/functions/{function_arn}/invocations"
    )
    if call.log.enabled:
        call.log.add(f"Endpoint request body after transformations: {payload.decode('utf-8', 'replace')}")
    call.log.add(
        f"Sending request to https://lambda.{call.region}.amazonaws.com/2015-03-31/functions/{function_arn}/invocations"
    )
    started = time.perf_counter()
    result, function_error = await lambdas(function_arn, payload, call.source_arn, call.account)
    elapsed = (time.perf_counter() - started) * 1000
    call.log.integration_latency_ms = elapsed
    call.log.add(f"Received response. Status: 200, Integration latency: {int(elapsed)} ms")
    if call.log.enabled:
        call.log.add(f"Endpoint response body before transformations: {result.decode('utf-8', 'replace')}")
    error_message = None
    if function_error is not None:
        try:
            document = json.loads(result)
            error_message = str(document.get("errorMessage", "")) if isinstance(document, dict) else ""
        except ValueError:
            error_message = ""
    headers = {"X-Amz-Function-Error": function_error} if function_error else {}
    return EndpointResponse(200, headers, result, error_message)


async def _lambda_proxy(call: MethodCall, integration: dict[str, Any], lambdas: LambdaCall) -> UrlResponse:
    binary = is_binary(call.request.headers.get("content-type", ""), call.binary_media_types)
    event = rest_proxy_event(call.request, call.target(), binary)
    payload = json.dumps(event, separators=(",", ":")).encode()
    endpoint = await _call_lambda(call, integration.get("uri", ""), payload, lambdas)
    if endpoint.error_message is not None:
        raise IntegrationError(
            502,
            "Internal server error",
            f"Lambda execution failed with status 200 due to customer function error: {endpoint.error_message}",
        )
    try:
        response = read_proxy_result(endpoint.body)
    except InvalidResult as error:
        raise IntegrationError(
            502,
            "Internal server error",
            f"Execution failed due to configuration error: Malformed Lambda proxy response ({error})",
        ) from None
    if call.log.enabled:
        call.log.add(
            f"Method response body after transformations: {response.body.decode('utf-8', 'replace')}"
        )
    return response


def _http_url(call: MethodCall, uri: str) -> str:
    uri = with_stage_variables(uri, call.stage_variables)
    url = _URI_PARAMETER.sub(lambda match: call.path_parameters.get(match.group(1), ""), uri)
    return f"{url}?{call.request.raw_query}" if call.request.raw_query else url


async def _http_proxy(call: MethodCall, integration: dict[str, Any], http: HttpCall) -> UrlResponse:
    method = integration.get("httpMethod") or call.request.method
    if method == "ANY":
        method = call.request.method
    url = _http_url(call, integration.get("uri", ""))
    headers = {name: value for name, value in call.request.headers.items() if name not in _HOP_BY_HOP}
    call.log.add(f"Endpoint request URI: {url}")
    started = time.perf_counter()
    endpoint = await http(
        method, url, headers, call.request.body, integration.get("timeoutInMillis", 29_000) / 1000
    )
    call.log.integration_latency_ms = (time.perf_counter() - started) * 1000
    call.log.add(
        f"Received response. Status: {endpoint.status}, Integration latency: {int(call.log.integration_latency_ms)} ms"
    )
    kept = [(name, value) for name, value in endpoint.headers.items() if name.lower() not in _HOP_BY_HOP]
    return UrlResponse(endpoint.status, kept, endpoint.body)


def _request_payload(call: MethodCall, integration: dict[str, Any]) -> bytes:
    """The integration request's body: the template for the request's content type, or the body
    passed through as the passthrough behavior allows (415 when it does not)."""
    templates: dict[str, str] = integration.get("requestTemplates") or {}
    content_type = (call.request.headers.get("content-type") or JSON).split(";")[0].strip().lower()
    template = templates.get(content_type)
    behavior = integration.get("passthroughBehavior", "WHEN_NO_MATCH")
    if template is None:
        if behavior == "NEVER" or (behavior == "WHEN_NO_TEMPLATES" and templates):
            raise IntegrationError(
                415,
                "Unsupported Media Type",
                "Request Content-Type not matched by any request template and passthrough is not allowed",
            )
        return call.request.body
    try:
        return render(template, _template_variables(call, _request_input(call))).encode("utf-8", "replace")
    except InvalidBody as error:
        raise IntegrationError(400, str(error), f"Execution failed: {error}") from None
    except TemplateError as error:
        raise IntegrationError(
            500,
            "Internal server error",
            f"Execution failed due to configuration error: Unable to transform request ({error})",
        ) from None


async def _mapped(
    call: MethodCall, integration: dict[str, Any], lambdas: LambdaCall, http: HttpCall
) -> UrlResponse:
    payload = _request_payload(call, integration)
    kind = integration["type"]
    if kind == "AWS":
        uri = integration.get("uri", "")
        if lambda_function_arn(with_stage_variables(uri, call.stage_variables)) is None:
            raise IntegrationError(
                500,
                "Internal server error",
                f"Execution failed due to configuration error: Lamina integrates AWS services through Lambda only ({uri})",
            )
        endpoint = await _call_lambda(call, uri, payload or b"{}", lambdas)
        selector = endpoint.error_message
    elif kind == "HTTP":
        method = integration.get("httpMethod") or call.request.method
        url = _http_url(call, integration.get("uri", ""))
        call.log.add(f"Endpoint request URI: {url}")
        endpoint = await http(
            method, url, {"content-type": JSON}, payload, integration.get("timeoutInMillis", 29_000) / 1000
        )
        selector = str(endpoint.status)
    else:  # MOCK: the request template's statusCode says which integration response answers
        status = 200
        try:
            document = json.loads(payload) if payload.strip() else {}
            if isinstance(document, dict) and "statusCode" in document:
                status = int(document["statusCode"])
            if not 100 <= status <= 599:
                raise ValueError(status)
        except (ValueError, TypeError, OverflowError, RecursionError):
            raise IntegrationError(
                500,
                "Internal server error",
                "Execution failed due to configuration error: the MOCK request template gave no statusCode",
            ) from None
        endpoint = EndpointResponse(status, {}, b"")
        selector = str(status)
    return _integration_response(call, integration, endpoint, selector)


def _select_response(responses: dict[str, dict[str, Any]], selector: str | None) -> dict[str, Any] | None:
    default = None
    for response in responses.values():
        pattern = response.get("selectionPattern")
        if not pattern:
            default = default or response
            continue
        if selector is not None and full_match(pattern, selector):
            return response
    return default


def _integration_response(
    call: MethodCall, integration: dict[str, Any], endpoint: EndpointResponse, selector: str | None
) -> UrlResponse:
    responses: dict[str, dict[str, Any]] = integration.get("integrationResponses") or {}
    chosen = _select_response(responses, selector)
    if chosen is None:
        raise IntegrationError(
            500,
            "Internal server error",
            "Execution failed due to configuration error: No match for output mapping and no default output mapping configured. "
            f"Endpoint Response Status Code: {endpoint.status}",
        )
    body = endpoint.body
    templates: dict[str, str] = chosen.get("responseTemplates") or {}
    template = templates.get(JSON) if JSON in templates else next(iter(templates.values()), None)
    body_text = body.decode("utf-8", "replace")
    if template:
        input_variable = InputVariable(body_text, {}, {}, endpoint.headers)
        try:
            body = render(template, _template_variables(call, input_variable)).encode("utf-8", "replace")
        except (InvalidBody, TemplateError) as error:
            raise IntegrationError(
                500,
                "Internal server error",
                f"Execution failed due to configuration error: Unable to transform response ({error})",
            ) from None
    headers = [("Content-Type", JSON)]
    for target, source in (chosen.get("responseParameters") or {}).items():
        if not target.startswith("method.response.header."):
            continue
        value = _parameter_value(call, source, endpoint, body_text)
        if value is not None:
            name = target[len("method.response.header.") :]
            headers = [(existing, old) for existing, old in headers if existing.lower() != name.lower()]
            headers.append((name, value))
    if call.log.enabled:
        call.log.add(f"Method response body after transformations: {body.decode('utf-8', 'replace')}")
        call.log.add(f"Method response headers: {_java_map(dict(headers))}")
    return UrlResponse(int(chosen["statusCode"]), headers, body)


def _parameter_value(call: MethodCall, source: str, endpoint: EndpointResponse, body_text: str) -> str | None:
    """A response parameter's value: a 'literal', an integration response header or body (JSONPath
    of it), a stage variable or a context variable."""
    if len(source) >= 2 and source[0] == source[-1] == "'":
        return source[1:-1]
    if source.startswith("integration.response.header."):
        wanted = source[len("integration.response.header.") :].lower()
        return next((value for name, value in endpoint.headers.items() if name.lower() == wanted), None)
    if source == "integration.response.body":
        return body_text
    if source.startswith("integration.response.body."):
        try:
            value = select(json.loads(body_text), "$" + source[len("integration.response.body") :])
        except (ValueError, InvalidPath):
            return None
        return value if isinstance(value, str) else json.dumps(value) if value is not None else None
    if source.startswith("stageVariables."):
        return call.stage_variables.get(source[len("stageVariables.") :])
    if source.startswith("context."):
        value = request_context(call.request, call.target())
        for part in source[len("context.") :].split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return None if value is None else str(value)
    return None
