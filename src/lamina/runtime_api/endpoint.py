"""The Runtime API served to one execution environment on its own loopback port.

One listener per environment means a runtime can only ever see its own invocations: the address
in AWS_LAMBDA_RUNTIME_API is the capability. (Runtime clients such as awslambdaric take a bare
host:port, so a per-environment path prefix is not an option.)

Where environments share the host's network (the process tier) any local process can connect to
that port, so when the environment runs as a uid of its own each connection is checked once, as it
is accepted: the kernel is asked who owns the client's socket, and a connection of any other uid is
reset before a byte of it is read. The decision belongs to the connection, never to its address (a
client port is anyone's to bind once it is free again). The listener accepts nothing until the
environment's process exists and its uid is known: an early client waits in the backlog.

One `next` at a time: a second concurrent `GET /next` is refused (403 InvalidStateTransition)
rather than replacing the parked one, so nothing that got in can take the runtime's invocation.
"""

from __future__ import annotations

import json
import socket

from lamina.runtime_api.mailbox import MAX_RESPONSE_BYTES, AlreadyPolling, InvocationMailbox
from lamina.transport.admission import ADMITTED, REFUSED, Admission
from lamina.transport.http11 import LeanRequest, LeanResponse
from lamina.transport.limits import RUNTIME_API_LIMITS, RUNTIME_API_MAX_BODY, HttpLimits, fit_payload
from lamina.transport.listener import HttpListener
from lamina.transport.peers import connection_owner_uid

_PREFIX = "/2018-06-01/runtime/"
_ACCEPTED = LeanResponse(202, b'{"status":"OK"}')
_ERROR_TYPE_HEADER = "lambda-runtime-function-error-type"


def _error(status: int, error_type: str, message: str) -> LeanResponse:
    return LeanResponse(status, json.dumps({"errorMessage": message, "errorType": error_type}).encode())


class RuntimeApiEndpoint:
    def __init__(self, mailbox: InvocationMailbox) -> None:
        self._mailbox = mailbox
        self._listener: HttpListener | None = None
        self.address = ""
        # Who may call: decided once the environment's process exists (restrict_to/allow_any);
        # until then nothing is accepted.
        self._owner_known = False
        self._owner_uid: int | None = None

    def restrict_to(self, uid: int) -> None:
        """Serve only connections from sockets owned by `uid` (the environment runs as its own uid)."""
        self._owner_uid = uid
        self._open()

    def allow_any(self) -> None:
        """Environments share the server's uid: the port cannot be told apart from other local callers."""
        self._owner_uid = None
        self._open()

    def _open(self) -> None:
        self._owner_known = True
        if self._listener is not None:
            self._listener.start()

    def _admit(self, connection: socket.socket) -> Admission:
        """Once per accepted connection: only the environment's own uid gets in."""
        if self._owner_uid is None:
            return ADMITTED
        return ADMITTED if connection_owner_uid(connection) == self._owner_uid else REFUSED

    async def start(self, host: str = "127.0.0.1") -> str:
        self._listener = HttpListener(
            self._handle, self._limits(), admit=self._admit, start=self._owner_known
        )
        await self._listener.bind(host, 0)
        port = self._listener.addresses[0][1]
        self.address = f"{host}:{port}"
        return self.address

    async def adopt(self, listener: socket.socket, address: str) -> None:
        """Serve on a listening socket made elsewhere: inside an environment's own network namespace,
        where only that environment can connect (so any caller is allowed)."""
        self._listener = HttpListener(self._handle, self._limits())
        self._listener.adopt([listener])
        self.address = address
        self.allow_any()

    def _limits(self) -> HttpLimits:
        """The Runtime API's limits, with room for the largest response this environment may give."""
        slack = RUNTIME_API_MAX_BODY - MAX_RESPONSE_BYTES  # the margin AWS's own cap has here
        return fit_payload(RUNTIME_API_LIMITS, self._mailbox.max_response_bytes, slack)

    def close(self) -> None:
        """Stop listening and drop open connections, including a runtime parked on `next`."""
        self._mailbox.close()
        if self._listener is not None:
            self._listener.close()
            self._listener.close_connections()
            self._listener = None

    async def _handle(self, request: LeanRequest) -> LeanResponse:
        route = _route(request.path)
        if route is None:
            return _error(404, "InvalidRequest", f"Unknown path {request.path}")
        action, request_id = route
        if request.method != ("GET" if action == "next" else "POST"):
            return _error(405, "InvalidRequest", "Method not allowed")
        if action == "next":
            return await self._next()
        if request.body_too_large:
            self._mailbox.post_oversized_response(request_id)
            return _error(413, "RequestEntityTooLarge", "Payload too large")
        if action == "init/error":
            self._mailbox.post_init_error(request.body, request.headers.get(_ERROR_TYPE_HEADER))
            return _ACCEPTED
        if action == "response":
            accepted = self._mailbox.post_response(request_id, request.body)
        else:
            accepted = self._mailbox.post_error(
                request_id, request.body, request.headers.get(_ERROR_TYPE_HEADER)
            )
        return _ACCEPTED if accepted else _error(400, "InvalidRequestID", "Invalid request ID")

    async def _next(self) -> LeanResponse:
        try:
            invocation = await self._mailbox.next()
        except AlreadyPolling:
            return _error(
                403,
                "InvalidStateTransition",
                "A runtime is already waiting for the next invocation of this execution environment",
            )
        headers = [
            ("Lambda-Runtime-Aws-Request-Id", invocation.request_id),
            ("Lambda-Runtime-Deadline-Ms", str(invocation.deadline_ms)),
            ("Lambda-Runtime-Invoked-Function-Arn", invocation.invoked_function_arn),
            ("Lambda-Runtime-Trace-Id", invocation.trace_id),
        ]
        if invocation.client_context is not None:
            headers.append(("Lambda-Runtime-Client-Context", invocation.client_context))
        if invocation.cognito_identity is not None:
            headers.append(("Lambda-Runtime-Cognito-Identity", invocation.cognito_identity))
        return LeanResponse(200, invocation.payload, headers=tuple(headers))


def _route(path: str) -> tuple[str, str] | None:
    """(action, request id) for the Runtime API's routes; None for anything else."""
    if not path.startswith(_PREFIX):
        return None
    route = path[len(_PREFIX) :]
    if route == "invocation/next":
        return "next", ""
    if route == "init/error":
        return "init/error", ""
    if route.startswith("invocation/"):
        request_id, _, action = route[len("invocation/") :].partition("/")
        if request_id and action in ("response", "error"):
            return action, request_id
    return None
