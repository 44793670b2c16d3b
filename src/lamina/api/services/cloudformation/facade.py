"""CloudFormation's door: the query protocol from botocore's `cloudformation` model, each operation
authorised as `cloudformation:<Operation>` on the stack it names."""

from __future__ import annotations

from typing import Any

from lamina.api.context import RequestContext
from lamina.api.services.cloudformation.operations import OPERATIONS, StackOperations
from lamina.api.services.service import ServiceFacade, caller_checks, snake_case
from lamina.deploy.stacks import StackService
from lamina.identity.authorizer import Authorizer
from lamina.protocol.model import create_protocol, load_service_model

__all__ = ["build_cloudformation_facade"]


def build_cloudformation_facade(service: StackService, authorizer: Authorizer) -> ServiceFacade:
    check = caller_checks(authorizer, "AccessDenied")

    async def authorize(operation: str, params: dict[str, Any], context: RequestContext) -> None:
        name = params.get("StackName") or "*"
        account, region = context.principal.account, context.region
        resource = (
            name
            if str(name).startswith("arn:")
            else f"arn:aws:cloudformation:{region}:{account}:stack/{name}/*"
        )
        check(f"cloudformation:{operation}", resource, context)

    operations = StackOperations(service)
    table = {name: getattr(operations, snake_case(name)) for name in OPERATIONS}
    return ServiceFacade(create_protocol(load_service_model("cloudformation")), table, authorize)
