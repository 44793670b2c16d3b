"""What leaves the server: responses that would split or break the wire are refused, handler
failures are logged and answered 500, and a streamed response waits for a slow reader."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import TypeVar, cast

import pytest
from tests.unit.transport.harness import SMALL, connect, read_response, serving

from lamina.transport.http11 import InvalidResponse, LeanRequest, LeanResponse
from lamina.transport.limits import HttpLimits

T = TypeVar("T")


def reading(writer: asyncio.StreamWriter) -> asyncio.Transport:
    """The client's transport, to stop and restart reading as a slow client would."""
    return cast(asyncio.Transport, writer.transport)


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), 10)

    return asyncio.run(bounded())


def answer(response: LeanResponse | Exception) -> tuple[int, bytes, bytes]:
    """(status, head, body) the client gets when the handler returns (or raises) `response`."""

    async def handler(request: LeanRequest) -> LeanResponse:
        if isinstance(response, Exception):
            raise response
        return response

    async def scenario() -> tuple[int, bytes, bytes]:
        async with serving(handler) as listener:
            reader, writer = await connect(listener)
            writer.write(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            got = await read_response(reader)
            writer.close()
            return got.status, got.head, got.body

    return run(scenario)


@pytest.mark.parametrize(
    "response",
    [
        LeanResponse(200, headers=(("X-A", "1\r\nX-Injected: yes"), ("Content-Length", "0"))),
        LeanResponse(200, headers=(("X-A\r\nX-Injected", "yes"),)),
        LeanResponse(200, headers=(("X-A", "1\nX-Injected: yes"),)),
        LeanResponse(200, headers=(("X-A", "nul\0"),)),
        LeanResponse(200, content_type="text/plain\r\nX-Injected: yes"),
        LeanResponse(200, headers=(("X-A", "snow ☃"),)),
        LeanResponse(700),
        LeanResponse(99),
    ],
)
def test_a_response_that_cannot_be_sent_safely_is_refused(response: LeanResponse) -> None:
    with pytest.raises(InvalidResponse):
        response.encode()


def test_safe_responses_encode_as_before() -> None:
    response = LeanResponse(201, b"{}", headers=(("X-A", "caf\u00e9"),))
    assert response.encode() == (
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
        b"X-A: caf\xe9\r\n\r\n{}"
    )


def test_response_splitting_reaches_the_client_as_a_500(caplog: pytest.LogCaptureFixture) -> None:
    """The issue's header: no injected line, no second Content-Length on the wire."""
    injected = LeanResponse(200, headers=(("X-A", "1\r\nX-Injected: yes"), ("Content-Length", "0")))
    with caplog.at_level(logging.ERROR, logger="lamina.transport.http11"):
        status, head, body = answer(injected)
    assert status == 500 and b"X-Injected" not in head
    assert json.loads(body)["__type"] == "ServiceException"
    assert "CR, LF or NUL" in caplog.text


def test_a_header_outside_latin_1_is_a_500_not_a_hang(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="lamina.transport.http11"):
        status, _, _ = answer(LeanResponse(200, headers=(("X-A", "snow ☃"),)))
    assert status == 500 and "Latin-1" in caplog.text


def test_a_handler_exception_is_logged_with_its_traceback_and_answered_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="lamina.transport.http11"):
        status, head, body = answer(RuntimeError("kaboom"))
    assert status == 500 and b"X-Amzn-ErrorType: ServiceException" in head
    assert json.loads(body) == {
        "__type": "ServiceException",
        "message": "An internal error occurred; the request was not completed.",
    }
    record = next(record for record in caplog.records if record.exc_info)
    assert record.exc_info is not None and "kaboom" in str(record.exc_info[1])
    assert "GET /" in record.getMessage()


def test_a_streamed_response_waits_for_a_slow_reader() -> None:
    """The producer stops once the send buffer is full, and goes on as the client reads; without
    back-pressure it would produce (and the server buffer) without end."""
    produced = 0
    chunk = b"x" * 65536

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal produced
        while produced < 4096:  # 256 MiB: far beyond any socket buffer
            produced += 1
            yield chunk

    async def handler(request: LeanRequest) -> LeanResponse:
        return LeanResponse(200, stream=chunks())

    async def stalls() -> int:
        """How many chunks were produced once production stopped."""
        last = -1
        while produced != last:
            last = produced
            await asyncio.sleep(0.2)
        return produced

    async def scenario() -> tuple[int, int]:
        async with serving(handler, replace(SMALL, write_buffer_bytes=65536, idle_timeout=None)) as listener:
            reader, writer = await connect(listener)
            reading(writer).pause_reading()  # a client that reads nothing
            writer.write(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            stalled_at = await stalls()
            reading(writer).resume_reading()
            for _ in range(64):  # read about 4 MiB more
                await reader.read(65536)
            await asyncio.sleep(0.2)
            writer.close()
            return stalled_at, produced

    stalled_at, later = run(scenario)
    assert stalled_at < 4096 and later > stalled_at


def test_a_client_that_never_reads_is_dropped_after_the_send_timeout() -> None:
    closed_stream = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"x" * 65536
        finally:
            closed_stream.set()

    async def handler(request: LeanRequest) -> LeanResponse:
        return LeanResponse(200, stream=chunks())

    async def scenario() -> bool:
        limits = HttpLimits(send_timeout=0.3, write_buffer_bytes=65536)
        async with serving(handler, limits) as listener:
            _, writer = await connect(listener)
            reading(writer).pause_reading()
            writer.write(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            await closed_stream.wait()  # the stream is closed once the connection is dropped
            writer.close()
            return True

    assert run(scenario)


def test_pipelined_responses_wait_for_a_slow_reader() -> None:
    """Responses to pipelined requests are not piled up in memory for a client that reads none."""
    handled = 0

    async def large(request: LeanRequest) -> LeanResponse:
        nonlocal handled
        handled += 1
        return LeanResponse(200, b"x" * (1024 * 1024), content_type="text/plain")

    async def scenario() -> int:
        async with serving(large, replace(SMALL, write_buffer_bytes=65536, idle_timeout=None)) as listener:
            _, writer = await connect(listener)
            reading(writer).pause_reading()
            writer.write(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n" * 50)
            last = -1
            while handled != last:  # until the server stops handling
                last = handled
                await asyncio.sleep(0.2)
            writer.close()
            return handled

    assert run(scenario) < 50


def test_a_client_that_half_closes_still_gets_its_answer() -> None:
    async def slow(request: LeanRequest) -> LeanResponse:
        await asyncio.sleep(0.1)
        return LeanResponse(200, b"late", content_type="text/plain")

    async def scenario() -> tuple[int, bytes, bytes]:
        async with serving(slow) as listener:
            reader, writer = await connect(listener)
            writer.write(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            writer.write_eof()
            response = await read_response(reader)
            rest = await reader.read()  # the server closes once it has answered
            writer.close()
            return response.status, response.body, rest

    assert run(scenario) == (200, b"late", b"")
