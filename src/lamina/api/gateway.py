"""The single-port request handler: function URLs, internal routes, SigV4 authentication, routing
by service.

AWS clients name the service in the SigV4 credential scope (`…/lambda/aws4_request`), so one port
can serve every API. Every request must be signed by a known key. Nothing a caller sends can
crash the server: unexpected failures become a 500 ServiceException and are logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import parse_qsl

from lamina.api.admin import PREFIX as ADMIN_PREFIX
from lamina.api.admin import AdminRoutes
from lamina.api.callers import caller_of
from lamina.api.context import RequestContext
from lamina.api.function_urls import FunctionUrlRouter, url_target
from lamina.api.internal import InternalRoutes
from lamina.api.services.service import Service
from lamina.apigateway.endpoint import ApiEndpoint, api_target
from lamina.domain.ids import new_request_id
from lamina.domain.regions import invalid_region, is_region
from lamina.errors import AwsError
from lamina.identity.directory import Credential
from lamina.protocol.http import HttpRequest, HttpResponse, WireProtocol
from lamina.protocol.sigv2 import is_sigv2
from lamina.protocol.sigv4 import CredentialScope, SignedRequest, SigV4Verifier, read_credential_scope
from lamina.transport.http11 import INTERNAL_ERROR, LeanRequest, LeanResponse

_log = logging.getLogger(__name__)


# Lambda quotas: a CreateFunction request with a base64 ZIP may be up to 70167211 bytes.
MAX_REQUEST_BYTES = 70_167_211


def _presigned(query_string: str) -> bool:
    """A signature in the query: a presigned request (of a bucket named `metrics`, say), not a
    scrape of `GET /metrics`."""
    return "X-Amz-Signature=" in query_string or "Signature=" in query_string


def to_lean_response(response: HttpResponse) -> LeanResponse:
    return LeanResponse(
        response.status,
        response.body,
        content_type=None,
        headers=tuple(response.headers),
        stream=response.stream,
        length=response.length,
    )


# Verifies a request signed with S3's older signature (`protocol/sigv2.py`), whose scope names no
# region or service: the result says which (S3, in the server's home region).
SigV2Check = Callable[[LeanRequest], CredentialScope]


CONSOLE_PATH = "/_lamina/console"  # the web console's pages (console/app.py), signed in by cookie


class Gateway:
    def __init__(
        self,
        services: Mapping[str, Service],
        default_service: str,
        verifier: SigV4Verifier,
        internal: InternalRoutes,
        function_urls: FunctionUrlRouter,
        credentials: Callable[[str], Credential | None],
        admin: AdminRoutes | None = None,
        sigv2: SigV2Check | None = None,
        api_endpoint: ApiEndpoint | None = None,
        console: Callable[[LeanRequest], Awaitable[LeanResponse]] | None = None,
    ) -> None:
        """`credentials(access_key_id)`: who a verified key belongs to (the verifier looked up its
        secret the same way); `console`: the web console's handler (/_lamina/console/)."""
        self._services = dict(services)
        self._default = self._services[default_service]
        self._verifier = verifier
        self._internal = internal
        self._function_urls = function_urls
        self._credentials = credentials
        self._admin = admin
        self._sigv2 = sigv2
        self._api_endpoint = api_endpoint
        self._console = console

    async def handle(self, lean: LeanRequest) -> LeanResponse:
        """The public port's handler: never raises."""
        target = url_target(lean)
        if target is not None:
            return await self._serve_function_url(lean, *target)
        if self._api_endpoint is not None:
            api = api_target(lean)
            if api is not None:
                return await self._api_endpoint.handle(lean, *api)
        if lean.path.startswith(ADMIN_PREFIX) and self._admin is not None:
            return await self._serve_admin(lean)
        if self._console is not None and (
            lean.path == CONSOLE_PATH or lean.path.startswith(CONSOLE_PATH + "/")
        ):
            return await self._console(lean)
        request_id = new_request_id()
        raw_path = lean.path
        query_string = lean.query_string
        headers = lean.headers
        facade = self._default
        request: HttpRequest | None = None
        try:
            if lean.body_too_large:
                # Answer in the protocol of the service the caller meant, as far as it can be told.
                facade = self._facade_named(headers, query_string, facade)
                raise AwsError(
                    "RequestEntityTooLargeException",
                    f"Request must be smaller than {MAX_REQUEST_BYTES} bytes for the operation",
                    413,
                )
            query = parse_qsl(query_string, keep_blank_values=True) if query_string else []
            request = HttpRequest(lean.method, raw_path, query, headers, lean.body, lean.stream)
            if raw_path.startswith("/_lamina/") or (
                raw_path == "/metrics" and "authorization" not in headers and not _presigned(query_string)
            ):
                return to_lean_response(await self._internal.handle(request))
            try:
                if self._sigv2 is not None and is_sigv2(headers, query_string):
                    facade = self._services.get("s3", facade)
                    verified = self._sigv2(lean)
                else:
                    verified = self._verifier.verify(
                        SignedRequest(
                            lean.method,
                            raw_path,
                            query_string,
                            headers,
                            None if lean.stream is not None else lean.body,
                        )
                    )
            except AwsError:
                facade = self._facade_named(headers, query_string, facade)
                raise
            facade = self._services.get(verified.service, facade)
            if not is_region(verified.region):
                raise invalid_region()
            principal = caller_of(self._credentials, verified.access_key_id, verified.service, headers, query)
            source_ip = lean.peer[0] if lean.peer else ""
            context = RequestContext(
                request_id, request, verified.access_key_id, principal, source_ip, verified.region
            )
            response = await facade.handle(request, context)
        except AwsError as error:
            response = self._error_protocol(facade, request).serialize_error(error, request_id)
        except Exception:
            _log.exception("unhandled error serving %s %s", lean.method, raw_path)
            internal = AwsError(
                "ServiceException",
                "An internal error occurred; the request was not completed.",
                500,
                error_type="Service",
            )
            response = self._error_protocol(facade, request).serialize_error(internal, request_id)
        return to_lean_response(response)

    def _facade_named(self, headers: Mapping[str, str], query_string: str, fallback: Service) -> Service:
        """The service a request names in its signature (before the signature is checked)."""
        if self._sigv2 is not None and is_sigv2(headers, query_string):
            return self._services.get("s3", fallback)
        credential = read_credential_scope(headers, query_string)
        if credential is not None:
            return self._services.get(credential.service, fallback)
        return fallback

    @staticmethod
    def _error_protocol(facade: Service, request: HttpRequest | None) -> WireProtocol:
        """The protocol the request spoke (CloudWatch takes two), once it is known."""
        return facade.protocol_for(request) if request is not None else facade.protocol

    async def _serve_function_url(self, lean: LeanRequest, url_id: str, path: str) -> LeanResponse:
        try:
            return await self._function_urls.handle(lean, url_id, path)
        except Exception:
            _log.exception("unhandled error serving function URL %s", url_id)
            return LeanResponse(500, b'{"Message":"Internal Server Error"}')

    async def _serve_admin(self, lean: LeanRequest) -> LeanResponse:
        assert self._admin is not None
        try:
            return await self._admin.handle(lean)
        except Exception:
            _log.exception("unhandled error serving %s %s", lean.method, lean.path)
            return INTERNAL_ERROR
