"""Each account has its own state behind its own facade of a service (its functions, its log
groups); the wire protocol is shared. A router picks the account a request is about: the caller's
own unless the service can name another (Lambda ARNs do)."""

from __future__ import annotations

from collections.abc import Callable

from lamina.api.context import RequestContext
from lamina.api.services.service import ServiceFacade
from lamina.errors import AwsError
from lamina.protocol.http import HttpRequest, HttpResponse, WireProtocol

AccountOf = Callable[[HttpRequest, RequestContext], str]


def callers_account(request: HttpRequest, context: RequestContext) -> str:
    return context.principal.account


class AccountRouter:
    def __init__(
        self,
        protocol: WireProtocol,
        facades: Callable[[str], ServiceFacade | None],
        account_of: AccountOf = callers_account,
    ) -> None:
        """`facades(account_id)`: the account's facade, None for an unknown account."""
        self.protocol = protocol
        self._facades = facades
        self._account_of = account_of

    async def handle(self, request: HttpRequest, context: RequestContext) -> HttpResponse:
        account = self._account_of(request, context)
        facade = self._facades(account)
        if facade is None:
            raise AwsError("ResourceNotFoundException", f"Account {account} does not exist.", 404)
        return await facade.handle(request, context)
