"""The APIs' own endpoint: `http://<api-id>.execute-api.<region>.localhost:<port>/<stage>/<path>`
(by Host header) or `/_lamina/apis/<api-id>/<stage>/<path>` on Lamina's port; an HTTP API's
`$default` stage has no stage in the path.

The API id says whether a REST API (`rest_endpoint.py`) or an HTTP API (`http_api_endpoint.py`)
answers. An unknown API answers 403 `{"message":"Forbidden"}`; a body over API Gateway's 10 MB
payload quota 413. Every answer carries a request id (`x-amzn-RequestId`, `x-amz-apigw-id`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lamina.apigateway.execution_log import ExecutionLog
from lamina.apigateway.http_api_endpoint import HttpApiEndpoint
from lamina.apigateway.http_apis import HttpApiService
from lamina.apigateway.requests import HOST_MARKER
from lamina.apigateway.rest_apis import RestApiService
from lamina.apigateway.rest_endpoint import RestEndpoint, forbidden
from lamina.apigateway.rest_integrations import gateway_error
from lamina.domain.function_urls import UrlResponse
from lamina.domain.ids import new_request_id
from lamina.transport.http11 import LeanRequest, LeanResponse

__all__ = ["PATH_PREFIX", "ApiEndpoint", "Observe", "ServedRequest", "api_target"]

_log = logging.getLogger(__name__)
PATH_PREFIX = "/_lamina/apis/"
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's payload quota


def api_target(lean: LeanRequest) -> tuple[str, str] | None:
    """(api-id, the path after it) when the request is for an API's endpoint."""
    host = lean.headers.get("host", "").lower()  # host names are case-insensitive
    if HOST_MARKER in host:
        return host.split(".", 1)[0], lean.path or "/"
    if lean.path.startswith(PATH_PREFIX):
        api_id, _, rest = lean.path[len(PATH_PREFIX) :].partition("/")
        return api_id, "/" + rest
    return None


@dataclass(frozen=True, slots=True)
class ServedRequest:
    """One request an API answered, for its metrics and its execution and access logs."""

    account: str
    region: str
    http_api: bool
    api_id: str
    api_name: str
    status: int
    latency_ms: float
    log: ExecutionLog


# Told of every request that reached an API's stage (after it was answered).
Observe = Callable[[ServedRequest], None]


class ApiEndpoint:
    def __init__(
        self,
        rest: RestApiService,
        http_apis: HttpApiService,
        rest_endpoint: RestEndpoint,
        http_endpoint: HttpApiEndpoint,
        observe: Observe | None = None,
    ) -> None:
        self._rest = rest
        self._http_apis = http_apis
        self._rest_endpoint = rest_endpoint
        self._http_endpoint = http_endpoint
        self._observe = observe

    async def handle(self, lean: LeanRequest, api_id: str, path: str) -> LeanResponse:
        """Never raises: what fails unexpectedly is logged and answers 500."""
        request_id = new_request_id()
        log = ExecutionLog(request_id, enabled=False)  # the stage says whether it logs
        started = time.perf_counter()
        served: tuple[bool, str, str, str, str] | None = None  # (HTTP API, id, name, account, region)
        try:
            served, response = await self._serve(lean, api_id, path, log)
        except Exception:
            _log.exception("unhandled error serving API %s %s", api_id, path)
            response = gateway_error(500, "Internal server error", "InternalServerErrorException")
        if served is not None and log.stage is not None and self._observe is not None:
            latency = (time.perf_counter() - started) * 1000
            if log.access_log:
                log.context = _access_context(lean, log, response, api_id, latency)
            http_api, served_id, name, account, region = served
            self._observe(
                ServedRequest(account, region, http_api, served_id, name, response.status, latency, log)
            )
        headers = (*response.headers, ("x-amzn-RequestId", request_id), ("x-amz-apigw-id", request_id[:16]))
        return LeanResponse(response.status, response.body, content_type=None, headers=headers)

    async def _serve(
        self, lean: LeanRequest, api_id: str, path: str, log: ExecutionLog
    ) -> tuple[tuple[bool, str, str, str, str] | None, UrlResponse]:
        if lean.body_too_large or lean.stream is not None or len(lean.body) > MAX_PAYLOAD_BYTES:
            return None, gateway_error(413, "Request Too Long", "RequestTooLongException")
        rest_api = self._rest.api_by_id(api_id)
        if rest_api is not None and not rest_api.document.get("disableExecuteApiEndpoint"):
            served = (False, rest_api.id, str(rest_api.document["name"]), rest_api.account, rest_api.region)
            return served, await self._rest_endpoint.serve(rest_api, lean, path, log)
        http_api = self._http_apis.api_by_id(api_id)
        if http_api is not None and not http_api.document.get("DisableExecuteApiEndpoint"):
            served = (True, http_api.id, str(http_api.document["Name"]), http_api.account, http_api.region)
            return served, await self._http_endpoint.serve(http_api, lean, path, log)
        return None, forbidden()


def _access_context(
    lean: LeanRequest, log: ExecutionLog, response: UrlResponse, api_id: str, latency_ms: float
) -> dict[str, Any]:
    """The `$context` variables an access log format may use."""
    now = datetime.now(UTC)
    integration = log.integration_latency_ms
    return {
        "requestId": log.request_id,
        "extendedRequestId": log.request_id,
        "apiId": api_id,
        "stage": log.stage,
        "ip": lean.peer[0] if lean.peer else "",
        "identity": {
            "sourceIp": lean.peer[0] if lean.peer else "",
            "userAgent": lean.headers.get("user-agent"),
        },
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "httpMethod": lean.method,
        "path": lean.path,
        "protocol": "HTTP/1.1",
        "status": response.status,
        "responseLength": len(response.body),
        "responseLatency": int(latency_ms),
        "integrationLatency": int(integration) if integration is not None else None,
        "domainName": lean.headers.get("host", "").split(":")[0],
    }
