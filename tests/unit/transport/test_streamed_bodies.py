"""Request bodies streamed to their handler (`body_stream.py` through `http11.py`), over a real
loopback socket: the handler reads the body as it arrives, `100 Continue` waits for its first
read, an early answer ends the connection instead of hanging it, a client that goes away fails
the read, and reading the socket pauses while the handler does not keep up."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from tests.unit.transport.harness import Response, closed, connect, read_response

from lamina.transport.body_stream import HIGH_WATER, BodyStream
from lamina.transport.http11 import LeanRequest, LeanResponse
from lamina.transport.limits import HttpLimits
from lamina.transport.listener import HttpListener

# Timeouts long enough never to fire in these tests; buffered bodies small, to tell them apart.
LIMITS = HttpLimits(
    max_body_bytes=1024,
    header_timeout=10,
    body_timeout=10,
    idle_timeout=10,
    send_timeout=None,
    max_connections=100,
)
MIB = 1024 * 1024
T = TypeVar("T")


def streams_puts(request: LeanRequest) -> bool:
    return request.method == "PUT"


@contextlib.asynccontextmanager
async def serving(handler: Callable[[LeanRequest], Awaitable[LeanResponse]]) -> AsyncIterator[HttpListener]:
    listener = HttpListener(handler, LIMITS, streams=streams_puts)
    await listener.bind("127.0.0.1", 0)
    try:
        yield listener
    finally:
        listener.close()
        listener.close_connections()
        await asyncio.sleep(0.01)


def run(scenario: Callable[[], Awaitable[T]], timeout: float = 20) -> T:
    async def main() -> T:
        return await asyncio.wait_for(scenario(), timeout)

    return asyncio.run(main())


async def read_all(stream: BodyStream, sizes: list[int] | None = None) -> bytes:
    data = bytearray()
    while chunk := await stream.read():
        data += chunk
        if sizes is not None:
            sizes.append(len(chunk))
    return bytes(data)


async def digest_handler(request: LeanRequest) -> LeanResponse:
    """Reads a streamed body whole and answers its size and SHA-256."""
    if request.stream is None:
        return LeanResponse(200, b"buffered:" + request.body, content_type="text/plain")
    data = await read_all(request.stream)
    return LeanResponse(
        200, f"{len(data)}:{hashlib.sha256(data).hexdigest()}".encode(), content_type="text/plain"
    )


def head(path: str, length: int, *extra: str) -> bytes:
    lines = [f"PUT {path} HTTP/1.1", "Host: h", f"Content-Length: {length}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def body_of(size: int) -> bytes:
    return bytes(range(256)) * (size // 256) + bytes(size % 256)


async def maybe_response(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """Whatever the server sends within `timeout` (b"" if nothing)."""
    try:
        return await asyncio.wait_for(reader.read(65536), timeout)
    except TimeoutError:
        return b""


# --------------------------------------------------------------------------- reading


def test_streamed_put_is_read_by_the_handler_in_chunks() -> None:
    payload = body_of(3 * MIB + 17)
    seen: list[LeanRequest] = []
    sizes: list[int] = []

    async def handler(request: LeanRequest) -> LeanResponse:
        seen.append(request)
        assert request.stream is not None
        data = await read_all(request.stream, sizes)
        return LeanResponse(200, hashlib.sha256(data).hexdigest().encode(), content_type="text/plain")

    async def scenario() -> Response:
        async with serving(handler) as listener:
            reader, writer = await connect(listener)
            writer.write(head("/bucket/key", len(payload)) + payload)
            response = await read_response(reader)
            writer.close()
            return response

    response = run(scenario)
    assert response.status == 200
    assert response.body == hashlib.sha256(payload).hexdigest().encode()
    request = seen[0]
    assert request.body == b"" and not request.body_too_large  # well past max_body: not buffered
    assert request.stream is not None and request.stream.declared_length == len(payload)
    assert request.stream.finished
    assert len(sizes) > 1 and sum(sizes) == len(payload)


def test_streamed_chunked_body_and_the_connection_stays_usable() -> None:
    async def scenario() -> list[Response]:
        async with serving(digest_handler) as listener:
            reader, writer = await connect(listener)
            writer.write(
                b"PUT /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                + head("/b", 3)
                + b"abc"
                + b"POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
            )
            responses = [await read_response(reader) for _ in range(3)]
            writer.close()
            return responses

    first, second, third = run(scenario)
    assert first.body == f"11:{hashlib.sha256(b'hello world').hexdigest()}".encode()
    assert second.body == f"3:{hashlib.sha256(b'abc').hexdigest()}".encode()
    assert third.body == b"buffered:hi"  # the predicate said no: buffered as usual
    assert first.header("connection") is None


def test_chunked_stream_has_no_declared_length() -> None:
    lengths: list[int | None] = []

    async def handler(request: LeanRequest) -> LeanResponse:
        assert request.stream is not None
        lengths.append(request.stream.declared_length)
        await read_all(request.stream)
        return LeanResponse(200)

    async def scenario() -> None:
        async with serving(handler) as listener:
            reader, writer = await connect(listener)
            writer.write(
                b"PUT /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            )
            await read_response(reader)
            writer.close()

    run(scenario)
    assert lengths == [None]


# --------------------------------------------------------------------------- 100-continue


def test_continue_is_sent_only_when_the_handler_first_reads() -> None:
    go = asyncio.Event()

    async def handler(request: LeanRequest) -> LeanResponse:
        await go.wait()
        return await digest_handler(request)

    async def scenario() -> tuple[bytes, bytes, Response]:
        async with serving(handler) as listener:
            reader, writer = await connect(listener)
            writer.write(head("/bucket/key", 5, "Expect: 100-continue"))
            before = await maybe_response(reader, 0.3)  # the handler has not read yet
            go.set()
            interim = await reader.readuntil(b"\r\n\r\n")
            writer.write(b"hello")
            response = await read_response(reader)
            writer.close()
            return before, interim, response

    before, interim, response = run(scenario)
    assert before == b""
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert response.status == 200
    assert response.body == f"5:{hashlib.sha256(b'hello').hexdigest()}".encode()


def test_refused_without_reading_gets_no_continue_and_the_connection_closes() -> None:
    async def refuse(request: LeanRequest) -> LeanResponse:
        return LeanResponse(403, b'{"message":"denied"}')

    async def scenario() -> tuple[bytes, bool]:
        async with serving(refuse) as listener:
            reader, writer = await connect(listener)
            writer.write(head("/bucket/key", 10 * MIB, "Expect: 100-continue"))
            everything = await reader.read()  # until the server closes: never a hang
            writer.close()
            return everything, True

    everything, _ = run(scenario, timeout=10)
    assert everything.startswith(b"HTTP/1.1 403 ")
    assert b"100 Continue" not in everything
    status_and_headers, _, body = everything.partition(b"\r\n\r\n")
    assert b"\r\nConnection: close\r\n" in status_and_headers + b"\r\n"
    assert body == b'{"message":"denied"}'


def test_early_answer_mid_body_is_sent_and_the_connection_closed() -> None:
    # No Expect: the client is already sending the body when the handler answers without reading.
    async def refuse(request: LeanRequest) -> LeanResponse:
        return LeanResponse(404, b'{"message":"no such bucket"}')

    async def scenario() -> tuple[Response, bool]:
        async with serving(refuse) as listener:
            reader, writer = await connect(listener)
            writer.write(head("/bucket/key", 50 * MIB) + b"x" * 65536)
            response = await read_response(reader)
            # The rest of the announced body is still coming; the server must not wait for it.
            for _ in range(4):
                writer.write(b"y" * 65536)
            ended = await closed(reader)
            writer.close()
            return response, ended

    response, ended = run(scenario, timeout=10)
    assert response.status == 404
    assert response.header("connection") == "close"
    assert ended


def test_partly_read_then_answered_closes_the_connection() -> None:
    async def partial(request: LeanRequest) -> LeanResponse:
        assert request.stream is not None
        first = await request.stream.read()
        return LeanResponse(400, f'{{"read":{len(first)}}}'.encode())

    async def scenario() -> tuple[Response, bool]:
        async with serving(partial) as listener:
            reader, writer = await connect(listener)
            writer.write(head("/bucket/key", 4 * MIB) + b"z" * 1000)
            response = await read_response(reader)
            ended = await closed(reader)
            writer.close()
            return response, ended

    response, ended = run(scenario, timeout=10)
    assert response.status == 400 and response.header("connection") == "close"
    assert ended


# --------------------------------------------------------------------------- the client goes away

Outcome = asyncio.Future[BaseException | bytes]


async def record_read(stream: BodyStream, outcome: Outcome) -> None:
    """Read `stream` to its end into `outcome`, or the exception the read ended with."""
    try:
        outcome.set_result(await read_all(stream))
    except BaseException as error:
        outcome.set_result(error)
        raise


def reset(writer: asyncio.StreamWriter) -> None:
    """Drop the connection with a TCP reset (what a killed client or a network failure gives)."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def gone_mid_body(
    handler: Callable[[LeanRequest, Outcome], Awaitable[LeanResponse]],
    leave: Callable[[asyncio.StreamWriter], None],
) -> BaseException | bytes:
    """The outcome of the handler's read when the client leaves after 1000 of 100000 bytes."""
    outcome: Outcome = asyncio.get_running_loop().create_future()

    async def handle(request: LeanRequest) -> LeanResponse:
        return await handler(request, outcome)

    async with serving(handle) as listener:
        _, writer = await connect(listener)
        writer.write(head("/bucket/key", 100_000) + b"a" * 1000)
        await writer.drain()
        await asyncio.sleep(0.1)  # the handler is waiting for more
        leave(writer)
        # Well within LIMITS.body_timeout: the connection itself says the body will never come.
        try:
            return await asyncio.wait_for(outcome, 3)
        except TimeoutError:
            return TimeoutError("the read still waited 3 s after the client left")


