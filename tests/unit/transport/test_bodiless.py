"""Responses that carry no body on the wire (HEAD, 204, 304) and bodies announced past the limit.

A body where none belongs is read by the client as the start of the next response on the
connection; a body announced past the limit is answered at once, not after reading it all."""

from __future__ import annotations

import asyncio

from tests.unit.transport.harness import SMALL, closed, connect, read_response, serving

from lamina.transport.http11 import LeanRequest, LeanResponse


async def by_path(request: LeanRequest) -> LeanResponse:
    if request.path == "/204":
        return LeanResponse(204, b"must not be sent")
    if request.path == "/304":
        return LeanResponse(304, b"must not be sent")
    if request.body_too_large:
        return LeanResponse(413, b'{"message":"too large"}')
    return LeanResponse(200, b"hello", content_type="text/plain")


def test_head_204_and_304_send_no_body_and_the_next_response_is_intact() -> None:
    async def scenario() -> list[tuple[int, str | None, str | None, bytes]]:
        async with serving(by_path) as listener:
            reader, writer = await connect(listener)
            writer.write(
                b"HEAD /any HTTP/1.1\r\nHost: h\r\n\r\n"
                b"GET /204 HTTP/1.1\r\nHost: h\r\n\r\n"
                b"GET /304 HTTP/1.1\r\nHost: h\r\n\r\n"
                b"GET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
            )
            seen = []
            for _ in range(4):
                head = await reader.readuntil(b"\r\n\r\n")
                lines = {
                    line.split(b":", 1)[0].lower(): line.split(b":", 1)[1].strip().decode()
                    for line in head.split(b"\r\n")[1:]
                    if b":" in line
                }
                status = int(head.split(b" ", 2)[1])
                seen.append((status, lines.get(b"content-length"), lines.get(b"transfer-encoding"), b""))
            rest = await reader.read()
            writer.close()
            seen[-1] = (*seen[-1][:3], rest)
            return seen

    seen = asyncio.run(asyncio.wait_for(scenario(), 10))
    # HEAD announces what GET would send, and sends none of it; 204 and 304 have no framing at all.
    assert seen[0][:3] == (200, "5", None)
    assert seen[1][:3] == (204, None, None)
    assert seen[2][:3] == (304, None, None)
    # The last GET's body, and nothing of the bodies that must not be sent.
    assert seen[3] == (200, "5", None, b"hello")


def test_a_body_announced_past_the_limit_is_answered_at_once_and_the_connection_ends() -> None:
    async def scenario() -> tuple[int, bytes, bool]:
        async with serving(by_path) as listener:
            reader, writer = await connect(listener)
            # 100 GB announced, 10 bytes sent: the answer must not wait for the rest (nor for the
            # body timeout, 0.3 s here: the handler's 413 proves who answered).
            writer.write(b"PUT /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999\r\n\r\n0123456789")
            response = await read_response(reader)
            writer.write(b"more body that nobody reads" * 100)
            was_closed = await closed(reader)
            writer.close()
            return response.status, response.body, was_closed

    status, body, was_closed = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert (status, body, was_closed) == (413, b'{"message":"too large"}', True)


def test_a_body_within_the_limit_is_still_read_whole() -> None:
    async def scenario() -> int:
        async with serving(by_path) as listener:
            reader, writer = await connect(listener)
            body = b"x" * SMALL.max_body_bytes
            writer.write(b"PUT /u HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body))
            status = (await read_response(reader)).status
            writer.close()
            return status

    assert asyncio.run(asyncio.wait_for(scenario(), 10)) == 200
