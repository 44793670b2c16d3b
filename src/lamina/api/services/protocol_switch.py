"""One signing name served by two facades on one endpoint, each request by the one it is for:
CloudWatch answers the query protocol (older SDKs) and the json protocol (current ones, with
`X-Amz-Target`); API Gateway's `apigateway` name covers both its control planes (`/v2/…` is
apigatewayv2's). Each request is served, and its errors rendered, in the protocol it came in."""

from __future__ import annotations

from collections.abc import Callable

from lamina.api.context import RequestContext
from lamina.api.services.service import Service
from lamina.errors import AwsError
from lamina.protocol.http import HttpRequest, HttpResponse, WireProtocol


def _json_protocol(request: HttpRequest) -> bool:
    return "x-amz-target" in request.headers


class ProtocolSwitch:
    def __init__(
        self, first: Service, second: Service, second_when: Callable[[HttpRequest], bool] = _json_protocol
    ) -> None:
        """`second_when(request)`: whether `second` serves the request (by default: the CloudWatch
        json protocol's X-Amz-Target header)."""
        self._first = first
        self._second = second
        self._second_when = second_when
        self.protocol: WireProtocol = first.protocol  # for errors before a request is read

    def _service_for(self, request: HttpRequest) -> Service:
        return self._second if self._second_when(request) else self._first

    def protocol_for(self, request: HttpRequest) -> WireProtocol:
        return self._service_for(request).protocol

    async def handle(self, request: HttpRequest, context: RequestContext) -> HttpResponse:
        service = self._service_for(request)
        try:
            return await service.handle(request, context)
        except AwsError as error:
            return service.protocol.serialize_error(error, context.request_id)
