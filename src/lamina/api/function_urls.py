"""Requests to function URLs: `http://<url-id>.lambda-url.<region>.localhost:<port>/…` (by Host
header) or `/_lamina/urls/<url-id>/…` on Lamina's port.

Calls are authorised as lambda:InvokeFunctionUrl: an AWS_IAM URL needs a SigV4-signed request
(service `lambda`) whose signer may call it, by its own policies or the function's; a NONE URL
needs a statement in the function's policy that lets everyone in (AddPermission with Principal
"*" and FunctionUrlAuthType NONE, as AWS requires). The request
becomes a payload format 2.0 event, the function runs synchronously, and its result becomes the
HTTP response (domain/function_urls.py). Errors answer as function URLs do: 403 Forbidden and 429
with a {"Message": …} body, 502 with `Internal Server Error`, an unknown url-id 403 {"Message":null}.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl

from lamina.api.callers import caller_of
from lamina.domain.function_urls import (
    FunctionUrlConfig,
    InvalidResult,
    UrlRequest,
    UrlResponse,
    error_response,
    failed_response,
    is_preflight,
    preflight_response,
    read_result,
    request_event,
    unknown_url_response,
    with_cors,
)
from lamina.domain.iam.evaluation import Decision
from lamina.domain.iam.principals import ANONYMOUS_PRINCIPAL, Principal
from lamina.domain.ids import new_request_id
from lamina.errors import AwsError
from lamina.execution.invocation import InvocationInput, InvocationService
from lamina.functions.function_urls import FunctionUrlService
from lamina.functions.manager import FunctionManager
from lamina.functions.permissions import PermissionService
from lamina.identity.authorizer import Authorizer
from lamina.identity.directory import Credential
from lamina.protocol.sigv4 import SignedRequest, SigV4Verifier
from lamina.transport.http11 import LeanRequest, LeanResponse

_log = logging.getLogger(__name__)
PATH_PREFIX = "/_lamina/urls/"
INVOKE_URL = "lambda:InvokeFunctionUrl"
HOST_MARKER = ".lambda-url."


def url_target(lean: LeanRequest) -> tuple[str, str] | None:
    """(url-id, the path the function sees) when the request is for a function URL."""
    host = lean.headers.get("host", "")
    if HOST_MARKER in host:
        return host.split(".", 1)[0], lean.path or "/"
    if lean.path.startswith(PATH_PREFIX):
        url_id, _, rest = lean.path[len(PATH_PREFIX) :].partition("/")
        return url_id, "/" + rest
    return None


class FunctionUrlHandler:
    def __init__(
        self,
        urls: FunctionUrlService,
        manager: FunctionManager,
        invocations: InvocationService,
        verifier: SigV4Verifier,
        credentials: Callable[[str], Credential | None],
        authorizer: Authorizer,
        permissions: PermissionService,
        function_log: Callable[[str, str, str], None],
    ) -> None:
        """`function_log(group, stream, message)` adds a line to a function's log stream."""
        self._urls = urls
        self._manager = manager
        self._invocations = invocations
        self._verifier = verifier
        self._credentials = credentials
        self._authorizer = authorizer
        self._permissions = permissions
        self._function_log = function_log
        self._placement = manager.placement

    async def _allowed(self, principal: Principal, config: FunctionUrlConfig) -> bool:
        """lambda:InvokeFunctionUrl on the function, as its resource policy and (for AWS_IAM) the
        caller's policies allow; a NONE URL needs a statement for everyone, as on AWS."""
        policy = await self._permissions.enforced_policy(config.function_name, config.qualifier)
        decision = self._authorizer.decide(
            principal,
            INVOKE_URL,
            self._urls.arn(config),
            self._placement.account_id,
            policy,
            {"lambda:FunctionUrlAuthType": config.auth_type},
        )
        return decision is Decision.ALLOW

    def owns(self, url_id: str) -> bool:
        return self._urls.lookup(url_id) is not None

    async def handle(self, lean: LeanRequest, url_id: str, path: str) -> LeanResponse:
        request_id = new_request_id()
        response = await self._serve(lean, url_id, path, request_id)
        headers = (*response.headers, ("x-amzn-RequestId", request_id))
        return LeanResponse(response.status, response.body, content_type=None, headers=headers)

    async def _serve(self, lean: LeanRequest, url_id: str, path: str, request_id: str) -> UrlResponse:
        config = self._urls.lookup(url_id)
        if config is None:
            return unknown_url_response()
        request = UrlRequest(
            lean.method, path, lean.query_string, lean.headers, lean.body, lean.peer[0] if lean.peer else ""
        )
        if config.cors and is_preflight(request):
            return preflight_response(config.cors, request)
        caller = None
        principal = ANONYMOUS_PRINCIPAL
        if config.auth_type == "AWS_IAM":
            try:
                verified = self._verifier.verify(
                    SignedRequest(lean.method, lean.path, lean.query_string, lean.headers, lean.body)
                )
                if verified.service != "lambda":
                    return error_response(403, "Forbidden")
                query = parse_qsl(lean.query_string, keep_blank_values=True)
                principal = caller_of(
                    self._credentials, verified.access_key_id, "lambda", lean.headers, query
                )
            except AwsError:
                return error_response(403, "Forbidden")
            caller = {
                "accessKey": verified.access_key_id,
                "accountId": principal.account,
                "callerId": principal.user_id,
                "cognitoIdentity": None,
                "principalOrgId": None,
                "userArn": principal.arn,
                "userId": principal.user_id,
            }
        if not await self._allowed(principal, config):
            return error_response(403, "Forbidden")
        try:
            function = self._manager.get(config.function_name, config.qualifier, route=True)
        except AwsError:
            return error_response(404, "Not Found")
        domain = f"{url_id}.lambda-url.{self._placement.region}.on.aws"
        event = request_event(
            request,
            config,
            domain=domain,
            account_id=self._placement.account_id,
            request_id=request_id,
            caller=caller,
        )
        invocation = InvocationInput(
            function, self._urls.arn(config), json.dumps(event, separators=(",", ":")).encode()
        )
        try:
            result = await self._invocations.invoke(invocation, request_id)
        except AwsError as error:
            if error.status == 429:
                return error_response(429, "Rate Exceeded.")
            _log.warning("function URL %s: %s", url_id, error.message)
            return failed_response()
        if result.function_error is not None:
            response = failed_response()
        else:
            try:
                response = read_result(result.payload)
            except InvalidResult as error:
                # The caller learns nothing but 502; the function's owner reads why in its log
                # stream (after the invocation's REPORT line: the result is read once it ended).
                reason = f"Function URL response could not be sent (RequestId: {request_id}): {error}"
                self._function_log(function.log_group_name, result.log_stream, reason)
                _log.warning("function URL %s of %s: %s", url_id, config.function_name, reason)
                response = failed_response()
        return with_cors(response, config.cors, request.headers.get("origin"))


class FunctionUrlRouter:
    """Function URLs of every account: a url-id belongs to exactly one account's function."""

    def __init__(self, handlers: Callable[[], Iterable[FunctionUrlHandler]]) -> None:
        self._handlers = handlers

    async def handle(self, lean: LeanRequest, url_id: str, path: str) -> LeanResponse:
        for handler in self._handlers():
            if handler.owns(url_id):
                return await handler.handle(lean, url_id, path)
        unknown = unknown_url_response()
        return LeanResponse(unknown.status, unknown.body, content_type=None, headers=tuple(unknown.headers))