async def reads_itself(request: LeanRequest, outcome: Outcome) -> LeanResponse:
    assert request.stream is not None
    await record_read(request.stream, outcome)
    return LeanResponse(200)


async def reads_in_a_task(request: LeanRequest, outcome: Outcome) -> LeanResponse:
    # A handler may hand the stream to a task of its own (a store writing the object).
    assert request.stream is not None
    task = asyncio.ensure_future(record_read(request.stream, outcome))
    with contextlib.suppress(BaseException):
        await asyncio.shield(task)
    return LeanResponse(200)


def test_client_reset_mid_body_fails_the_handlers_read_with_connection_error() -> None:
    result = run(lambda: gone_mid_body(reads_itself, reset))
    assert isinstance(result, ConnectionError), f"the handler's read ended with {result!r}"


def test_client_reset_mid_body_fails_a_read_in_another_task_with_connection_error() -> None:
    result = run(lambda: gone_mid_body(reads_in_a_task, reset))
    assert isinstance(result, ConnectionError), f"the read ended with {result!r}"


def test_client_closing_mid_body_fails_the_read_promptly() -> None:
    # A FIN before the announced length: no more of the body can ever arrive.
    result = run(lambda: gone_mid_body(reads_in_a_task, lambda writer: writer.close()))
    assert isinstance(result, ConnectionError), f"the read ended with {result!r}"


