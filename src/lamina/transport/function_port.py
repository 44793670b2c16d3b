"""Lamina's API as execution environments reach it: every function's connections counted and capped.

A function is told the API's address in AWS_ENDPOINT_URL and may open as many connections to it
as it likes; left alone, one function holding thousands of idle connections takes the server's
descriptors and every other function's cold starts and calls with them. So each connection from
a function is attributed to its *source* (its execution environment) when it is accepted, and a
source holds at most `HttpLimits.function_connections` at once; past that a new connection is
reset at once (no HTTP answer: the cheapest refusal, and SDKs retry a reset connection with
back-off). Requests are served by the same handler, with the same limits (idle timeout
included), as on the public port.

Three ways in, one set of counts (`sources`):
- `bind()`: the loopback listener environments are pointed at in the process tier (environments
  share the host's network there). Each connection is attributed to the uid owning its client
  socket (one kernel lookup per connection; `peers.py`), since every environment runs as a uid of
  its own; where they all share the server's uid, they share one cap.
- `serve(listening_socket, source)`: a listener made inside an environment's own network namespace
  (the namespaces tier), where only that environment can connect. Every connection it accepts is
  `source`'s; the caller hands the socket over (this port owns and closes it from then on) and
  calls `stop_serving(listening_socket)` when the environment ends. Same handler, same limits,
  same per-source cap as the process tier's port.
- `admit_public`: the public port's admission hook. A function can reach the public port too (its
  address is no secret on the host), so connections from loopback whose client socket belongs to an
  environment's uid count against that environment's cap there as well. Other clients pay nothing:
  remote peers are not looked up, and loopback ones cost one lookup per connection (~15 µs), not
  per request.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Container, Hashable

from lamina.transport.admission import ADMITTED, REFUSED, Admission, SourceCounts
from lamina.transport.http11 import Handler, MovesEarly, StreamsBody
from lamina.transport.limits import HttpLimits
from lamina.transport.listener import HttpListener
from lamina.transport.peers import connection_owner_uid

# Connections whose owner cannot be found (the client left before it was accepted) share a source.
_UNKNOWN_OWNER = ("uid", None)


def uid_source(uid: int | None) -> Hashable:
    """The source key of the environment running as `uid`."""
    return ("uid", uid)


class UidsOtherThan(Container[int]):
    """Every uid but `own`: when the server is root its environments run as uids of their own,
    chosen at start (sandbox/uid_ranges.py), and any local user other than the server itself is
    capped like a function."""

    def __init__(self, own: int) -> None:
        self._own = own

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, int) and uid != self._own


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class FunctionApiPort:
    """Serves `handler` to execution environments with a per-environment connection cap.

    `environment_uids`: the uids environments run as (None: they run as the server's own uid, and
    the public port cannot tell them from other local clients). Not thread-safe: asyncio only.
    """

    def __init__(
        self,
        handler: Handler,
        limits: HttpLimits,
        environment_uids: Container[int] | None,
        *,
        owner_of: Callable[[socket.socket], int | None] = connection_owner_uid,
        streams: StreamsBody | None = None,
        moves_early: MovesEarly | None = None,
    ) -> None:
        self._environment_uids = environment_uids
        self._owner_of = owner_of
        self.sources = SourceCounts(limits.function_connections)
        self._listener = HttpListener(
            handler,
            limits,
            admit=self._admit_own,
            sources=self.sources,
            streams=streams,
            moves_early=moves_early,
        )
        self.url = ""

    async def bind(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on `host` (a port of its own unless `port`); returns the URL functions are given."""
        await self._listener.bind(host, port)
        bound_host, bound_port = self._listener.addresses[0]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{shown}:{bound_port}"
        return self.url

    def serve(self, listening_socket: socket.socket, source: Hashable) -> None:
        """Serve a listening socket only `source` can reach (made in its network namespace, say);
        every connection it accepts counts against `source`'s cap. The port owns the socket now."""
        self._listener.adopt([listening_socket], source=source)

    def stop_serving(self, listening_socket: socket.socket) -> None:
        """Stop accepting on a socket given to `serve` and close it (idempotent); connections
        already open end by themselves (their environment is going away) or at `close`."""
        self._listener.drop(listening_socket)

    def admit_public(self, connection: socket.socket) -> Admission:
        """The public port's hook: an environment's connection counts against its cap."""
        if self._environment_uids is None:
            return ADMITTED
        try:
            peer = connection.getpeername()
        except OSError:  # the client is already gone
            return REFUSED
        if not isinstance(peer, tuple) or not _is_loopback(peer[0]):
            return ADMITTED
        uid = self._owner_of(connection)
        if uid is not None and uid in self._environment_uids:
            return Admission(True, uid_source(uid))
        return ADMITTED

    def _admit_own(self, connection: socket.socket) -> Admission:
        uid = self._owner_of(connection)
        if uid is None:
            return Admission(True, _UNKNOWN_OWNER)
        return Admission(True, uid_source(uid))

    @property
    def open_connections(self) -> int:
        return len(self._listener.connections)

    def close(self) -> None:
        """Stop accepting everywhere and drop open connections (idempotent)."""
        self._listener.close()
        self._listener.close_connections()


__all__ = ["FunctionApiPort", "UidsOtherThan", "uid_source"]
