"""Accepting connections for the lean HTTP server, at most `max_connections` open at once.

asyncio's `create_server` accepts whenever the socket is readable, so the only way to cap
connections there is to accept and then drop them. This listener accepts in its own loop instead
and simply stops calling accept() at the cap: new clients wait in the kernel's backlog (and, past
it, their SYNs are retried by their own TCP stack), which is the back-pressure a client can
understand, and nothing in the server grows. Accept errors such as EMFILE (out of descriptors)
are logged and retried after a pause, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Sequence

from lamina.transport.http11 import Handler, LeanHttpProtocol
from lamina.transport.limits import HttpLimits

_log = logging.getLogger(__name__)
# After a failed accept (descriptors exhausted, say), wait this long before the next.
_ACCEPT_RETRY_SECONDS = 0.1


class HttpListener:
    """Serves `handler` on listening sockets with `limits`.

    Owns the sockets it is given or binds: `close` stops accepting and closes them (idempotent);
    open connections stay until `close_connections` or until they end by themselves.
    """

    def __init__(self, handler: Handler, limits: HttpLimits) -> None:
        self._handler = handler
        self._limits = limits
        self.connections: set[LeanHttpProtocol] = set()
        self._sockets: list[socket.socket] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._room: asyncio.Future[None] | None = None

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The (host, port) of each listening socket."""
        return [sock.getsockname()[:2] for sock in self._sockets]

    async def bind(self, host: str, port: int, *, backlog: int = 2048) -> None:
        """Listen on every address `host` resolves to (as asyncio's create_server does)."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        sockets: list[socket.socket] = []
        try:
            for family, kind, proto, _, address in dict.fromkeys(infos):
                sock = socket.socket(family, kind, proto)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
                sock.listen(backlog)
        except OSError:
            for sock in sockets:
                sock.close()
            raise
        self.adopt(sockets)

    def adopt(self, sockets: Sequence[socket.socket]) -> None:
        """Serve on listening sockets made elsewhere; the listener owns them from now on."""
        loop = asyncio.get_running_loop()
        for sock in sockets:
            sock.setblocking(False)
            self._sockets.append(sock)
            self._tasks.append(loop.create_task(self._accept(sock)))

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for sock in self._sockets:
            sock.close()
        self._tasks.clear()
        self._sockets.clear()

    def close_connections(self) -> None:
        for connection in list(self.connections):
            connection.close()

    def _full(self) -> bool:
        cap = self._limits.max_connections
        return cap is not None and len(self.connections) >= cap

    def _connection_lost(self, protocol: LeanHttpProtocol) -> None:
        self.connections.discard(protocol)
        if self._room is not None and not self._room.done() and not self._full():
            self._room.set_result(None)

    def _protocol(self) -> LeanHttpProtocol:
        protocol = LeanHttpProtocol(self._handler, self._connection_lost, limits=self._limits)
        self.connections.add(protocol)
        return protocol

    async def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while self._full():
                if self._room is None or self._room.done():
                    self._room = loop.create_future()
                await asyncio.shield(self._room)
            try:
                connection, _ = await loop.sock_accept(sock)
            except (ConnectionAbortedError, InterruptedError):
                continue
            except OSError as error:
                if sock.fileno() < 0:
                    return  # closed under us
                _log.warning("cannot accept a connection: %s", error)
                await asyncio.sleep(_ACCEPT_RETRY_SECONDS)
                continue
            try:
                if connection.family in (socket.AF_INET, socket.AF_INET6):
                    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                await loop.connect_accepted_socket(self._protocol, connection)
            except OSError as error:  # the client went before we got to it
                _log.debug("dropped an accepted connection: %s", error)
                connection.close()
