"""A service facade: a table of operation name → handler, served through one wire protocol."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from lamina.api.context import OperationResult, RequestContext
from lamina.errors import AwsError
from lamina.identity.authorizer import Authorizer
from lamina.protocol.http import HttpRequest, HttpResponse, WireProtocol

OperationHandler = Callable[[dict[str, Any], RequestContext], Awaitable[OperationResult]]
# Checks that the caller may run an operation with these params; raises AwsError when not.
Authorize = Callable[[str, dict[str, Any], RequestContext], Awaitable[None]]


class Service(Protocol):
    """What the gateway serves a signed request with: a facade, or a router over facades."""

    protocol: WireProtocol

    def protocol_for(self, request: HttpRequest) -> WireProtocol:
        """The protocol a request speaks: its errors (even before it is authenticated) answer in it."""
        ...

    async def handle(self, request: HttpRequest, context: RequestContext) -> HttpResponse: ...


class ServiceFacade:
    def __init__(
        self,
        protocol: WireProtocol,
        operations: Mapping[str, OperationHandler],
        authorize: Authorize | None = None,
    ) -> None:
        self.protocol = protocol
        self._operations = dict(operations)
        self._authorize = authorize

    def protocol_for(self, request: HttpRequest) -> WireProtocol:
        return self.protocol

    @property
    def operation_names(self) -> frozenset[str]:
        return frozenset(self._operations)

    async def handle(self, request: HttpRequest, context: RequestContext) -> HttpResponse:
        """Raises AwsError for anything the caller got wrong; the gateway renders it."""
        matched = self.protocol.match_request(request)
        if matched is None:
            raise AwsError(
                "UnknownOperationException", f"No operation matches {request.method} {request.raw_path}", 404
            )
        operation, labels = matched
        handler = self._operations.get(operation.name)
        if handler is None:
            raise AwsError(
                "UnsupportedOperationException", f"Lamina does not implement {operation.name} yet.", 400
            )
        params = self.protocol.parse(operation, labels, request)
        if self._authorize is not None:
            await self._authorize(operation.name, params, context)
        result = await handler(params, context)
        return self.protocol.serialize(
            operation,
            result.output,
            status=result.status,
            request_id=context.request_id,
            headers=list(result.headers),
        )


def snake_case(operation: str) -> str:
    """An operation's handler name: CreateUser is create_user."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def method_table(
    target: Any,
    operations: Iterable[str],
    argument: Callable[[RequestContext], Any] = lambda context: context,
) -> dict[str, OperationHandler]:
    """Handlers for `operations` from `target`'s methods of the same names in snake case (CreateUser:
    create_user), each called with the params and `argument(context)` and returning the output."""

    def handler_for(name: str) -> OperationHandler:
        method = getattr(target, snake_case(name))

        async def handle(params: dict[str, Any], context: RequestContext) -> OperationResult:
            return OperationResult(await method(params, argument(context)))

        return handle

    return {operation: handler_for(operation) for operation in operations}


def caller_checks(authorizer: Authorizer, code: str) -> Callable[[str, str, RequestContext], None]:
    """The check of an API whose resources have no policies of their own (EventBridge, Scheduler):
    the caller's policies must allow `action` on `resource` in its own account, else `code` with
    AWS's message."""

    def check(action: str, resource: str, context: RequestContext) -> None:
        principal = context.principal
        authorizer.check(
            principal,
            action,
            resource,
            principal.account,
            code=code,
            context={"aws:SourceIp": context.source_ip},
        )

    return check
