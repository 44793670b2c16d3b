"""Calls to Lamina's own AWS APIs from inside the server, as a given principal: what
CloudFormation's resource providers use to create functions, roles, queues…

A call is serialized with botocore's serializer for the service's protocol, served by the same
facade a client's request reaches (its parsing, validation and authorization included, against
the principal instead of a signature), and its answer parsed with botocore's parser: a resource
a stack creates is created exactly as an SDK call would create it. Errors come back as AwsError
with the service's code, message and status."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import botocore.session
from botocore import parsers, serialize
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.compat import HTTPHeaders
from botocore.model import OperationModel, ServiceModel

from lamina.api.context import RequestContext
from lamina.api.services.service import Service
from lamina.domain.iam.principals import Principal
from lamina.domain.ids import new_request_id
from lamina.errors import AwsError
from lamina.protocol.http import HttpRequest

__all__ = ["InProcessClient"]

_HOST = "lamina.internal"
MAX_STREAMED_BYTES = 8 * 1024 * 1024  # what a caller in the server reads of a streamed answer
# botocore's model names of the services whose signing names differ.
_SIGNING_NAMES = {"cloudwatch": "monitoring", "apigatewayv2": "apigateway"}


# The wire protocols Lamina serves: a model that lists several (CloudWatch's CBOR first) is spoken
# in the first of these it lists.
_SERVED_PROTOCOLS = ("json", "rest-json", "rest-xml", "query")


@cache
def _model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


@cache
def _protocol(service: str) -> str:
    metadata = _model(service).metadata
    for protocol in metadata.get("protocols") or []:
        if protocol in _SERVED_PROTOCOLS:
            return str(protocol)
    return str(metadata["protocol"])


class InProcessClient:
    def __init__(self, services: Mapping[str, Service], validate: bool = True) -> None:
        """`services`: the gateway's facades by signing name. `validate`: check parameters against
        the model first, as an SDK does; without it the service's own validation answers (what
        AWS's console shows: "Value '100' at 'memorySize' failed to satisfy constraint…")."""
        self._services = services
        self._validate = validate

    async def call(
        self, service: str, operation: str, params: dict[str, Any], principal: Principal, region: str
    ) -> dict[str, Any]:
        """`operation` of botocore's `service` model with `params`, as `principal` in `region`."""
        model = _model(service)
        operation_model = model.operation_model(operation)
        protocol = _protocol(service)
        request = _http_request(protocol, operation_model, params, self._validate)
        facade = self._services[_SIGNING_NAMES.get(service, service)]
        context = RequestContext(new_request_id(), request, "", principal, "127.0.0.1", region)
        try:
            response = await facade.handle(request, context)
        except AwsError:
            raise
        body = response.body
        if response.stream is not None:  # an object's content: read whole, up to a bound
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.stream:
                size += len(chunk)
                if size > MAX_STREAMED_BYTES:
                    raise AwsError(
                        "ValidationError",
                        f"{service}:{operation} answered more than {MAX_STREAMED_BYTES} bytes",
                        400,
                    )
                chunks.append(chunk)
            body = b"".join(chunks)
        parser = parsers.create_parser(protocol)
        # botocore's parsers read headers case-insensitively, as HTTPHeaders does (a plain dict of
        # lower-cased names lost every header member: Invoke's LogResult, ExecutedVersion…).
        headers = HTTPHeaders.from_pairs(list(response.headers))
        parsed: dict[str, Any] = parser.parse(
            {"status_code": response.status, "headers": headers, "body": body},
            operation_model.output_shape,
        )
        if response.status >= 300:
            error = parsed.get("Error", {})
            raise AwsError(
                str(error.get("Code", "ServiceException")), str(error.get("Message", "")), response.status
            )
        parsed.pop("ResponseMetadata", None)
        return parsed


def _http_request(
    protocol: str, operation: OperationModel, params: dict[str, Any], validate: bool
) -> HttpRequest:
    serializer = serialize.create_serializer(protocol, include_validation=validate)
    try:
        request_dict = serializer.serialize_to_request(params, operation)
    except Exception as error:  # botocore's ParamValidationError and the like
        raise AwsError("ValidationError", str(error), 400) from None
    prepare_request_dict(request_dict, endpoint_url=f"http://{_HOST}")
    prepared = create_request_object(request_dict).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):
        body = b"".join(body)
    headers = {name.lower(): str(value) for name, value in prepared.headers.items()}
    headers.setdefault("host", _HOST)
    query = parse_qsl(url.query, keep_blank_values=True)
    return HttpRequest(prepared.method, url.path or "/", query, headers, body)
