"""Each account has its own state in each region behind its own facade of a service (its
functions, its log groups); the wire protocol is shared. A router picks the account a request is
about (the caller's own unless the service can name another: Lambda ARNs do) and the region it was
signed for, as AWS's regional endpoints each serve their own region."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from lamina.api.context import RequestContext
from lamina.api.services.service import ServiceFacade
from lamina.errors import AwsError
from lamina.protocol.http import HttpRequest, HttpResponse, WireProtocol

AccountOf = Callable[[HttpRequest, RequestContext], str]
# (account id, region) -> that account's facade there; None for an account that does not exist.
RegionalFacades = Callable[[str, str], Awaitable[ServiceFacade | None]]
# What a caller gets for naming an account that does not exist.
NoSuchAccount = Callable[[HttpRequest, RequestContext, str], AwsError]


def callers_account(request: HttpRequest, context: RequestContext) -> str:
    return context.principal.account


def access_denied_to_account(request: HttpRequest, context: RequestContext, account: str) -> AwsError:
    """An account that does not exist is as out of reach as one that grants nothing (AWS does not
    tell which)."""
    return AwsError(
        "AccessDeniedException",
        f"User: {context.principal.arn} is not authorized to access account {account}",
        403,
    )


class AccountRouter:
    def __init__(
        self,
        protocol: WireProtocol,
        facades: RegionalFacades,
        account_of: AccountOf = callers_account,
        no_such_account: NoSuchAccount = access_denied_to_account,
    ) -> None:
        self.protocol = protocol
        self._facades = facades
        self._account_of = account_of
        self._no_such_account = no_such_account

    def protocol_for(self, request: HttpRequest) -> WireProtocol:
        return self.protocol

    async def handle(self, request: HttpRequest, context: RequestContext) -> HttpResponse:
        account = self._account_of(request, context)
        facade = await self._facades(account, context.region)
        if facade is None:
            raise self._no_such_account(request, context, account)
        return await facade.handle(request, context)
