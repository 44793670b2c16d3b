"""Accepting connections for the lean HTTP server, at most `max_connections` open at once.

asyncio's `create_server` accepts whenever the socket is readable, so the only way to cap
connections there is to accept and then drop them. This listener watches the listening sockets
itself and simply stops watching them at the cap: new clients wait in the kernel's backlog (and, past
it, their SYNs are retried by their own TCP stack), which is the back-pressure a client can
understand, and nothing in the server grows. Accept errors such as EMFILE (out of descriptors)
are logged and retried after a pause, never raised.

Who may connect is decided per connection, right after `accept` (`admission.py`): an admission
hook may refuse a connection or attribute it to a source, whose open connections are capped; a
listening socket adopted for one source (an environment's own API listener, say) attributes every
connection it accepts to that source.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Hashable, Sequence

from lamina.transport.admission import ADMITTED, Admission, Admit, SourceCounts
from lamina.transport.http11 import Handler, LeanHttpProtocol, MovesEarly, StreamsBody
from lamina.transport.limits import HttpLimits

_log = logging.getLogger(__name__)
# After a failed accept (descriptors exhausted, say), wait this long before the next.
_ACCEPT_RETRY_SECONDS = 0.1
# Connections accepted per readiness event at most, so that serving is not starved by a flood.
_ACCEPT_BATCH = 64
# SO_LINGER on, zero seconds: close sends a reset and leaves no TIME_WAIT entry behind.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


class HttpListener:
    """Serves `handler` on listening sockets with `limits`.

    Owns the sockets it is given or binds: `close` stops accepting and closes them (idempotent);
    open connections stay until `close_connections` or until they end by themselves.

    `admit`, when given, decides each accepted connection (see `admission.py`); connections it
    attributes to a source count in `sources` (shared with other listeners, or by default this
    listener's own, capped at `limits.function_connections`). A listener made with `start=False`
    binds or adopts without accepting until `start()`: clients wait in the backlog meanwhile.
    """

    def __init__(
        self,
        handler: Handler,
        limits: HttpLimits,
        *,
        admit: Admit | None = None,
        sources: SourceCounts | None = None,
        start: bool = True,
        streams: StreamsBody | None = None,
        moves_early: MovesEarly | None = None,
    ) -> None:
        """`streams`: which requests get their body streamed to the handler; `moves_early`: which
        move to another process before their body is read (`http11.py`)."""
        self._handler = handler
        self._streams = streams
        self._moves_early = moves_early
        self._limits = limits
        self._admit = admit
        self.sources = sources if sources is not None else SourceCounts(limits.function_connections)
        self.connections: set[LeanHttpProtocol] = set()
        self._sockets: list[socket.socket] = []
        self._fixed_sources: dict[socket.socket, Hashable] = {}
        self._source_of: dict[LeanHttpProtocol, Hashable] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = start
        self._accepting = False
        self._retry: asyncio.TimerHandle | None = None

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The (host, port) of each listening socket."""
        return [sock.getsockname()[:2] for sock in self._sockets]

    async def bind(self, host: str, port: int, *, backlog: int = 2048, reuse_port: bool = False) -> None:
        """Listen on every address `host` resolves to (as asyncio's create_server does).
        `reuse_port`: other processes may listen on the same port (SO_REUSEPORT), the kernel
        spreading new connections among them."""
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
                if reuse_port:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
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

    def adopt(self, sockets: Sequence[socket.socket], *, source: Hashable | None = None) -> None:
        """Serve on listening sockets made elsewhere; the listener owns them from now on.

        With `source`, every connection these sockets accept is that source's (counted against
        its cap, the admission hook not asked): for a socket only that source can reach."""
        self._loop = asyncio.get_running_loop()
        self._pause()  # re-registered below with the new sockets
        for sock in sockets:
            sock.setblocking(False)
            self._sockets.append(sock)
            if source is not None:
                self._fixed_sources[sock] = source
        self._resume()

    def adopt_connection(self, connection: socket.socket, data: bytes) -> None:
        """Serve a connection another process accepted and handed over (`transport/handoff.py`),
        `data` being what that process read from it. Counted like an accepted one, but taken even
        at the cap: the client is connected already, and refusing now would cut it off mid-request."""
        self._loop = asyncio.get_running_loop()
        connection.setblocking(False)
        if connection.family in (socket.AF_INET, socket.AF_INET6):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        protocol = self._protocol()
        protocol.handed_over = data  # parsed in connection_made, before the socket is read
        self.connections.add(protocol)
        self._loop.create_task(self._start(connection, protocol))

    def _protocol(self) -> LeanHttpProtocol:
        return LeanHttpProtocol(
            self._handler,
            self._connection_lost,
            limits=self._limits,
            streams=self._streams,
            moves_early=self._moves_early,
        )

    def start(self) -> None:
        """Begin accepting (for a listener made with `start=False`); idempotent."""
        self._started = True
        self._resume()

    def drop(self, sock: socket.socket) -> None:
        """Stop serving one listening socket and close it (idempotent); its open connections stay
        until they end or `close_connections`."""
        if sock not in self._sockets:
            return
        self._pause()
        self._sockets.remove(sock)
        self._fixed_sources.pop(sock, None)
        sock.close()
        self._resume()

    def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self._pause()
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()
        self._fixed_sources.clear()

    def close_connections(self) -> None:
        for connection in list(self.connections):
            connection.close()

    # accepting: the listening sockets are watched only while there is room
    def _resume(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._accepting or not self._started or self._loop is None or self._full():
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
            admission = self._admission(sock, connection)
            if not admission.allowed or (
                admission.source is not None and not self.sources.acquire(admission.source)
            ):
                _refuse(connection)
                continue
            connection.setblocking(False)
            if connection.family in (socket.AF_INET, socket.AF_INET6):
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            protocol = self._protocol()
            self.connections.add(protocol)  # counted from now: the cap holds during the hand-over
            if admission.source is not None:
                self._source_of[protocol] = admission.source
            self._loop.create_task(self._start(connection, protocol))

    async def _start(self, connection: socket.socket, protocol: LeanHttpProtocol) -> None:
        assert self._loop is not None
        try:
            await self._loop.connect_accepted_socket(lambda: protocol, connection)
        except OSError as error:  # the client went before we got to it
            _log.debug("dropped an accepted connection: %s", error)
            connection.close()
            self._connection_lost(protocol)

    def _admission(self, listening: socket.socket, connection: socket.socket) -> Admission:
        source = self._fixed_sources.get(listening)
        if source is not None:
            return Admission(True, source)
        if self._admit is None:
            return ADMITTED
        try:
            return self._admit(connection)
        except Exception:  # a broken hook refuses rather than letting anyone in
            _log.exception("admitting a connection failed")
            return Admission(False)

    def _connection_lost(self, protocol: LeanHttpProtocol) -> None:
        if protocol not in self.connections:
            return  # already counted out
        self.connections.discard(protocol)
        source = self._source_of.pop(protocol, None)
        if source is not None:
            self.sources.release(source)
        if not self._accepting and self._retry is None and self._sockets:
            self._resume()


def _refuse(connection: socket.socket) -> None:
    """Reset a refused connection: the client learns at once, and no state stays here."""
    with contextlib.suppress(OSError):
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
    connection.close()
