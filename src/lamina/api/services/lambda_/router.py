"""Lambda calls go to the account whose Lambda state they are about: the account a function,
layer or resource ARN in the request names, else the caller's own (see AccountRouter)."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote

from lamina.api.context import RequestContext
from lamina.api.services.lambda_.authorization import DENIED, action_of
from lamina.domain.iam.denials import access_denied
from lamina.errors import AwsError
from lamina.protocol.http import HttpRequest, WireProtocol

# An ARN in the path (FunctionName, Resource, layer ARN) or the query (GetLayerVersionByArn).
_ARN = re.compile(r"arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]*:(\d{12}):[^/?]*")
_PARTIAL_ARN_ACCOUNT = re.compile(r"/(\d{12}):function:")


def _named_arn(request: HttpRequest) -> tuple[str, str] | None:
    """(account, ARN) of the first Lambda ARN in the request's path or query, if any."""
    if "%3A" in request.raw_path or ":" in request.raw_path or request.query:
        path = unquote(request.raw_path)
        match = _ARN.search(path)
        if match is not None:
            return match.group(1), match.group(0)
        match = _PARTIAL_ARN_ACCOUNT.search(path)
        if match is not None:
            return match.group(1), match.group(0)
        for _, value in request.query:
            match = _ARN.search(value)
            if match is not None:
                return match.group(1), match.group(0)
    return None


def target_account(request: HttpRequest, caller_account: str) -> str:
    """The account a Lambda request addresses."""
    named = _named_arn(request)
    return named[0] if named is not None else caller_account


def lambda_account(request: HttpRequest, context: RequestContext) -> str:
    return target_account(request, context.principal.account)


def no_such_account(protocol: WireProtocol) -> Callable[[HttpRequest, RequestContext, str], AwsError]:
    """An ARN of an account that does not exist: refused as AWS refuses any other account's
    resource that no resource-based policy opens (it does not tell the two apart)."""

    def refusal(request: HttpRequest, context: RequestContext, account: str) -> AwsError:
        matched = protocol.match_request(request)
        action = action_of(matched[0].name) if matched is not None else "lambda:*"
        named = _named_arn(request)
        resource = named[1] if named is not None else "*"
        return access_denied(DENIED, context.principal, action, resource, account)

    return refusal
