"""The request and response records the lean HTTP server hands to and takes from its handlers.

A response is encoded here and nowhere else, so this is where the wire is kept safe: whatever a
handler (or a function behind it) put in a header, the head that leaves the server has exactly one
line per header, no NUL, only Latin-1 text, and a status a client can parse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus

from lamina.transport.body_stream import BodyStream

_REASONS = {status.value: status.phrase for status in HTTPStatus}
# Responses that never have a body (RFC 9110 §6.4.1): nor, for these, a Content-Length.
_NO_CONTENT = frozenset((204, 304))


class InvalidResponse(ValueError):
    """A response that cannot be sent as it is: a header with CR, LF or NUL (it would split the
    response), text outside Latin-1, or a status outside 100–599."""


@dataclass(slots=True)
class LeanRequest:
    method: str
    path: str  # as sent: still percent-encoded, without the query
    query_string: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased; repeats joined with ","
    body: bytes = b""
    body_too_large: bool = False  # the body passed the server's limit and was dropped
    peer: tuple[str, int] | None = None  # the client's (host, port)
    local: tuple[str, int] | None = None  # our (host, port) on this connection
    keep_alive: bool = True
    handed_over: bool = False  # read by another process, which moved the connection here
    # The body, while it arrives, for a request the server chose to stream (`body` is then empty).
    stream: BodyStream | None = None


@dataclass(frozen=True, slots=True)
class LeanResponse:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json"  # None: `headers` carries it, or there is none
    headers: tuple[tuple[str, str], ...] = ()
    # Sent chunked as it is produced (event streams) instead of `body`.
    stream: AsyncIterator[bytes] | None = None
    # A length known ahead for a body not in `body`: `stream` then goes out with this
    # Content-Length instead of chunked (an object download), and a HEAD answer announces it.
    length: int | None = None

    def has_body(self, method: str) -> bool:
        """Whether the body goes on the wire: never in answer to HEAD, nor with 204 or 304 (a body
        there would be read as the start of the next response on the connection)."""
        return method != "HEAD" and self.status not in _NO_CONTENT

    def encode(self, with_body: bool = True) -> bytes:
        """The whole response, or only its head when it streams or `with_body` is false (HEAD,
        204, 304: see `has_body`); raises InvalidResponse rather than write a head a client would
        read differently from what the handler meant. A final response is never 1xx."""
        status = self.status
        if not 200 <= status <= 599:
            raise InvalidResponse(f"status {status} is not a final status (200-599)")
        head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"
        lines = 2 + len(self.headers)  # status line, headers, the blank line
        if self.content_type is not None:
            head += f"Content-Type: {self.content_type}\r\n"
            lines += 1
        if status not in _NO_CONTENT:
            # A HEAD answer announces what a GET would have sent.
            if self.length is not None:
                head += f"Content-Length: {self.length}\r\n"
            elif self.stream is not None:
                head += "Transfer-Encoding: chunked\r\n"
            else:
                head += f"Content-Length: {len(self.body)}\r\n"
            lines += 1
        for name, value in self.headers:
            head += f"{name}: {value}\r\n"
        head += "\r\n"
        # Three scans of a few hundred bytes in C: cheaper than checking every header on its own.
        if head.count("\n") != lines or head.count("\r") != lines or "\0" in head:
            raise InvalidResponse("a header contains CR, LF or NUL")
        try:
            encoded = head.encode("latin-1")
            return encoded + self.body if with_body and self.stream is None else encoded
        except UnicodeEncodeError:
            raise InvalidResponse("a header is not Latin-1 text") from None


# Headers a re-encoded request leaves out: its body is sent whole, with a Content-Length of its own.
_FRAMING_HEADERS = frozenset(("content-length", "transfer-encoding", "expect"))


def encode_request(request: LeanRequest) -> bytes:
    """The request as another HTTP/1.1 server reads it back: same method, target, headers and
    body (a chunked body arrives whole, with a Content-Length); `Connection: close` when the
    connection ends with it."""
    target = request.path + ("?" + request.query_string if request.query_string else "")
    lines = [f"{request.method} {target} HTTP/1.1"]
    lines.extend(
        f"{name}: {value}" for name, value in request.headers.items() if name not in _FRAMING_HEADERS
    )
    if request.stream is not None:
        raise ValueError("a request whose body is streamed cannot be re-encoded")
    if request.body or request.method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        lines.append(f"content-length: {len(request.body)}")
    if not request.keep_alive and "connection" not in request.headers:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body


def encode_head(request: LeanRequest) -> bytes:
    """Only the request's head, framing headers as the client sent them: what another process
    reads first when a request moves before its body has arrived (the body then follows on the
    connection itself, as the client frames it)."""
    target = request.path + ("?" + request.query_string if request.query_string else "")
    lines = [f"{request.method} {target} HTTP/1.1"]
    lines.extend(f"{name}: {value}" for name, value in request.headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# `HandOff.send(fd, data)`: give the connection (a duplicate descriptor, which `send` closes) and the
# bytes to read first to another process; True once that process has taken it.
SendConnection = Callable[[int, bytes], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class HandOff(LeanResponse):
    """What a handler returns when another process should answer: the connection moves there with
    this request (and any read after it), and that process serves it from then on. When the move
    is impossible (part of a next request already read) or fails, this response is sent instead."""

    send: SendConnection | None = None
