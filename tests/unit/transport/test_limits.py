"""Each size and time limit of the lean HTTP server, over a real loopback socket: what the client
gets at the limit, and that the connection does not stay open."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

import pytest
from tests.unit.transport.harness import SMALL, closed, connect, read_response, serving

from lamina.transport.http11 import LeanRequest, LeanResponse
from lamina.transport.limits import RUNTIME_API_LIMITS, HttpLimits

T = TypeVar("T")


async def echo(request: LeanRequest) -> LeanResponse:
    return LeanResponse(200, request.path.encode(), content_type="text/plain")


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), 10)

    return asyncio.run(bounded())


def exchange(request: bytes, limits: HttpLimits = SMALL) -> tuple[int, bytes, bool]:
    """(status, body, whether the server then closed) for one raw request."""

    async def scenario() -> tuple[int, bytes, bool]:
        async with serving(echo, limits) as listener:
            reader, writer = await connect(listener)
            writer.write(request)
            response = await read_response(reader)
            was_closed = await closed(reader)
            writer.close()
            return response.status, response.body, was_closed

    return run(scenario)


def test_a_request_target_over_the_limit_gets_414_and_the_connection_closes() -> None:
    status, _, was_closed = exchange(b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: h\r\n\r\n")
    assert (status, was_closed) == (414, True)


def test_a_request_target_at_the_limit_is_served() -> None:
    path = b"/" + b"a" * 255
    status, body, _ = exchange(b"GET " + path + b" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    assert (status, body) == (200, path)


def test_headers_over_the_size_limit_get_431() -> None:
    headers = b"".join(b"X-%d: %s\r\n" % (index, b"v" * 200) for index in range(6))
    status, _, was_closed = exchange(b"GET / HTTP/1.1\r\n" + headers + b"\r\n")
    assert (status, was_closed) == (431, True)


def test_too_many_headers_get_431() -> None:
    headers = b"".join(b"X-%d: v\r\n" % index for index in range(11))
    status, _, was_closed = exchange(b"GET / HTTP/1.1\r\n" + headers + b"\r\n")
    assert (status, was_closed) == (431, True)


def test_a_huge_header_is_refused_before_it_is_all_sent() -> None:
    """The issue's 32 MiB header: refused with 431 after the first reads, not buffered whole."""

    async def scenario() -> int:
        async with serving(echo, HttpLimits()) as listener:
            reader, writer = await connect(listener)
            writer.write(b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: ")
            chunk = b"v" * 65536
            sent = 0
            try:
                while sent < 32 * 1024 * 1024:
                    writer.write(chunk)
                    sent += len(chunk)
                    await writer.drain()
            except ConnectionError:
                pass  # the server refused and closed while we were still sending
            response = await read_response(reader)
            writer.close()
            return response.status

    assert run(scenario) == 431


def test_a_stalled_head_gets_408_and_the_connection_closes() -> None:
    status, _, was_closed = exchange(b"GET / HTTP/1.1\r\nHost: h\r\n")
    assert (status, was_closed) == (408, True)


def test_a_body_that_never_comes_gets_408() -> None:
    """A request that announces a body and never sends it no longer waits forever."""
    status, _, was_closed = exchange(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nab")
    assert (status, was_closed) == (408, True)


def test_a_body_trickled_below_the_minimum_rate_gets_408() -> None:
    """A byte every 0.1 s never leaves a 0.3 s gap, but averages 10 bytes/s, under the floor."""
    limits = replace(SMALL, min_body_rate=100)

    async def scenario() -> tuple[int, int]:
        async with serving(echo, limits) as listener:
            reader, writer = await connect(listener)
            writer.write(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n")
            answered = asyncio.ensure_future(read_response(reader))
            sent = 0
            while not answered.done() and sent < 1000:
                writer.write(b"x")
                sent += 1
                await asyncio.sleep(0.1)
            response = await answered
            writer.close()
            return response.status, sent

    status, sent = run(scenario)
    assert status == 408 and sent < 1000


def test_an_idle_keep_alive_connection_is_closed() -> None:
    async def scenario() -> tuple[int, bool]:
        async with serving(echo) as listener:
            reader, writer = await connect(listener)
            writer.write(b"GET /one HTTP/1.1\r\nHost: h\r\n\r\n")
            response = await read_response(reader)
            was_closed = await closed(reader)  # returns only once the idle timeout closed it
            writer.close()
            return response.status, was_closed

    assert run(scenario) == (200, True)


def test_a_connection_that_never_sends_is_closed() -> None:
    async def scenario() -> bool:
        async with serving(echo) as listener:
            reader, writer = await connect(listener)
            was_closed = await closed(reader)
            writer.close()
            return was_closed

    assert run(scenario)


def test_a_slow_handler_is_not_timed_out() -> None:
    """Timeouts are the client's: a request in flight (an invocation, a parked /next) may take as
    long as its handler needs, longer than every timeout."""

    async def slow(request: LeanRequest) -> LeanResponse:
        await asyncio.sleep(1.0)
        return LeanResponse(200, b"done", content_type="text/plain")

    async def scenario() -> tuple[int, bytes]:
        async with serving(slow) as listener:
            reader, writer = await connect(listener)
            writer.write(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            response = await read_response(reader)
            writer.close()
            return response.status, response.body

    assert run(scenario) == (200, b"done")


def test_a_body_over_the_limit_is_flagged_for_the_handler() -> None:
    seen: list[LeanRequest] = []

    async def record(request: LeanRequest) -> LeanResponse:
        seen.append(request)
        return LeanResponse(413 if request.body_too_large else 200, b"{}")

    async def scenario() -> int:
        async with serving(record) as listener:
            reader, writer = await connect(listener)
            writer.write(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000\r\n\r\n" + b"x" * 2000)
            response = await read_response(reader)
            writer.close()
            return response.status

    assert run(scenario) == 413
    assert seen[0].body_too_large and seen[0].body == b""


@pytest.mark.parametrize("limits", [HttpLimits(), RUNTIME_API_LIMITS])
def test_defaults_are_safe(limits: HttpLimits) -> None:
    assert limits.max_header_bytes <= 64 * 1024 and limits.max_url_bytes <= 64 * 1024
    assert limits.header_timeout is not None and limits.header_timeout <= 30
    assert limits.body_timeout is not None and limits.body_timeout <= 30
    assert limits.max_connections is not None


def test_the_runtime_api_keeps_idle_connections_and_takes_a_6_mb_response() -> None:
    assert RUNTIME_API_LIMITS.idle_timeout is None
    assert RUNTIME_API_LIMITS.max_body_bytes >= 6 * 1024 * 1024 + 1024


def test_a_runtime_connection_outlives_the_public_idle_timeout() -> None:
    """With the Runtime API's limits, an idle connection stays open for the runtime's next call."""
    limits = replace(RUNTIME_API_LIMITS, header_timeout=0.2, body_timeout=0.2)

    async def scenario() -> tuple[int, int]:
        async with serving(echo, limits) as listener:
            reader, writer = await connect(listener)
            writer.write(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
            first = await read_response(reader)
            await asyncio.sleep(0.6)  # three times every timeout that is set
            writer.write(b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n")
            second = await read_response(reader)
            writer.close()
            return first.status, second.status

    assert run(scenario) == (200, 200)
