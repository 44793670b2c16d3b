"""Composition of API Gateway (part of the composition root, kept apart from `server.py`): the REST
API definitions over the resource store, the control-plane facade, and the APIs' endpoint, whose
Lambda integrations invoke functions as `apigateway.amazonaws.com` through their resource policies."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from lamina.api.execute_api_iam import execute_api_iam
from lamina.api.services.apigateway.facade import build_apigateway_facade
from lamina.api.services.service import Service
from lamina.apigateway.access_logs import log_group_of, render_access_line
from lamina.apigateway.endpoint import ApiEndpoint, ServedRequest
from lamina.apigateway.http_api_endpoint import HttpApiEndpoint
from lamina.apigateway.http_apis import HttpApiService
from lamina.apigateway.http_authorizers import RouteAuthorizers
from lamina.apigateway.http_endpoints import HttpEndpoints
from lamina.apigateway.jwt_tokens import JwtVerifier
from lamina.apigateway.rest_apis import RestApiService
from lamina.apigateway.rest_endpoint import RestEndpoint
from lamina.apigateway.rest_integrations import IntegrationError
from lamina.apigateway.usage_plans import UsagePlanService
from lamina.errors import AwsError
from lamina.identity.authorizer import Authorizer
from lamina.identity.directory import Credential
from lamina.observability.metrics.api_gateway_metrics import ApiGatewayMetrics, ApiRequestFacts
from lamina.observability.metrics.recorder import MetricRecorder
from lamina.protocol.sigv4 import SigV4Verifier
from lamina.store.ports import ServerLogStore
from lamina.store.resource_ports import ResourceStore
from lamina.triggers.service_invoker import InvokerOf, function_location

__all__ = ["APIGATEWAY_PRINCIPAL", "EmbeddedApis", "build_apis"]

APIGATEWAY_PRINCIPAL = "apigateway.amazonaws.com"
_INTERNAL = "Internal server error"


@dataclass
class EmbeddedApis:
    rest: RestApiService
    usage: UsagePlanService
    http_apis: HttpApiService
    facade: Service
    endpoint: ApiEndpoint
    http: list[HttpEndpoints]  # integrations' threads, and the issuers' (JWKS) threads

    async def open(self) -> None:
        """After the resource store is open."""
        await self.load()

    async def load(self) -> None:
        """(Re-)read the definitions: at start, and what other servers on one database changed."""
        await self.rest.load()
        await self.usage.load()
        await self.http_apis.load()

    def close(self) -> None:
        for pool in self.http:
            pool.close()


# The log store and metric recorder of an account-region (None when it does not exist here).
ObserversOf = Callable[[str, str], tuple[ServerLogStore, MetricRecorder] | None]


class _Observations:
    """Every request an API answered, into AWS/ApiGateway metrics and (as the stage's settings
    ask) the execution log group `API-Gateway-Execution-Logs_<api-id>/<stage>` and the access log
    group the stage names."""

    def __init__(self, observers_of: ObserversOf) -> None:
        self._observers_of = observers_of
        self._metrics: dict[int, ApiGatewayMetrics] = {}  # by the recorder's id
        self._stream = uuid.uuid4().hex  # this server's stream in each group

    def __call__(self, served: ServedRequest) -> None:
        found = self._observers_of(served.account, served.region)
        if found is None:
            return
        logs, recorder = found
        metrics = self._metrics.get(id(recorder))
        if metrics is None:
            metrics = self._metrics[id(recorder)] = ApiGatewayMetrics(recorder)
        log = served.log
        stage = log.stage or ""
        metrics.served(
            ApiRequestFacts(
                served.http_api,
                served.api_id,
                served.api_name,
                stage,
                served.status,
                served.latency_ms,
                log.integration_latency_ms,
            )
        )
        level = (log.logging_level or "OFF").upper()
        if level == "INFO" or (level == "ERROR" and served.status >= 400):
            logs.append(f"API-Gateway-Execution-Logs_{served.api_id}/{stage}", self._stream, log.events())
        access = log.access_log or {}
        destination = access.get("destinationArn") or access.get("DestinationArn")
        template = access.get("format") or access.get("Format")
        group = log_group_of(str(destination)) if destination else None
        if group and template:
            line = render_access_line(str(template), log.context)
            logs.append(
                group, f"{served.api_id}-{stage}-{self._stream[:8]}", [(int(time.time() * 1000), line)]
            )


def build_apis(
    store: ResourceStore,
    authorizer: Authorizer,
    invoker_of: InvokerOf,
    verifier: SigV4Verifier,
    credentials: Callable[[str], Credential | None],
    endpoint_url: str,
    observers_of: ObserversOf,
) -> EmbeddedApis:
    port = urlsplit(endpoint_url).port or 80

    def endpoint_of(api_id: str, region: str) -> str:
        return f"http://{api_id}.execute-api.{region}.localhost:{port}"

    async def call_lambda(
        function_arn: str, payload: bytes, source_arn: str, account: str
    ) -> tuple[bytes, str | None]:
        location = function_location(function_arn)
        invoker = await invoker_of(*location) if location is not None else None
        if invoker is None or not await invoker.allowed(
            APIGATEWAY_PRINCIPAL, function_arn, source_arn, account
        ):
            raise IntegrationError(
                500,
                _INTERNAL,
                "Execution failed due to configuration error: Invalid permissions on Lambda function",
            )
        try:
            result = await invoker.run_allowed(function_arn, payload)
        except AwsError as error:
            raise IntegrationError(
                500,
                _INTERNAL,
                f"Lambda invocation failed with status: {error.status}. Lambda request id: {error.code}",
            ) from None
        return result.payload, result.function_error

    rest = RestApiService(store)
    usage = UsagePlanService(store)
    http_apis = HttpApiService(store, endpoint_of)
    http = HttpEndpoints()
    facade = build_apigateway_facade(rest, usage, http_apis, authorizer, call_lambda, http)
    iam = execute_api_iam(verifier, credentials, authorizer)
    issuers = HttpEndpoints(threads=4)  # a slow issuer never holds up integrations
    jwt = JwtVerifier(issuers.fetch_json)
    endpoint = ApiEndpoint(
        rest,
        http_apis,
        RestEndpoint(usage, call_lambda, http, iam),
        HttpApiEndpoint(call_lambda, http, RouteAuthorizers(call_lambda, jwt), iam),
        _Observations(observers_of),
    )
    return EmbeddedApis(rest, usage, http_apis, facade, endpoint, [http, issuers])
