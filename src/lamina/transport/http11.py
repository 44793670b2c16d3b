"""A lean HTTP/1.1 server on httptools, for every port Lamina serves.

A general framework costs ~150 µs per request, and an invocation crosses HTTP three times (Invoke,
then `/next` and `/response` for HTTP runtimes), so this speaks just enough HTTP/1.1: keep-alive,
Content-Length and chunked request bodies, `Expect: 100-continue`, pipelined requests answered in
order, and reads paused while a connection has a backlog.

It is also the edge facing untrusted clients, so each connection is bounded (`limits.py`): the
request target, header block and body by size, the head and body by time, an idle keep-alive
connection by time, and what waits in the send buffer by the write high-water mark (a slow reader
makes the response wait instead of the server buffering it). One watchdog timer per connection
enforces every timeout: it is re-armed only when it fires, at most every `shortest_timeout`
seconds, so the hot path only notes a time (`loop.time()`) where a phase begins.

Nothing a handler does passes silently: an exception, or a response that cannot be encoded
safely, is logged with its traceback and answered 500 with an AWS-shaped body.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

import httptools

from lamina.transport.body_stream import BodyStream
from lamina.transport.limits import RUNTIME_API_MAX_BODY, HttpLimits
from lamina.transport.messages import (
    HandOff,
    InvalidResponse,
    LeanRequest,
    LeanResponse,
    encode_head,
    encode_request,
)

__all__ = [
    "DEFAULT_MAX_BODY",
    "INTERNAL_ERROR",
    "Handler",
    "InvalidResponse",
    "LeanHttpProtocol",
    "LeanRequest",
    "LeanResponse",
]

_log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = RUNTIME_API_MAX_BODY
# Pipelined requests beyond this many wait in the socket buffer instead of in memory.
_MAX_QUEUED = 8
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_CLOSE = (("Connection", "close"),)
# After a refusal, input is read and dropped this long before the connection closes.
_LINGER_SECONDS = 2.0


def _refusal(status: int, message: str) -> LeanResponse:
    """Refused before any handler saw the request: the same small body on every port."""
    return LeanResponse(status, b'{"errorMessage":"%s"}' % message.encode(), headers=_CLOSE)


_BAD_REQUEST = _refusal(400, "bad request")
_NO_UPGRADE = _refusal(400, "protocol upgrades are not supported")
_TIMED_OUT = _refusal(408, "the request was not received in time")
_URL_TOO_LONG = _refusal(414, "the request target is too long")
_HEADERS_TOO_LARGE = _refusal(431, "the request headers are too large")
INTERNAL_ERROR = LeanResponse(
    500,
    b'{"__type":"ServiceException","message":"An internal error occurred; the request was not completed."}',
    headers=(("X-Amzn-ErrorType", "ServiceException"),),
)

Handler = Callable[[LeanRequest], Awaitable[LeanResponse]]
# Whether a request (its method, target and headers known, its body not yet read) is handed to the
# handler at once with its body streamed (`body_stream.py`) instead of buffered whole.
StreamsBody = Callable[[LeanRequest], bool]
# Whether a request (its head read) moves to another process before its body is read: the body
# then goes there straight from the socket instead of being buffered here first.
MovesEarly = Callable[[LeanRequest], HandOff | None]
# S3's largest single PUT: 5 GiB.
MAX_STREAMED_BODY = 5 * 1024**3


class _Refused(Exception):
    """Raised inside an httptools callback to stop parsing; httptools re-raises it wrapped."""

    def __init__(self, response: LeanResponse) -> None:
        super().__init__(response.status)
        self.response = response


class LeanHttpProtocol(asyncio.Protocol):
    """One connection. The handler may wait (a parked `/next`, an invocation); requests queue meanwhile.

    A request in flight is never timed out here: the handler decides how long it takes. Timeouts
    apply to the client: sending a request (`header_timeout`, `body_timeout`), reading a response
    (`send_timeout`), and keeping an unused connection (`idle_timeout`).
    """

    def __init__(
        self,
        handler: Handler,
        on_connection_lost: Callable[[LeanHttpProtocol], None] | None = None,
        max_body: int | None = None,
        limits: HttpLimits | None = None,
        streams: StreamsBody | None = None,
        moves_early: MovesEarly | None = None,
    ) -> None:
        limits = limits or HttpLimits(max_body_bytes=DEFAULT_MAX_BODY)
        self._streams = streams
        self._moves_early = moves_early
        # A request moving before its body arrived, and the body bytes read with its head.
        self._early: tuple[LeanRequest, HandOff] | None = None
        self._early_body: list[bytes] = []
        # The request whose body is being streamed to its handler, and whether reading waits for
        # that handler (its buffer is full) and since when.
        self._streaming: BodyStream | None = None
        self._stream_paused = False
        self._stream_paused_at = 0.0
        self._stream_expects_continue = False
        self._handler = handler
        self._on_connection_lost = on_connection_lost
        self._limits = limits
        self._max_body = limits.max_body_bytes if max_body is None else max_body
        # A header block streamed over several reads may not grow past this before we refuse it
        # (httptools buffers a header's value until it ends; this bounds that buffer).
        self._max_head = limits.max_url_bytes + limits.max_header_bytes + 1024
        self._tick = limits.shortest_timeout
        self._parser = httptools.HttpRequestParser(self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._current: LeanRequest | None = None
        self._body: list[bytes] = []
        self._body_size = 0
        self._url = b""
        self._header_count = 0
        self._header_bytes = 0
        self._head_streamed = 0
        self._queue: list[LeanRequest] = []
        self._task: asyncio.Task[None] | None = None
        self._paused = False
        self._peer: tuple[str, int] | None = None
        self._local: tuple[str, int] | None = None
        # Where the connection is: receiving a request (its head, then its body), or not.
        self._receiving = False
        self._head_done = False
        self._started = 0.0  # the current request's first byte
        self._last_read = 0.0  # its latest body byte
        self._body_started = 0.0  # when its headers were complete
        self._idle_since = 0.0  # the end of the latest response
        self._write_paused = False
        self._drain: asyncio.Future[None] | None = None
        self._drain_since = 0.0
        self._eof = False  # the client will send nothing more
        # A body announced past the limit: the request went to the handler without it, and what
        # still arrives is dropped unparsed until the connection closes.
        self._discarding = False
        self._lingering: asyncio.Transport | None = None  # refused, closing soon
        # Bytes another process read from this connection before handing it over (transport/
        # handoff.py): parsed first, as they came first, before anything still in the socket.
        self.handed_over: bytes = b""
        self._adopting = False

    @property
    def busy(self) -> bool:
        """A request is being handled or waits its turn (shutdown lets these finish)."""
        return bool(self._queue) or (self._task is not None and not self._task.done())

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses but implement its interface.
        self._transport = cast(asyncio.Transport, transport)
        self._transport.set_write_buffer_limits(high=self._limits.write_buffer_bytes)
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        self._peer = (peer[0], peer[1]) if isinstance(peer, tuple) else None
        self._local = (local[0], local[1]) if isinstance(local, tuple) else None
        self._loop = loop = asyncio.get_running_loop()
        self._idle_since = loop.time()
        if self._tick is not None:
            self._timer = loop.call_at(self._idle_since + self._tick, self._watch)
        if self.handed_over:
            data, self.handed_over = self.handed_over, b""
            self._adopting = True
            try:
                self.data_received(data)
            finally:
                self._adopting = False

    def data_received(self, data: bytes) -> None:
        if self._transport is None or self._discarding:
            return  # refused: lingering until the close
        in_head = self._receiving and not self._head_done
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            cause = error.__context__
            if isinstance(cause, _Refused):
                self._respond_and_close(cause.response)
            else:
                _log.error("unexpected error while reading a request", exc_info=cause)
                self._respond_and_close(INTERNAL_ERROR)
            return
        except httptools.HttpParserUpgrade:
            self._refuse_upgrade()
            return
        except httptools.HttpParserError:
            self._respond_and_close(_BAD_REQUEST)
            return
        if self._early is not None:
            self._start_early_move()
            return
        if in_head and self._receiving and not self._head_done:
            # This whole read belonged to a head that is still not complete.
            self._head_streamed += len(data)
            if self._head_streamed > self._max_head:
                self._respond_and_close(_HEADERS_TOO_LARGE)

    def eof_received(self) -> bool | None:
        # A client that half-closes after its requests still gets the answers; then we close.
        if self._streaming is not None:
            self._streaming.fail()  # the rest of that body will never come
        if not self.busy:
            return None
        self._eof = True
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = self._lingering = None
        streamed = self._streaming is not None
        if self._streaming is not None:
            # Its handler's read raises ConnectionError and the handler cleans up as it planned
            # (a partial upload discarded); it is not cancelled under its feet.
            self._streaming.fail()
            self._streaming = None
        self._queue.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        if self._task is not None and not self._task.done() and not streamed:
            self._task.cancel()
        if self._on_connection_lost is not None:
            self._on_connection_lost(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # httptools callbacks
    def on_message_begin(self) -> None:
        assert self._loop is not None
        self._current = LeanRequest("", "", peer=self._peer, local=self._local, handed_over=self._adopting)
        self._receiving = True
        self._head_done = False
        self._started = self._loop.time()
        self._body = []
        self._body_size = 0
        self._url = b""
        self._header_count = 0
        self._header_bytes = 0
        self._head_streamed = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self._limits.max_url_bytes:
            raise _Refused(_URL_TOO_LONG)

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self._current is not None
        self._header_count += 1
        self._header_bytes += len(name) + len(value)
        limits = self._limits
        if self._header_count > limits.max_header_count or self._header_bytes > limits.max_header_bytes:
            raise _Refused(_HEADERS_TOO_LARGE)
        headers = self._current.headers
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        # A repeated header is one value, joined with "," (RFC 9110; SigV4 signs it that way).
        headers[key] = f"{headers[key]},{text}" if key in headers else text

    def on_headers_complete(self) -> None:
        assert self._current is not None and self._loop is not None
        self._head_done = True
        self._last_read = self._body_started = self._loop.time()
        if self._moves_early is not None and not self._adopting and self._may_move_early(self._current):
            return
        if self._streams is not None:
            self._fill_target(self._current)
            if self._streams(self._current):
                self._start_stream(self._current)
                return
        declared = self._current.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_body:
            # Answer now rather than read (up to) the whole announced body first; the client is
            # not asked to continue, and the connection ends with this request.
            self._discarding = True
            self._body_size = int(declared)
            self._finish_request(keep_alive=False)
            return
        if self._current.headers.get("expect", "").lower() == "100-continue" and self._transport is not None:
            self._transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        if self._discarding:
            return
        assert self._loop is not None
        self._last_read = self._loop.time()
        if self._early is not None:
            self._early_body.append(body)
            return
        self._body_size += len(body)
        if self._streaming is not None:
            if self._body_size > MAX_STREAMED_BODY:  # only a chunked body can get here
                raise _Refused(_refusal(413, "the request body is too large"))
            if self._streaming.feed(body):
                self._pause_stream()
            return
        if self._body_size <= self._max_body:
            self._body.append(body)
        else:
            self._body = []

    def on_message_complete(self) -> None:
        if self._discarding:
            return
        if self._early is not None:
            # All of it arrived with the head after all: served (or moved) as any whole request.
            self._early = None
            self._body, self._early_body = self._early_body, []
            self._body_size = sum(len(piece) for piece in self._body)
            self._finish_request(self._parser.should_keep_alive())
            return
        stream = self._streaming
        if stream is not None:
            assert self._current is not None
            self._streaming = None
            self._receiving = False
            if self._current.keep_alive:  # not already ended by an early answer
                self._current.keep_alive = self._parser.should_keep_alive()
            stream.end()
            return
        self._finish_request(self._parser.should_keep_alive())

    # requests that move before their body arrives
    def _may_move_early(self, request: LeanRequest) -> bool:
        """Whether `request` moves now; only a request with a Content-Length (its body bytes are
        then the bytes on the wire) on a connection with nothing else in flight (a move now would
        overtake the answers still owed)."""
        assert self._moves_early is not None
        self._fill_target(request)
        headers = request.headers
        if not headers.get("content-length", "").isdigit() or "transfer-encoding" in headers or self.busy:
            return False
        move = self._moves_early(request)
        if move is None or move.send is None:
            return False
        self._early = (request, move)
        self._early_body = []
        return True

    def _start_early_move(self) -> None:
        assert self._early is not None and self._transport is not None
        request, move = self._early
        self._early = None
        prefix, self._early_body = b"".join(self._early_body), []
        self._transport.pause_reading()
        self._paused = True  # nothing more is read here; the watchdog leaves the client alone
        self._task = asyncio.get_running_loop().create_task(self._move_early(request, move, prefix))

    async def _move_early(self, request: LeanRequest, move: HandOff, prefix: bytes) -> None:
        transport = self._transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        taken = False
        if sock is not None and move.send is not None:
            try:
                taken = await move.send(os.dup(sock.fileno()), encode_head(request) + prefix)
            except OSError:
                taken = False
        if self._transport is None or transport is None:
            return
        self._task = None  # this task: the refusal below is the only answer owed
        if not taken:
            self._respond_and_close(move)
            return
        self._transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        transport.close()  # only our descriptor: the other process holds the connection now

    # streamed bodies
    def _start_stream(self, request: LeanRequest) -> None:
        """Queue `request` now, its body to follow through a BodyStream."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_STREAMED_BODY:
            self._discarding = True
            self._body_size = int(declared)
            self._finish_request(keep_alive=False)
            return
        self._stream_expects_continue = request.headers.get("expect", "").lower() == "100-continue"
        stream = BodyStream(
            int(declared) if declared.isdigit() else None, self._stream_started, self._stream_drained
        )
        request.stream = self._streaming = stream
        self._queue_request(request)

    def _stream_started(self) -> None:
        if self._stream_expects_continue and self._transport is not None:
            self._stream_expects_continue = False
            self._transport.write(_CONTINUE)

    def _pause_stream(self) -> None:
        if self._stream_paused or self._transport is None or self._loop is None:
            return
        self._stream_paused = True
        self._stream_paused_at = self._loop.time()
        self._transport.pause_reading()

    def _stream_drained(self) -> None:
        if not self._stream_paused or self._loop is None:
            return
        self._stream_paused = False
        now = self._loop.time()
        # The time reading waited for the handler was ours, not the client's.
        self._body_started += now - self._stream_paused_at
        self._last_read = now
        if self._transport is not None and not self._paused:
            self._transport.resume_reading()

    def _waiting_for_handler(self) -> bool:
        """The client is not sending because we are not reading (or have not asked it to go on)."""
        stream = self._streaming
        return stream is not None and (
            self._stream_paused or (not stream.started and self._stream_expects_continue)
        )

    def _fill_target(self, request: LeanRequest) -> None:
        request.method = self._parser.get_method().decode("latin-1")
        url = self._url
        question = url.find(b"?")
        if question >= 0:
            request.path = url[:question].decode("latin-1")
            request.query_string = url[question + 1 :].split(b"#", 1)[0].decode("latin-1")
        else:
            request.path = url.split(b"#", 1)[0].decode("latin-1")

    def _finish_request(self, keep_alive: bool) -> None:
        """The request is read (or as much of it as will be): queue it for the handler."""
        request = self._current
        assert request is not None
        self._receiving = False
        self._fill_target(request)
        # llhttp resets its per-message flags after on_message_complete: the caller read it there.
        request.keep_alive = keep_alive
        request.body_too_large = self._body_size > self._max_body
        request.body = b"" if request.body_too_large else b"".join(self._body)
        self._body = []
        self._queue_request(request)

    def _queue_request(self, request: LeanRequest) -> None:
        self._queue.append(request)
        if len(self._queue) >= _MAX_QUEUED and self._transport is not None and not self._paused:
            self._transport.pause_reading()
            self._paused = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._serve_queue())

    # serving
    async def _serve_queue(self) -> None:
        while self._queue and self._transport is not None:
            request = self._queue.pop(0)
            response = await self._respond_to(request)
            if request.stream is not None and not request.stream.ended:
                # Answered before its body was read: the rest of the body is dropped, and the
                # connection ends with this answer (what follows on the wire is still that body).
                request.keep_alive = False
                self._discarding = True
                self._streaming = None
                self._receiving = False
            if isinstance(response, HandOff) and await self._hand_off(request, response):
                return
            if self._transport is None:
                await _close_stream(response.stream)
                return
            with_body = response.has_body(request.method)
            try:
                head = response.encode(with_body)
            except InvalidResponse as error:
                _log.error("refused to send the response to %s %s: %s", request.method, request.path, error)
                await _close_stream(response.stream)
                response, head = INTERNAL_ERROR, INTERNAL_ERROR.encode(with_body)
            if not request.keep_alive:
                # Tell the client this connection ends here (RFC 9112 §9.6), after the status line.
                head = head.replace(b"\r\n", b"\r\nConnection: close\r\n", 1)
            self._transport.write(head)
            if response.stream is not None:
                if not with_body:
                    await _close_stream(response.stream)
                elif not await self._write_stream(response.stream, response.length):
                    return
            if not request.keep_alive:
                if self._discarding:
                    self._linger(self._transport)
                else:
                    self._transport.close()
                return
            if self._write_paused and not await self._drained():
                return
            if self._paused and len(self._queue) < _MAX_QUEUED:
                self._paused = False
                assert self._loop is not None
                # The time a request spent unread in the socket buffer was ours, not the client's.
                self._started = self._last_read = self._loop.time()
                if not self._stream_paused:
                    self._transport.resume_reading()
        if self._eof and self._transport is not None:
            self._transport.close()
        elif self._loop is not None:
            self._idle_since = self._loop.time()

    async def _respond_to(self, request: LeanRequest) -> LeanResponse:
        try:
            return await self._handler(request)
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("unhandled error serving %s %s", request.method, request.path)
            return INTERNAL_ERROR

    async def _hand_off(self, request: LeanRequest, hand_off: HandOff) -> bool:
        """Move the connection to the process `hand_off.send` reaches, with `request` and the
        requests queued after it re-encoded as its first bytes; False (the connection stays here)
        when part of a next request was already read, or the other process did not take it."""
        transport = self._transport
        if transport is None or hand_off.send is None or self._receiving or self._discarding:
            return False
        sock = transport.get_extra_info("socket")
        if sock is None:
            return False
        # Nothing more is read here from now on: every byte after these stays in the socket.
        transport.pause_reading()
        data = b"".join(encode_request(queued) for queued in (request, *self._queue))
        try:
            taken = await hand_off.send(os.dup(sock.fileno()), data)
        except OSError:
            taken = False
        if not taken or self._transport is None:
            if self._transport is not None and not self._paused:
                self._transport.resume_reading()
            return False
        self._queue.clear()
        self._transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        transport.close()  # the other process holds the connection now: this only drops our descriptor
        return True

    async def _write_stream(self, stream: AsyncIterator[bytes], length: int | None = None) -> bool:
        """Send a streamed body until it ends or the client goes; False if it went. Chunked, or
        as plain bytes when its `length` was announced (a stream that then gives more or fewer
        bytes ends the connection: the client could not tell where the body ends).

        Each chunk waits until the client has read enough of the previous ones (the transport's
        buffer under the high-water mark), so a slow reader slows the producer, not our memory."""
        sent = 0
        try:
            async for chunk in stream:
                if self._transport is None or self._transport.is_closing():
                    return False
                if chunk:
                    if length is None:
                        self._transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                    else:
                        sent += len(chunk)
                        if sent > length:
                            raise InvalidResponse(f"the body is longer than its length {length}")
                        self._transport.write(chunk)
                    if self._write_paused and not await self._drained():
                        return False
            if self._transport is None:
                return False
            if length is None:
                self._transport.write(b"0\r\n\r\n")
            elif sent != length:
                raise InvalidResponse(f"the body ended after {sent} of its {length} bytes")
            return True
        except asyncio.CancelledError:
            raise
        except Exception:
            # The head is out: the only way left to tell the client is an unterminated body.
            _log.exception("a streamed response failed midway")
            if self._transport is not None:
                self._transport.close()
            return False
        finally:
            await _close_stream(stream)

    async def _drained(self) -> bool:
        """Wait until the client has read the send buffer down; False if the connection went."""
        assert self._loop is not None
        self._drain = self._loop.create_future()
        self._drain_since = self._loop.time()
        try:
            await self._drain
        finally:
            self._drain = None
        return self._transport is not None

    # timeouts
    def _watch(self) -> None:
        """The connection's one timer: enforce whichever timeout applies now, then re-arm."""
        self._timer = None
        transport, loop, tick = self._transport, self._loop, self._tick
        if transport is None or loop is None or tick is None:
            return
        limits = self._limits
        now = loop.time()
        deadline: float | None = None
        if self._drain is not None:
            if limits.send_timeout is not None:
                deadline = self._drain_since + limits.send_timeout
                if now >= deadline:
                    transport.abort()  # what is buffered will never be read
                    return
        elif self._receiving and not self._paused and not self._waiting_for_handler():
            deadline = self._receive_deadline()
            if deadline is not None and now >= deadline:
                self._respond_and_close(_TIMED_OUT)
                return
        elif not self.busy and not self._receiving and limits.idle_timeout is not None:
            deadline = self._idle_since + limits.idle_timeout
            if now >= deadline:
                transport.close()
                return
        # Waking at least every `tick` means a deadline set later is never earlier than this timer.
        wake = now + tick if deadline is None else min(deadline, now + tick)
        self._timer = loop.call_at(wake, self._watch)

    def _receive_deadline(self) -> float | None:
        """When the request being received times out: its head `header_timeout` after its first
        byte; its body `body_timeout` after the latest byte, or sooner when it averages less than
        `min_body_rate` beyond its first `body_timeout`."""
        limits = self._limits
        if not self._head_done:
            return None if limits.header_timeout is None else self._started + limits.header_timeout
        if limits.body_timeout is None:
            return None
        deadline = self._last_read + limits.body_timeout
        if limits.min_body_rate:
            floor = self._body_started + limits.body_timeout + self._body_size / limits.min_body_rate
            deadline = min(deadline, floor)
        return deadline

    def close(self) -> None:
        for transport in (self._transport, self._lingering):
            if transport is not None:
                transport.close()

    def _refuse_upgrade(self) -> None:
        """A protocol upgrade (WebSocket, h2c) is not offered. A request complete before it (a GET
        with `Upgrade:`) is answered as if it had not asked, and the connection then ends: what
        follows it on the wire is in the other protocol. Anything else gets 400."""
        if self._queue and not self._receiving:
            self._queue[-1].keep_alive = False
            self._discarding = True  # nothing more is parsed on this connection
            if self._transport is not None and not self._paused:
                self._transport.pause_reading()
                self._paused = True
            return
        self._respond_and_close(_NO_UPGRADE)

    def _respond_and_close(self, response: LeanResponse) -> None:
        """Refuse the request being received, and close.

        With earlier requests still being answered, a response now would overtake theirs, so the
        connection just closes. Otherwise the refusal is sent, our side is shut, and what the
        client still sends is read and dropped for a moment before closing: closing with unread
        input makes the kernel send a reset, which can destroy the refusal before it is read."""
        transport = self._transport
        if transport is None:
            return
        self._transport = None
        self._receiving = False
        if self.busy or not transport.can_write_eof():
            transport.close()
            return
        transport.write(response.encode())
        self._linger(transport)

    def _linger(self, transport: asyncio.Transport) -> None:
        """Shut our side, drop what the client still sends for a moment, then close."""
        self._transport = None
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self._lingering = transport
        asyncio.get_running_loop().call_later(_LINGER_SECONDS, transport.close)


async def _close_stream(stream: AsyncIterator[bytes] | None) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()
