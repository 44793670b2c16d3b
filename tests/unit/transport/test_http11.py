"""The lean HTTP/1.1 server over a real loopback socket: request parsing, pipelining, 100-continue
and the body limit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from lamina.transport.http11 import LeanHttpProtocol, LeanRequest, LeanResponse

T = TypeVar("T")


def with_server(
    scenario: Callable[[asyncio.StreamReader, asyncio.StreamWriter, list[LeanRequest]], Awaitable[T]],
    max_body: int = 1024,
) -> T:
    async def main() -> T:
        seen: list[LeanRequest] = []

        async def handle(request: LeanRequest) -> LeanResponse:
            seen.append(request)
            return LeanResponse(200, request.path.encode(), content_type="text/plain")

        server = await asyncio.get_running_loop().create_server(
            lambda: LeanHttpProtocol(handle, max_body=max_body), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await asyncio.wait_for(scenario(reader, writer, seen), 5)
        finally:
            writer.close()
            server.close()

    return asyncio.run(main())


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return status, await reader.readexactly(length)


def test_path_query_and_repeated_headers() -> None:
    async def scenario(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[LeanRequest]
    ) -> LeanRequest:
        writer.write(
            b"POST /a%2Fb/c?x=1&y=%20#frag HTTP/1.1\r\nHost: h\r\nX-Thing: one\r\nx-thing: two\r\n"
            b"Content-Length: 3\r\n\r\nabc"
        )
        await read_response(reader)
        return seen[0]

    request = with_server(scenario)
    assert (request.method, request.path, request.query_string) == ("POST", "/a%2Fb/c", "x=1&y=%20")
    assert request.headers["x-thing"] == "one,two"
    assert request.body == b"abc" and not request.body_too_large


def test_pipelined_requests_are_answered_in_order() -> None:
    async def scenario(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[LeanRequest]
    ) -> list[bytes]:
        writer.write(b"".join(f"GET /{index} HTTP/1.1\r\nHost: h\r\n\r\n".encode() for index in range(20)))
        return [(await read_response(reader))[1] for _ in range(20)]

    assert with_server(scenario) == [f"/{index}".encode() for index in range(20)]


def test_expect_continue_is_answered_before_the_body_is_sent() -> None:
    async def scenario(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[LeanRequest]
    ) -> tuple[bytes, tuple[int, bytes]]:
        writer.write(b"PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        interim = await reader.readuntil(b"\r\n\r\n")
        writer.write(b"ok")
        return interim, await read_response(reader)

    interim, final = with_server(scenario)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert final == (200, b"/up")


def test_a_body_over_the_limit_is_dropped_and_flagged() -> None:
    async def scenario(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[LeanRequest]
    ) -> LeanRequest:
        writer.write(b"POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 2000\r\n\r\n" + b"x" * 2000)
        await read_response(reader)
        return seen[0]

    request = with_server(scenario, max_body=1024)
    assert request.body_too_large and request.body == b""


def test_a_request_that_asks_to_close_is_answered_with_connection_close_and_closed() -> None:
    async def scenario(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[LeanRequest]
    ) -> tuple[bytes, bytes]:
        writer.write(b"GET /bye HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        return head, await reader.read()  # the body, then the end of the connection

    head, rest = with_server(scenario)
    assert b"\r\nConnection: close\r\n" in head and rest == b"/bye"