# --------------------------------------------------------------------------- back-pressure


def test_reading_pauses_while_the_handler_does_not_read() -> None:
    total = 48 * MIB  # more than every socket buffer between client and server can hold
    payload = body_of(total)
    go = asyncio.Event()
    streams: list[BodyStream] = []
    read_while_over: list[int] = []

    async def handler(request: LeanRequest) -> LeanResponse:
        assert request.stream is not None
        stream = request.stream
        streams.append(stream)
        first = await stream.read()  # start (as a real handler would), then stall
        await go.wait()
        # What the connection had queued when it paused: read until the buffer falls below the
        # low-water mark (reading resumes only then, so nothing new arrives meanwhile).
        held = 0
        while stream.over_high_water:
            held += len(await stream.read())
        read_while_over.append(held)
        rest = await read_all(stream)
        return LeanResponse(200, str(len(first) + held + len(rest)).encode(), content_type="text/plain")

    async def scenario() -> tuple[bool, bool, Response]:
        async with serving(handler) as listener:
            reader, writer = await connect(listener)
            writer.write(head("/bucket/key", total) + payload)
            try:
                await asyncio.wait_for(writer.drain(), 1.5)
                blocked = False
            except TimeoutError:
                blocked = True
            over = bool(streams) and streams[0].over_high_water
            go.set()
            await writer.drain()
            response = await read_response(reader)
            writer.close()
            return blocked, over, response

    blocked, over, response = run(scenario, timeout=60)
    assert blocked, "the client could send the whole body although the handler read nothing"
    assert over
    # At most one socket read (asyncio reads up to 256 KiB) past the high-water mark was queued.
    assert read_while_over[0] <= HIGH_WATER + 256 * 1024
    # Reading resumed once the handler caught up: the whole body arrived.
    assert response.status == 200
    assert int(response.body) == total


