"""Cloud Control API's door (botocore's `cloudcontrol` model, json protocol): GetResource for the
resource types tools read through it (`sam list endpoints` reads AWS::Lambda::Url), answered by
reading the resource through Lamina's own API as the caller, so the caller's permissions on the
resource apply as well as `cloudformation:GetResource`."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from lamina.api.context import OperationResult, RequestContext
from lamina.api.in_process import InProcessClient
from lamina.api.services.service import ServiceFacade, caller_checks
from lamina.errors import AwsError
from lamina.identity.authorizer import Authorizer
from lamina.protocol.model import create_protocol, load_service_model

__all__ = ["build_cloud_control_facade"]

Read = Callable[[str, str], Awaitable[dict[str, Any]]]  # (service, operation, params) bound below
_FUNCTION_PROPERTIES = (
    "FunctionName",
    "Runtime",
    "Handler",
    "Role",
    "MemorySize",
    "Timeout",
    "Description",
    "Architectures",
    "PackageType",
    "Layers",
)


def _not_found(type_name: str, identifier: str) -> AwsError:
    return AwsError(
        "ResourceNotFoundException",
        f"Resource of type '{type_name}' with identifier '{identifier}' was not found.",
        400,
    )


def _function_url(answer: dict[str, Any]) -> dict[str, Any]:
    properties = {
        "TargetFunctionArn": answer["FunctionArn"],
        "FunctionArn": answer["FunctionArn"],
        "FunctionUrl": answer["FunctionUrl"],
        "AuthType": answer["AuthType"],
        "InvokeMode": answer.get("InvokeMode", "BUFFERED"),
    }
    if answer.get("Cors"):
        properties["Cors"] = answer["Cors"]
    return properties


def _function(answer: dict[str, Any]) -> dict[str, Any]:
    configuration = answer["Configuration"]
    properties = {name: configuration[name] for name in _FUNCTION_PROPERTIES if name in configuration}
    properties["Arn"] = configuration["FunctionArn"]
    if (configuration.get("Environment") or {}).get("Variables"):
        properties["Environment"] = {"Variables": configuration["Environment"]["Variables"]}
    return properties


# type → (service, read operation, its identifier parameter, the properties of its answer)
_READERS: dict[str, tuple[str, str, str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "AWS::Lambda::Url": ("lambda", "GetFunctionUrlConfig", "FunctionName", _function_url),
    "AWS::Lambda::Function": ("lambda", "GetFunction", "FunctionName", _function),
}
_GONE = frozenset({"ResourceNotFoundException", "NotFoundException"})


def build_cloud_control_facade(client: InProcessClient, authorizer: Authorizer) -> ServiceFacade:
    check = caller_checks(authorizer, "AccessDeniedException")

    async def authorize(operation: str, params: dict[str, Any], context: RequestContext) -> None:
        check(f"cloudformation:{operation}", "*", context)

    async def get_resource(params: dict[str, Any], context: RequestContext) -> OperationResult:
        type_name, identifier = str(params["TypeName"]), str(params["Identifier"])
        reader = _READERS.get(type_name)
        if reader is None:
            raise AwsError(
                "UnsupportedActionException", f"Resource type {type_name} does not support READ action", 400
            )
        service, operation, member, properties_of = reader
        try:
            answer = await client.call(
                service, operation, {member: identifier}, context.principal, context.region
            )
        except AwsError as error:
            if error.code in _GONE:
                raise _not_found(type_name, identifier) from None
            if error.status == 400:  # the identifier is not one the type's API takes
                raise AwsError(
                    "InvalidRequestException",
                    f"Invalid identifier {identifier[:200]!r}: {error.message}",
                    400,
                ) from None
            raise
        properties = json.dumps(properties_of(answer), default=str)
        return OperationResult(
            {
                "TypeName": type_name,
                "ResourceDescription": {"Identifier": identifier, "Properties": properties},
            }
        )

    protocol = create_protocol(load_service_model("cloudcontrol"))
    return ServiceFacade(protocol, {"GetResource": get_resource}, authorize)
