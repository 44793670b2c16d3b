"""Lambda calls go to the account whose Lambda state they are about: the account a function,
layer or resource ARN in the request names, else the caller's own (see AccountRouter)."""

from __future__ import annotations

import re
from urllib.parse import unquote

from lamina.api.context import RequestContext
from lamina.protocol.http import HttpRequest

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


def lambda_account(request: HttpRequest, context: RequestContext) -> str:
    return target_account(request, context.principal.account)
