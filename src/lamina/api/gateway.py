"""The single-port ASGI app: internal routes, SigV4 authentication, routing by service.

AWS clients name the service in the SigV4 credential scope (`…/lambda/aws4_request`), so one port
can serve every API. Every request must be signed by a known key. Nothing a caller sends can
crash the server: unexpected failures become a 500 ServiceException and are logged.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from lamina.api.context import RequestContext
from lamina.api.internal import InternalRoutes
from lamina.api.services.service import ServiceFacade
from lamina.errors import AwsError
from lamina.protocol.http import HttpRequest, HttpResponse
from lamina.protocol.sigv4 import SignedRequest, SigV4Verifier, read_credential_scope

_log = logging.getLogger(__name__)
# Lambda quotas: a CreateFunction request with a base64 ZIP may be up to 70167211 bytes.
MAX_REQUEST_BYTES = 70_167_211

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
LifecycleHook = Callable[[], Awaitable[None]]


class BodyTooLarge(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def send_response(send: Send, response: HttpResponse) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


class Gateway:
    def __init__(
        self,
        services: Mapping[str, ServiceFacade],
        default_service: str,
        verifier: SigV4Verifier,
        internal: InternalRoutes,
        on_startup: LifecycleHook,
        on_shutdown: LifecycleHook,
    ) -> None:
        self._services = dict(services)
        self._default = self._services[default_service]
        self._verifier = verifier
        self._internal = internal
        self._on_startup = on_startup
        self._on_shutdown = on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._on_startup()
                except Exception as exc:
                    _log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self._on_shutdown()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = str(uuid.uuid4())
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        raw_path = raw_path.split("?", 1)[0]
        query_string = scope.get("query_string", b"").decode("latin-1")
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
        }
        facade = self._default
        try:
            body = await _read_body(receive, MAX_REQUEST_BYTES)
            query = parse_qsl(query_string, keep_blank_values=True)
            request = HttpRequest(scope["method"], raw_path, query, headers, body)
            if raw_path.startswith("/_lamina/"):
                await send_response(send, await self._internal.handle(request))
                return
            credential = read_credential_scope(headers, query_string)
            if credential is not None and credential.service in self._services:
                facade = self._services[credential.service]
            verified = self._verifier.verify(
                SignedRequest(scope["method"], raw_path, query_string, headers, body)
            )
            context = RequestContext(request_id, request, verified.access_key_id)
            response = await facade.handle(request, context)
        except AwsError as error:
            response = facade.protocol.serialize_error(error, request_id)
        except BodyTooLarge:
            too_large = AwsError(
                "RequestEntityTooLargeException",
                f"Request must be smaller than {MAX_REQUEST_BYTES} bytes for the operation",
                413,
            )
            response = facade.protocol.serialize_error(too_large, request_id)
        except Exception:
            _log.exception("unhandled error serving %s %s", scope["method"], raw_path)
            internal = AwsError(
                "ServiceException",
                "An internal error occurred; the request was not completed.",
                500,
                error_type="Service",
            )
            response = facade.protocol.serialize_error(internal, request_id)
        await send_response(send, response)
