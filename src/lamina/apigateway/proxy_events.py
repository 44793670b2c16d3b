"""Lambda proxy integrations of REST APIs: the request as the version 1.0 proxy event, and the
function's result as the HTTP response (API Gateway developer guide, "Lambda proxy integrations in
API Gateway", "Input format of a Lambda function for proxy integration", "Output format").

A result that is not an object of the documented fields, with a string body, is "Malformed Lambda
proxy response": the caller gets 502, the reason goes to the execution log."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from lamina.apigateway.requests import ApiRequest, body_text
from lamina.domain.function_urls import InvalidResult, UrlResponse, header_value

__all__ = ["ProxyTarget", "read_proxy_result", "rest_proxy_event"]

_RESULT_FIELDS = frozenset(
    {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded", "cookies"}
)
# The server frames the response itself (RFC 9110 §7.6.1).
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "te", "upgrade"})


class ProxyTarget:
    """What the event says about where the request went: the API, stage, resource and caller."""

    def __init__(
        self,
        *,
        api_id: str,
        account: str,
        stage: str,
        resource_id: str,
        resource_path: str,
        path_parameters: dict[str, str],
        stage_variables: dict[str, str],
        authorizer: dict[str, Any] | None = None,
        identity: dict[str, Any] | None = None,
    ) -> None:
        self.api_id = api_id
        self.account = account
        self.stage = stage
        self.resource_id = resource_id
        self.resource_path = resource_path
        self.path_parameters = path_parameters
        self.stage_variables = stage_variables
        self.authorizer = authorizer
        self.identity = identity or {}


def _identity(request: ApiRequest, extra: dict[str, Any]) -> dict[str, Any]:
    identity: dict[str, Any] = {
        "cognitoIdentityPoolId": None,
        "accountId": None,
        "cognitoIdentityId": None,
        "caller": None,
        "sourceIp": request.source_ip,
        "principalOrgId": None,
        "accessKey": None,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "userArn": None,
        "userAgent": request.user_agent,
        "user": None,
    }
    identity.update(extra)
    return identity


def request_context(request: ApiRequest, target: ProxyTarget) -> dict[str, Any]:
    """The `requestContext` of a proxy event (`$context` of a mapping template is the same, flat)."""
    context: dict[str, Any] = {
        "resourceId": target.resource_id,
        "resourcePath": target.resource_path,
        "httpMethod": request.method,
        "extendedRequestId": request.request_id,
        "requestTime": request.request_time,
        "path": f"/{target.stage}{request.path}" if target.stage != "$default" else request.path,
        "accountId": target.account,
        "protocol": "HTTP/1.1",
        "stage": target.stage,
        "domainPrefix": request.domain.split(".", 1)[0],
        "requestTimeEpoch": request.epoch_ms,
        "requestId": request.request_id,
        "identity": _identity(request, target.identity),
        "domainName": request.domain,
        "apiId": target.api_id,
    }
    if target.authorizer is not None:
        context["authorizer"] = target.authorizer
    return context


def rest_proxy_event(request: ApiRequest, target: ProxyTarget, binary: bool) -> dict[str, Any]:
    """The version 1.0 event: `binary` when the body's type is one of the API's binaryMediaTypes."""
    multi_query = request.multi_query
    headers = request.headers
    body, encoded = body_text(request.body, binary) if request.body else (None, False)
    return {
        "resource": target.resource_path,
        "path": request.path,
        "httpMethod": request.method,
        "headers": dict(headers) or None,
        "multiValueHeaders": {name: value.split(",") for name, value in headers.items()} or None,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": target.path_parameters or None,
        "stageVariables": target.stage_variables or None,
        "requestContext": request_context(request, target),
        "body": body,
        "isBase64Encoded": encoded,
    }


def read_proxy_result(payload: bytes) -> UrlResponse:
    """The response a proxy integration's result becomes; InvalidResult ("Malformed Lambda proxy
    response") for one API Gateway would not send."""
    try:
        result = json.loads(payload) if payload else None
    except (ValueError, UnicodeDecodeError):
        raise InvalidResult("the result is not JSON") from None
    if not isinstance(result, dict):
        raise InvalidResult("the result is not a JSON object")
    unknown = sorted(set(result) - _RESULT_FIELDS)
    if unknown:
        raise InvalidResult(f"unexpected fields {unknown}")
    status = result.get("statusCode", 200)
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
        raise InvalidResult(f"statusCode {status!r} is not an HTTP status")
    headers: list[tuple[str, str]] = []
    single = result.get("headers")
    multi = result.get("multiValueHeaders")
    single = {} if single is None else single
    multi = {} if multi is None else multi
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise InvalidResult("headers must be objects")
    for name, values in multi.items():
        if not isinstance(values, list):
            raise InvalidResult(f"multiValueHeaders[{name!r}] is not a list")
        headers += [(name, header_value(name, value)) for value in values]
    seen = {name.lower() for name, _ in headers}
    headers += [
        (name, header_value(name, value)) for name, value in single.items() if name.lower() not in seen
    ]
    headers = [(name, value) for name, value in headers if name.lower() not in _FRAMING]
    body = result.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise InvalidResult("body is not a string")
    elif result.get("isBase64Encoded") is True:
        try:
            data = base64.b64decode("".join(body.split()), validate=True)
        except binascii.Error:
            raise InvalidResult("body is not valid base64") from None
    else:
        data = body.encode()
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return UrlResponse(status, headers, data)
