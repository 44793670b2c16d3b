"""Which process of `--workers` answers a request, decided as it arrives.

Every process serves the port and can answer an invocation; the primary alone answers everything
else (it owns the control plane and the async queue). A request the receiving process should not
answer moves, with its connection, to the one that should (`transport/handoff.py`):

- a worker moves what is not a synchronous invocation or a function URL to the primary, and an
  invocation its copy cannot answer with certainty (an unknown key or function, a function not
  Active, a version with provisioned concurrency: the primary holds those environments);
- any process moves an invocation of a function version it has no environment of while another
  process has an idle one (each publishes its idle environments per function version in the shared
  counts), so a warm environment is reused whichever process the kernel gave the connection to.
  A process that has environments of it (all busy, say) starts another itself instead: under load
  every process scales out and keeps its own connections, rather than all of them converging on
  the first process that had a warm environment. A request that was moved once is answered where
  it arrived, whatever changed meanwhile: no request travels twice.

Deciding costs a regular expression, a signature scope read and two dictionary lookups; the
invocation itself is then served exactly as by a single server.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, unquote

from lamina.api.function_urls import url_target
from lamina.api.internal import PING_PATH
from lamina.domain.arns import parse_function_ref
from lamina.domain.functions import FunctionConfig
from lamina.errors import AwsError
from lamina.identity.directory import Credential
from lamina.protocol.sigv4 import read_credential_scope
from lamina.transport.handoff import send_connection
from lamina.transport.http11 import Handler
from lamina.transport.messages import HandOff, LeanRequest, LeanResponse

_INVOKE = re.compile(r"/2015-03-31/functions/([^/]+)/invocations")
_NOT_MOVED = (
    503,
    b'{"Type":"Service","message":"The request could not be passed to the worker that serves it; retry it."}',
    (("X-Amzn-ErrorType", "ServiceException"),),
)
PRIMARY = 0


class LocalView(Protocol):
    """What the router asks of its process's platform."""

    def function_for(
        self, account_id: str, region: str, name: str, qualifier: str | None
    ) -> FunctionConfig | None:
        """The configuration this process would run for the invocation; None when the primary must
        answer it (on the primary: when it is not plainly runnable anywhere)."""

    def warm_elsewhere(self, account_id: str, region: str, config: FunctionConfig) -> int | None:
        """Another process holding an idle environment of `config` while this one has none of it."""


class InvocationRouter:
    def __init__(
        self,
        app: Handler,
        credential: Callable[[str], Credential | None],
        view: LocalView,
        *,
        index: int,
        inbox_of: Callable[[int], Path],
        token: bytes,
    ) -> None:
        """`index`: this process (PRIMARY or a worker's number); `inbox_of(index)`: where a process
        receives moved connections."""
        self._app = app
        self._credential = credential
        self._view = view
        self._index = index
        self._inbox_of = inbox_of
        self._token = token
        self._moves: dict[int, HandOff] = {}

    async def handle(self, lean: LeanRequest) -> LeanResponse:
        target = self.target(lean)
        if target == self._index:
            return await self._app(lean)
        return self._move_to(target)

    def _move_to(self, index: int) -> HandOff:
        move = self._moves.get(index)
        if move is None:
            inbox, token = self._inbox_of(index), self._token

            async def send(fd: int, data: bytes) -> bool:
                return await send_connection(inbox, token, fd, data)

            status, body, headers = _NOT_MOVED
            move = self._moves[index] = HandOff(status, body, headers=headers, send=send)
        return move

    def moves_early(self, lean: LeanRequest) -> HandOff | None:
        """For a request whose head alone has arrived (an object upload): the move to the process
        that answers it, when that is not this one, so its body goes there unbuffered."""
        target = self.target(lean)
        return None if target == self._index else self._move_to(target)

    def target(self, lean: LeanRequest) -> int:
        """The process that answers `lean`."""
        here = self._index
        # A body past the limit was dropped while reading: 413 here (re-encoded, it would lose
        # the flag and reach the primary as an empty body).
        if lean.body_too_large or lean.path == PING_PATH or url_target(lean) is not None:
            return here
        invocation = self._invocation(lean)
        if invocation is None:
            return here if here == PRIMARY else PRIMARY
        config = self._view.function_for(*invocation)
        if config is None:
            return here if here == PRIMARY else PRIMARY
        if lean.handed_over:
            return here
        warm = self._view.warm_elsewhere(invocation[0], invocation[1], config)
        return here if warm is None else warm

    def _invocation(self, lean: LeanRequest) -> tuple[str, str, str, str | None] | None:
        """(account, region, function name, qualifier) of a synchronous Invoke signed by a key this
        process knows; None for anything else."""
        if lean.method != "POST" or lean.body_too_large:
            return None
        match = _INVOKE.fullmatch(lean.path)
        if match is None or lean.headers.get("x-amz-invocation-type", "RequestResponse") != "RequestResponse":
            return None
        scope = read_credential_scope(lean.headers, lean.query_string)
        if scope is None or scope.service != "lambda":
            return None
        credential = self._credential(scope.access_key_id)
        if credential is None:
            return None  # maybe a key made a moment ago: the primary knows
        account_id = credential.principal.account
        qualifier = dict(parse_qsl(lean.query_string)).get("Qualifier") if lean.query_string else None
        try:
            ref = parse_function_ref(unquote(match.group(1)), region=scope.region, account_id=account_id)
        except AwsError:
            return None  # another account's function, or a malformed name: the primary answers
        if ref.qualifier is not None:
            if qualifier is not None and qualifier != ref.qualifier:
                return None
            qualifier = ref.qualifier
        return account_id, scope.region, ref.name, qualifier
