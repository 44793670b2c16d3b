"""A lean HTTP/1.1 server on httptools, for every port Lamina serves.

A general framework costs ~150 µs per request, and an invocation crosses HTTP three times (Invoke,
then `/next` and `/response` for HTTP runtimes), so this speaks just enough HTTP/1.1: keep-alive,
Content-Length and chunked request bodies, `Expect: 100-continue`, pipelined requests answered in
order, and reads paused while a connection has a backlog.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import cast

import httptools

# The Runtime API's bodies are at most 6 MB of response plus framing.
DEFAULT_MAX_BODY = 7 * 1024 * 1024
# Pipelined requests beyond this many wait in the socket buffer instead of in memory.
_MAX_QUEUED = 8
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


_REASONS = {status.value: status.phrase for status in HTTPStatus}


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


@dataclass(frozen=True, slots=True)
class LeanResponse:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json"  # None: `headers` carries it, or there is none
    headers: tuple[tuple[str, str], ...] = ()
    # Sent chunked as it is produced (event streams) instead of `body`.
    stream: AsyncIterator[bytes] | None = None

    def encode(self) -> bytes:
        """The whole response, or only its head when it streams."""
        reason = _REASONS.get(self.status, "Unknown")
        head = f"HTTP/1.1 {self.status} {reason}\r\n"
        if self.content_type is not None:
            head += f"Content-Type: {self.content_type}\r\n"
        if self.stream is not None:
            head += "Transfer-Encoding: chunked\r\n"
        else:
            head += f"Content-Length: {len(self.body)}\r\n"
        for name, value in self.headers:
            head += f"{name}: {value}\r\n"
        return (head + "\r\n").encode("latin-1") + self.body


Handler = Callable[[LeanRequest], Awaitable[LeanResponse]]


class LeanHttpProtocol(asyncio.Protocol):
    """One connection. The handler may wait (a parked `/next`, an invocation); requests queue meanwhile."""

    def __init__(
        self,
        handler: Handler,
        on_connection_lost: Callable[[LeanHttpProtocol], None] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self._handler = handler
        self._on_connection_lost = on_connection_lost
        self._max_body = max_body
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._current: LeanRequest | None = None
        self._body: list[bytes] = []
        self._body_size = 0
        self._url = b""
        self._queue: list[LeanRequest] = []
        self._task: asyncio.Task[None] | None = None
        self._paused = False
        self._peer: tuple[str, int] | None = None
        self._local: tuple[str, int] | None = None

    @property
    def busy(self) -> bool:
        """A request is being handled or waits its turn (shutdown lets these finish)."""
        return bool(self._queue) or (self._task is not None and not self._task.done())

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
        except httptools.HttpParserUpgrade:
            self._respond_and_close(
                LeanResponse(400, b'{"errorMessage":"protocol upgrades are not supported"}')
            )
        except httptools.HttpParserError:
            self._respond_and_close(LeanResponse(400, b'{"errorMessage":"bad request"}'))

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._queue.clear()
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
        headers = self._current.headers
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        # A repeated header is one value, joined with "," (RFC 9110; SigV4 signs it that way).
        headers[key] = f"{headers[key]},{text}" if key in headers else text

    def on_headers_complete(self) -> None:
        assert self._current is not None
        if self._current.headers.get("expect", "").lower() == "100-continue" and self._transport is not None:
            self._transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size <= self._max_body:
            self._body.append(body)
        else:
            self._body = []

    def on_message_complete(self) -> None:
        request = self._current
        assert request is not None
        request.method = self._parser.get_method().decode("latin-1")
        url = self._url
        question = url.find(b"?")
        if question >= 0:
            request.path = url[:question].decode("latin-1")
            request.query_string = url[question + 1 :].split(b"#", 1)[0].decode("latin-1")
        else:
            request.path = url.split(b"#", 1)[0].decode("latin-1")
        # llhttp resets its per-message flags after this callback: read keep-alive now.
        request.keep_alive = self._parser.should_keep_alive()
        request.body_too_large = self._body_size > self._max_body
        request.body = b"" if request.body_too_large else b"".join(self._body)
        self._body = []
        self._queue.append(request)
        if len(self._queue) >= _MAX_QUEUED and self._transport is not None and not self._paused:
            self._transport.pause_reading()
            self._paused = True
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
            if response.stream is not None and not await self._write_stream(response.stream):
                return
            if not request.keep_alive:
                self._transport.close()
                return
            if self._paused and len(self._queue) < _MAX_QUEUED:
                self._paused = False
                self._transport.resume_reading()

    async def _write_stream(self, stream: AsyncIterator[bytes]) -> bool:
        """Send a streamed body as chunks until it ends or the client goes; False if it went."""
        try:
            async for chunk in stream:
                if self._transport is None or self._transport.is_closing():
                    return False
                if chunk:
                    self._transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            if self._transport is None:
                return False
            self._transport.write(b"0\r\n\r\n")
            return True
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _respond_and_close(self, response: LeanResponse) -> None:
        if self._transport is not None:
            self._transport.write(response.encode())
            self._transport.close()
            self._transport = None
