"""A lean HTTP/1.1 server on httptools for the Runtime API hot path.

A general framework costs ~150 µs per request and every invocation crosses this API twice
(`/next`, `/response`), so it speaks just enough HTTP/1.1: keep-alive, Content-Length and chunked
request bodies, one request at a time per connection (the Runtime API never pipelines).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

import httptools

_REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    410: "Gone",
    413: "Payload Too Large",
    500: "Internal Server Error",
}
MAX_REQUEST_BODY = 7 * 1024 * 1024


@dataclass(slots=True)
class LeanRequest:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    body_too_large: bool = False  # the body passed MAX_REQUEST_BODY and was dropped
    peer: tuple[str, int] | None = None  # the client's (host, port)
    local: tuple[str, int] | None = None  # our (host, port) on this connection
    keep_alive: bool = True


@dataclass(frozen=True, slots=True)
class LeanResponse:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    def encode(self) -> bytes:
        lines = [
            f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Unknown')}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


Handler = Callable[[LeanRequest], Awaitable[LeanResponse]]


class LeanHttpProtocol(asyncio.Protocol):
    """One connection. The handler may wait (a parked `/next`); reads pause meanwhile."""

    def __init__(
        self, handler: Handler, on_connection_lost: Callable[[LeanHttpProtocol], None] | None = None
    ) -> None:
        self._handler = handler
        self._on_connection_lost = on_connection_lost
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._current: LeanRequest | None = None
        self._body: list[bytes] = []
        self._body_size = 0
        self._header_name = b""
        self._url = b""
        self._queue: list[LeanRequest] = []
        self._task: asyncio.Task[None] | None = None
        self._peer: tuple[str, int] | None = None
        self._local: tuple[str, int] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses but implement its interface.
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        self._peer = (peer[0], peer[1]) if isinstance(peer, tuple) else None
        self._local = (local[0], local[1]) if isinstance(local, tuple) else None

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._respond_and_close(LeanResponse(400, b'{"errorMessage":"bad request"}'))

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._on_connection_lost is not None:
            self._on_connection_lost(self)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._current = LeanRequest("", "", peer=self._peer, local=self._local)
        self._body = []
        self._body_size = 0
        self._url = b""

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self._current is not None
        self._current.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size <= MAX_REQUEST_BODY:
            self._body.append(body)

    def on_message_complete(self) -> None:
        request = self._current
        assert request is not None
        request.method = self._parser.get_method().decode("latin-1")
        request.path = httptools.parse_url(self._url).path.decode("latin-1")
        # llhttp resets its per-message flags after this callback: read keep-alive now.
        request.keep_alive = self._parser.should_keep_alive()
        request.body_too_large = self._body_size > MAX_REQUEST_BODY
        request.body = b"" if request.body_too_large else b"".join(self._body)
        self._queue.append(request)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._serve_queue())

    async def _serve_queue(self) -> None:
        while self._queue and self._transport is not None:
            request = self._queue.pop(0)
            try:
                response = await self._handler(request)
            except asyncio.CancelledError:
                raise
            except Exception:
                response = LeanResponse(500, b'{"errorMessage":"internal error"}')
            if self._transport is None:
                return
            self._transport.write(response.encode())
            if not request.keep_alive:
                self._transport.close()
                return

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _respond_and_close(self, response: LeanResponse) -> None:
        if self._transport is not None:
            self._transport.write(response.encode())
            self._transport.close()
