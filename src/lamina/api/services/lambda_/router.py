"""Lambda calls go to the account whose Lambda state they are about: the account a function,
layer or resource ARN in the request names, else the caller's own. Each account has its own
facade (its functions, stores and limits); the wire protocol is shared."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote

from lamina.api.context import RequestContext
from lamina.api.services.service import ServiceFacade
from lamina.errors import AwsError
from lamina.protocol.http import HttpRequest, HttpResponse, WireProtocol

# An ARN in the path (FunctionName, Resource, layer ARN) or the query (GetLayerVersionByArn).
_ARN_ACCOUNT = re.compile(r"arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]*:(\d{12}):")
_PARTIAL_ARN_ACCOUNT = re.compile(r"/(\d{12}):function:")


def target_account(request: HttpRequest, caller_account: str) -> str:
    """The account a Lambda request addresses."""
    if "%3A" in request.raw_path or ":" in request.raw_path or request.query:
        path = unquote(request.raw_path)
        match = _ARN_ACCOUNT.search(path) or _PARTIAL_ARN_ACCOUNT.search(path)
        if match is None:
            for _, value in request.query:
                match = _ARN_ACCOUNT.search(value)
                if match is not None:
                    break
        if match is not None:
            return match.group(1)
    return caller_account


class LambdaRouter:
    def __init__(self, protocol: WireProtocol, facades: Callable[[str], ServiceFacade | None]) -> None:
        """`facades(account_id)`: the account's Lambda facade, None for an unknown account."""
        self.protocol = protocol
        self._facades = facades

    async def handle(self, request: HttpRequest, context: RequestContext) -> HttpResponse:
        account = target_account(request, context.principal.account)
        facade = self._facades(account)
        if facade is None:
            raise AwsError("ResourceNotFoundException", f"Account {account} does not exist.", 404)
        return await facade.handle(request, context)