# --------------------------------------------------------------------------- streamed responses


def test_stream_with_a_length_is_sent_with_content_length_not_chunked() -> None:
    parts = [b"abc", b"", b"defgh", b"ij"]

    async def chunks() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    async def handler(request: LeanRequest) -> LeanResponse:
        return LeanResponse(200, content_type="binary/octet-stream", stream=chunks(), length=10)

    async def scenario() -> tuple[Response, Response]:
        async with serving(handler) as listener:
            reader, writer = await connect(listener)
            writer.write(b"GET /bucket/key HTTP/1.1\r\nHost: h\r\n\r\nGET /again HTTP/1.1\r\nHost: h\r\n\r\n")
            first = await read_response(reader)
            second = await read_response(reader)  # the connection survived: framing was exact
            writer.close()
            return first, second

    first, second = run(scenario)
    assert first.header("content-length") == "10"
    assert first.header("transfer-encoding") is None
    assert first.body == b"abcdefghij"
    assert second.body == b"abcdefghij"


class Unsent:
    """A response body that records whether it was closed; it must never be iterated."""

    def __init__(self) -> None:
        self.closed = False

    def __aiter__(self) -> Unsent:
        return self

    async def __anext__(self) -> bytes:
        raise AssertionError("a HEAD answer's body was read")

    async def aclose(self) -> None:
        self.closed = True


def test_head_of_a_stream_with_a_length_announces_it_and_sends_nothing() -> None:
    bodies: list[Unsent] = []

    async def handler(request: LeanRequest) -> LeanResponse:
        bodies.append(Unsent())
        return LeanResponse(200, content_type=None, stream=bodies[-1], length=12345)

    async def scenario() -> tuple[bytes, bytes]:
        async with serving(handler) as listener:
            reader, writer = await connect(listener)
            writer.write(b"HEAD /bucket/key HTTP/1.1\r\nHost: h\r\n\r\nHEAD /x HTTP/1.1\r\nHost: h\r\n\r\n")
            head_only = await reader.readuntil(b"\r\n\r\n")
            # The next response follows at once: no body bytes of the first HEAD answer in between.
            after = await reader.readuntil(b"\r\n\r\n")
            writer.close()
            return head_only, after

    head_only, after = run(scenario)
    assert head_only.startswith(b"HTTP/1.1 200 ")
    assert b"Content-Length: 12345\r\n" in head_only
    assert after.startswith(b"HTTP/1.1 200 ")
    assert [body.closed for body in bodies] == [True, True]  # closed, not leaked
