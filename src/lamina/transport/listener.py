"""Accepting connections for the lean HTTP server, at most `max_connections` open at once.

asyncio's `create_server` accepts whenever the socket is readable, so the only way to cap
connections there is to accept and then drop them. This listener watches the listening sockets
itself and simply stops watching them at the cap: new clients wait in the kernel's backlog (and, past
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
# Connections accepted per readiness event at most, so that serving is not starved by a flood.
_ACCEPT_BATCH = 64


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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._accepting = False
        self._retry: asyncio.TimerHandle | None = None

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
                try:
                    sock = socket.socket(family, kind, proto)
                except OSError:
                    continue  # a family this host lacks (IPv6, say), as create_server skips it
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
                sock.listen(backlog)
            if not sockets:
                raise OSError(f"no address of {host!r} can be listened on")
        except OSError:
            for sock in sockets:
                sock.close()
            raise
        self.adopt(sockets)

    def adopt(self, sockets: Sequence[socket.socket]) -> None:
        """Serve on listening sockets made elsewhere; the listener owns them from now on."""
        self._loop = asyncio.get_running_loop()
        for sock in sockets:
            sock.setblocking(False)
            self._sockets.append(sock)
        self._resume()

    def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self._pause()
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()

    def close_connections(self) -> None:
        for connection in list(self.connections):
            connection.close()

    # accepting: the listening sockets are watched only while there is room
    def _resume(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._accepting or self._loop is None or self._full():
            return
        self._accepting = True
        for sock in self._sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _pause(self) -> None:
        if self._accepting and self._loop is not None:
            self._accepting = False
            for sock in self._sockets:
                self._loop.remove_reader(sock.fileno())

    def _full(self) -> bool:
        cap = self._limits.max_connections
        return cap is not None and len(self.connections) >= cap

    def _accept(self, sock: socket.socket) -> None:
        """Accept what the backlog holds (up to a batch), as long as there is room."""
        assert self._loop is not None
        for _ in range(_ACCEPT_BATCH):
            if self._full():
                self._pause()
                return
            try:
                connection, _ = sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as error:  # EMFILE, ENFILE, ENOBUFS: try again in a moment
                _log.warning("cannot accept a connection: %s", error)
                self._pause()
                self._retry = self._loop.call_later(_ACCEPT_RETRY_SECONDS, self._resume)
                return
            connection.setblocking(False)
            if connection.family in (socket.AF_INET, socket.AF_INET6):
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            protocol = LeanHttpProtocol(self._handler, self._connection_lost, limits=self._limits)
            self.connections.add(protocol)  # counted from now: the cap holds during the hand-over
            self._loop.create_task(self._start(connection, protocol))

    async def _start(self, connection: socket.socket, protocol: LeanHttpProtocol) -> None:
        assert self._loop is not None
        try:
            await self._loop.connect_accepted_socket(lambda: protocol, connection)
        except OSError as error:  # the client went before we got to it
            _log.debug("dropped an accepted connection: %s", error)
            connection.close()
            self._connection_lost(protocol)

    def _connection_lost(self, protocol: LeanHttpProtocol) -> None:
        self.connections.discard(protocol)
        if not self._accepting and self._retry is None and self._sockets:
            self._resume()
