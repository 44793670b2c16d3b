"""How much a client may send, how long it may take, and how many may connect at once.

Every port Lamina serves is reachable by code it does not trust (the public port by anyone on the
network, a Runtime API port by the function's own code), so the HTTP layer bounds the memory and
time one connection can hold. Defaults follow what load balancers and mainstream servers do: a
64 KiB header block (nginx's `large_client_header_buffers` order of magnitude, Node's 16 KiB × 4),
30 s to send a request's head (nginx `client_header_timeout`), 30 s without a body byte (nginx
`client_body_timeout` measures the gap between reads, so a large upload over a slow link still
succeeds) and at least 1 KiB/s on average after the first 30 s, and a 60 s keep-alive idle timeout
(the ALB default).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# Lambda quotas: a CreateFunction request with a base64 ZIP may be up to 70167211 bytes.
PUBLIC_MAX_BODY = 70_167_211
# The Runtime API's bodies are at most 6 MB of response plus framing.
RUNTIME_API_MAX_BODY = 7 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Limits of one listening port; `None` turns a timeout or the connection cap off.

    What happens at each limit: a longer request target is answered 414, a larger or longer header
    block 431, a larger body is read and dropped and the request flagged (`body_too_large`, which
    the handler answers 413 in its own protocol's shape), a head or body that stalls 408 before
    the connection closes, an idle keep-alive connection is closed without a word, and at the
    connection cap the server stops accepting (new clients wait in the kernel's backlog). A
    function's connections past `function_connections` are refused (reset) at once.
    """

    max_url_bytes: int = 16 * 1024  # the request target (path and query): 414 beyond
    max_header_bytes: int = 64 * 1024  # names plus values of every header: 431 beyond
    max_header_count: int = 128  # 431 beyond
    max_body_bytes: int = PUBLIC_MAX_BODY
    # Seconds from a request's first byte until its headers are complete.
    header_timeout: float | None = 30.0
    # Seconds a body may go without a single byte arriving.
    body_timeout: float | None = 30.0
    # Bytes per second a body must average once `body_timeout` has passed (Apache's
    # mod_reqtimeout MinRate): a large upload over a slow link still succeeds, while a client
    # trickling a byte now and then cannot hold a connection for hours. None: no floor.
    min_body_rate: int | None = 1024
    # Seconds a keep-alive connection may sit with no request in flight.
    idle_timeout: float | None = 60.0
    # Seconds a response may wait for a client that reads nothing (its send buffer full).
    send_timeout: float | None = 60.0
    # Open connections at most; at the cap the listener stops accepting until one closes.
    max_connections: int | None = 10_000
    # Open connections one execution environment may hold to the API at most (counted by the
    # owner of the client socket, on every port the function can reach); past it a new connection
    # is reset at once. An SDK keeps about 10 per client (botocore's max_pool_connections), so
    # 256 leaves room for a function with many clients and threads.
    function_connections: int | None = 256
    # Bytes a connection may have queued for the client before a streamed response waits.
    write_buffer_bytes: int = 256 * 1024

    @property
    def shortest_timeout(self) -> float | None:
        """The connection's watchdog wakes at least this often (None: nothing to watch)."""
        timeouts = [
            timeout
            for timeout in (self.header_timeout, self.body_timeout, self.idle_timeout, self.send_timeout)
            if timeout is not None
        ]
        return min(timeouts) if timeouts else None


# What an Invoke request may carry besides its payload (the body is the payload itself; this is slack
# for a Runtime API response's framing too).
PAYLOAD_SLACK_BYTES = 1024 * 1024


def fit_payload(limits: HttpLimits, max_payload_bytes: int, slack: int = PAYLOAD_SLACK_BYTES) -> HttpLimits:
    """`limits` with a body cap that admits a payload of `max_payload_bytes` (`--max-payload`)
    and `slack` bytes more."""
    needed = max_payload_bytes + slack
    return limits if limits.max_body_bytes >= needed else replace(limits, max_body_bytes=needed)


# One execution environment's Runtime API: its runtime is the only client. A runtime parks on
# `GET /next` for as long as no invocation comes (the server is waiting, not the client) and
# awslambdaric's libcurl or a bootstrap's http.client keep one connection for the process's life,
# so idle connections are never closed here; a handful of connections is all a runtime needs.
RUNTIME_API_LIMITS = HttpLimits(
    max_body_bytes=RUNTIME_API_MAX_BODY,
    idle_timeout=None,
    max_connections=64,
)
