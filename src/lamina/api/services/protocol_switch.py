"""One service spoken in two wire protocols on one endpoint: CloudWatch answers the query protocol
(older SDKs) and the json protocol (current ones, with `X-Amz-Target`). Each request is served, and
its errors rendered, in the protocol it came in."""

from __future__ import annotations

from lamina.api.context import RequestContext
from lamina.api.services.service import Service
from lamina.errors import AwsError
from lamina.protocol.http import HttpRequest, HttpResponse, WireProtocol


class ProtocolSwitch:
    def __init__(self, query: Service, json: Service) -> None:
        self._query = query
        self._json = json
        self.protocol: WireProtocol = query.protocol  # for errors before a request is read

    def _service_for(self, request: HttpRequest) -> Service:
        return self._json if "x-amz-target" in request.headers else self._query

    def protocol_for(self, request: HttpRequest) -> WireProtocol:
        return self._service_for(request).protocol

    async def handle(self, request: HttpRequest, context: RequestContext) -> HttpResponse:
        service = self._service_for(request)
        try:
            return await service.handle(request, context)
        except AwsError as error:
            return service.protocol.serialize_error(error, context.request_id)
