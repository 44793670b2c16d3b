"""API Gateway's control-plane door: botocore's `apigateway` model (REST APIs, API keys, usage
plans) and `apigatewayv2` model (HTTP APIs, under `/v2/`) over rest-json on the one signing name
`apigateway`; each request authorised as API Gateway's IAM actions are — `apigateway:<HTTP method>`
on the ARN of the path it reaches (`arn:aws:apigateway:<region>::/restapis/<id>/…`)."""

from __future__ import annotations

from typing import Any

from lamina.api.context import RequestContext
from lamina.api.services.apigateway.http_operations import HTTP_OPERATIONS, HttpApiOperations
from lamina.api.services.apigateway.rest_operations import OPERATIONS, RestApiOperations
from lamina.api.services.apigateway.usage_operations import USAGE_OPERATIONS, UsagePlanOperations
from lamina.api.services.protocol_switch import ProtocolSwitch
from lamina.api.services.service import ServiceFacade, caller_checks, snake_case
from lamina.apigateway.http_apis import HttpApiService
from lamina.apigateway.rest_apis import RestApiService
from lamina.apigateway.rest_integrations import HttpCall, LambdaCall
from lamina.apigateway.usage_plans import UsagePlanService
from lamina.identity.authorizer import Authorizer
from lamina.protocol.model import create_protocol, load_service_model

__all__ = ["build_apigateway_facade"]

V2_PREFIX = "/v2/"


def build_apigateway_facade(
    rest: RestApiService,
    usage: UsagePlanService,
    http_apis: HttpApiService,
    authorizer: Authorizer,
    lambdas: LambdaCall,
    http: HttpCall,
) -> ProtocolSwitch:
    check = caller_checks(authorizer, "AccessDeniedException")

    async def authorize(operation: str, params: dict[str, Any], context: RequestContext) -> None:
        request = context.request
        check(
            f"apigateway:{request.method}",
            f"arn:aws:apigateway:{context.region}::{request.raw_path}",
            context,
        )

    operations = RestApiOperations(rest, lambdas, http)
    table = {name: getattr(operations, snake_case(name)) for name in OPERATIONS}
    usage_operations = UsagePlanOperations(usage)
    table |= {name: getattr(usage_operations, snake_case(name)) for name in USAGE_OPERATIONS}
    v1 = ServiceFacade(create_protocol(load_service_model("apigateway")), table, authorize)
    http_operations = HttpApiOperations(http_apis)
    v2_table = {name: getattr(http_operations, snake_case(name)) for name in HTTP_OPERATIONS}
    v2 = ServiceFacade(create_protocol(load_service_model("apigatewayv2")), v2_table, authorize)
    return ProtocolSwitch(v1, v2, second_when=lambda request: request.raw_path.startswith(V2_PREFIX))
