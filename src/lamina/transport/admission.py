"""Which accepted connections a listener serves, and how many one source may hold open.

A listener may be given an admission hook: it sees each connection once, right after `accept` and
before any byte is read, and answers with an `Admission`: refused (the connection is reset at once,
so it costs the server neither a transport nor a TIME_WAIT entry), or admitted, optionally on
behalf of a *source*. Connections of one source count against a shared `SourceCounts` cap (the
`function_connections` limit): past it the new connection is refused, so no single client (an
execution environment, say) can hold more than its share of the server's descriptors, whatever
port it reaches the server on.

The hook runs on the event loop once per connection, never per request, and the decision is kept
by the connection itself: nothing is keyed by a peer address, which another process could reuse.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Admission:
    """`allowed`: serve the connection; `source`: whose connection it is (None: nobody's, uncounted)."""

    allowed: bool
    source: Hashable | None = None


ADMITTED = Admission(True)
REFUSED = Admission(False)

# Called with the accepted (blocking or not) socket; must not block for long.
Admit = Callable[[socket.socket], Admission]


class SourceCounts:
    """Open connections per source, at most `cap` each (None: uncapped). Shared by every listener
    that attributes connections to the same sources; asyncio only (no locking)."""

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self._open: dict[Hashable, int] = {}
        self.refused = 0  # connections refused at the cap since start

    def acquire(self, source: Hashable) -> bool:
        """Count one more connection for `source`; False (and nothing counted) at the cap."""
        count = self._open.get(source, 0)
        if self.cap is not None and count >= self.cap:
            self.refused += 1
            return False
        self._open[source] = count + 1
        return True

    def release(self, source: Hashable) -> None:
        count = self._open.get(source, 0) - 1
        if count > 0:
            self._open[source] = count
        else:
            self._open.pop(source, None)

    def open(self, source: Hashable) -> int:
        return self._open.get(source, 0)
